"""A small SQLite catalog for ``dev`` mode and the quickstart.

It has what a real catalog has: primary and foreign keys, a composite key,
unique constraints, indexes, a view, defaults and nullable columns.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SAMPLE_DDL = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE categories (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES categories(id), name TEXT NOT NULL);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    category_id INTEGER NOT NULL REFERENCES categories(id),
    sku VARCHAR(32) NOT NULL,
    price NUMERIC(10, 2) NOT NULL DEFAULT 0,
    CONSTRAINT uq_products_sku UNIQUE (sku)
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    status VARCHAR(16) NOT NULL DEFAULT 'new',
    placed_at TIMESTAMP
);
CREATE INDEX ix_orders_customer ON orders (customer_id, placed_at);
CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders(id),
    line_no INTEGER NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (order_id, line_no)
);
CREATE VIEW customer_order_totals AS
    SELECT c.id AS customer_id, COUNT(o.id) AS orders
    FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id;
"""
EVENT_TABLES = 20


def create_sample(path: Path) -> Path:
    """(Re)create the sample database at ``path`` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.executescript(SAMPLE_DDL)
        for n in range(1, EVENT_TABLES + 1):
            conn.execute(
                f"CREATE TABLE events_{n:02d} (id INTEGER PRIMARY KEY, "
                f"customer_id INTEGER REFERENCES customers(id), kind TEXT NOT NULL, payload TEXT)"
            )
            conn.execute(f"CREATE INDEX ix_events_{n:02d}_customer ON events_{n:02d} (customer_id)")
    conn.close()
    return path
