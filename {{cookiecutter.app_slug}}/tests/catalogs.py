"""Fixture catalogs: the same small business model on each dialect.

Each builder creates its own database (or SQLite file), yields a DSN, and
drops everything afterwards. ``EXPECTED`` holds what an extraction must find.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy import create_engine  # variant: source=mysql
from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class Catalog:
    url: str
    schema_pattern: str | None
    counts: dict[str, int]
    schema_names: tuple[str, str]  # (sales, hr) as the source spells them


# PostgreSQL fixtures stay in every rendering: it is also the production state store,
# and the fault tests run on it whatever the source dialect.
PG_DDL = """
CREATE SCHEMA sales;
CREATE SCHEMA hr;
CREATE SCHEMA empty_schema;
DROP SCHEMA public;
CREATE TABLE hr.departments (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE hr.employees (
    id serial PRIMARY KEY,
    department_id int NOT NULL REFERENCES hr.departments(id),
    email varchar(200) NOT NULL,
    salary numeric(10, 2),
    CONSTRAINT uq_employees_email UNIQUE (email),
    CONSTRAINT ck_employees_salary CHECK (salary > 0)
);
COMMENT ON TABLE hr.employees IS 'People on payroll';
COMMENT ON COLUMN hr.employees.email IS 'Work e-mail';
CREATE INDEX ix_employees_department ON hr.employees (department_id);
CREATE TABLE sales.customers (
    id bigint PRIMARY KEY, name text NOT NULL, account_manager_id int REFERENCES hr.employees(id)
);
CREATE TABLE sales.orders (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES sales.customers(id) ON DELETE CASCADE,
    placed_at timestamptz DEFAULT now(),
    total numeric(12, 2)
);
CREATE INDEX ix_orders_customer ON sales.orders (customer_id, placed_at);
CREATE VIEW sales.big_orders AS SELECT id, total FROM sales.orders WHERE total > 1000;
CREATE MATERIALIZED VIEW sales.order_counts AS
    SELECT customer_id, count(*) AS n FROM sales.orders GROUP BY customer_id;
CREATE TABLE sales.events (id bigint NOT NULL, happened date NOT NULL) PARTITION BY RANGE (happened);
CREATE TABLE sales.events_2026 PARTITION OF sales.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
"""

# >>> variant: source=mysql
MYSQL_DDL = """
CREATE TABLE {hr}.departments (id int AUTO_INCREMENT PRIMARY KEY, name varchar(100) NOT NULL UNIQUE);
CREATE TABLE {hr}.employees (
    id int AUTO_INCREMENT PRIMARY KEY,
    department_id int NOT NULL,
    email varchar(200) NOT NULL COMMENT 'Work e-mail',
    salary decimal(10, 2),
    CONSTRAINT uq_employees_email UNIQUE (email),
    CONSTRAINT fk_employees_department FOREIGN KEY (department_id) REFERENCES {hr}.departments(id),
    CONSTRAINT ck_employees_salary CHECK (salary > 0),
    INDEX ix_employees_salary (salary)
) COMMENT 'People on payroll';
CREATE TABLE {sales}.customers (
    id bigint PRIMARY KEY, name varchar(100) NOT NULL, account_manager_id int,
    CONSTRAINT fk_customers_manager FOREIGN KEY (account_manager_id) REFERENCES {hr}.employees(id)
);
CREATE TABLE {sales}.orders (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    placed_at datetime DEFAULT CURRENT_TIMESTAMP,
    total decimal(12, 2),
    CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES {sales}.customers(id) ON DELETE CASCADE,
    INDEX ix_orders_customer (customer_id, placed_at)
);
CREATE VIEW {sales}.big_orders AS SELECT id, total FROM {sales}.orders WHERE total > 1000;
"""
# <<< variant

SQLITE_DDL = """
CREATE TABLE departments (id INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE employees (
    id INTEGER NOT NULL PRIMARY KEY,
    department_id INTEGER NOT NULL REFERENCES departments(id),
    email VARCHAR(200) NOT NULL,
    salary NUMERIC(10, 2),
    CONSTRAINT uq_employees_email UNIQUE (email),
    CONSTRAINT ck_employees_salary CHECK (salary > 0)
);
CREATE INDEX ix_employees_department ON employees (department_id);
CREATE TABLE customers (
    id BIGINT NOT NULL PRIMARY KEY, name TEXT NOT NULL, account_manager_id INTEGER REFERENCES employees(id)
);
CREATE TABLE orders (
    id BIGINT NOT NULL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    placed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    total NUMERIC(12, 2)
);
CREATE INDEX ix_orders_customer ON orders (customer_id, placed_at);
CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 1000;
"""


@contextmanager
def sqlite_catalog(folder: Path) -> Iterator[Catalog]:
    path = folder / f"fixture_{uuid.uuid4().hex[:8]}.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(SQLITE_DDL)
    conn.close()
    counts = {"schemas": 1, "tables": 4, "views": 1, "columns": 15, "primary_keys": 4,
              "foreign_keys": 3, "unique_constraints": 2, "indexes": 2, "check_constraints": 1,
              "sequences": 0, "types": 0}
    yield Catalog(f"sqlite:///{path}", None, counts, ("main", "main"))


@asynccontextmanager
async def postgres_catalog(admin_url: str, ddl: str = PG_DDL) -> AsyncIterator[Catalog]:
    """A fresh PostgreSQL database with ``ddl`` applied; dropped afterwards."""
    async with postgres_database(admin_url) as url:
        conn = await asyncpg.connect(_plain(url))
        try:
            await conn.execute(ddl)
        finally:
            await conn.close()
        # 2 explicit indexes + 2 that back the UNIQUE constraints; 2 sequences behind the serials
        counts = {"schemas": 3, "tables": 6, "views": 2, "columns": 21, "primary_keys": 4,
                  "foreign_keys": 3, "unique_constraints": 2, "indexes": 4, "check_constraints": 1,
                  "sequences": 2, "types": 0}
        yield Catalog(url, None, counts, ("sales", "hr"))


@asynccontextmanager
async def postgres_database(admin_url: str) -> AsyncIterator[str]:
    """Create an empty database named ``extractor_test_<random>``; yield its DSN."""
    name = f"extractor_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_plain(admin_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


# What Pagila lacks: comments on each kind that has them, a partial unique index, a sequence
# owned by its column (Pagila's serial-like ids only default to nextval()).
PAGILA_EXTRA = """
ALTER SEQUENCE public.film_film_id_seq OWNED BY public.film.film_id;
COMMENT ON SCHEMA public IS 'Pagila: a DVD rental store';
COMMENT ON TABLE public.film IS 'Films the stores rent out';
COMMENT ON COLUMN public.film.rating IS 'MPAA rating';
COMMENT ON SEQUENCE public.film_film_id_seq IS 'Film ids';
COMMENT ON TYPE public.mpaa_rating IS 'Motion Picture Association film ratings';
COMMENT ON MATERIALIZED VIEW public.rental_by_category IS 'Revenue per category';
CREATE UNIQUE INDEX film_one_title_per_year ON public.film (title, release_year) WHERE rating <> 'NC-17';
"""


def pagila_ddl() -> str:
    """Pagila's schema (``tests/pagila``; it loads on PostgreSQL 15) plus ``PAGILA_EXTRA``."""
    return (Path(__file__).parent / "pagila" / "pagila-schema.sql").read_text(encoding="utf-8") + PAGILA_EXTRA


BIG_SCHEMAS, BIG_TABLES_PER_SCHEMA = 2, 1000


def big_catalog_ddl(tables_per_chunk: int = 250) -> list[str]:
    """DDL scripts, each small enough for one transaction's lock table (every table takes a few locks)."""
    chunks = [f"DROP SCHEMA public; {' '.join(f'CREATE SCHEMA s{s};' for s in range(BIG_SCHEMAS))}"]
    for s in range(BIG_SCHEMAS):
        for first in range(0, BIG_TABLES_PER_SCHEMA, tables_per_chunk):
            ddl = []
            for t in range(first, min(first + tables_per_chunk, BIG_TABLES_PER_SCHEMA)):
                extra = f", parent_id bigint REFERENCES s{s}.t{t - 1:04d}(id)" if t % 10 == 1 else ""
                # Fixed-width types only: a text column would add a TOAST table and index per table.
                ddl.append(f"CREATE TABLE s{s}.t{t:04d} (id bigint PRIMARY KEY, n int NOT NULL, day date{extra});")
                if t % 5 == 0:
                    ddl.append(f"CREATE INDEX ix_{s}_{t:04d} ON s{s}.t{t:04d} (n, day);")
            chunks.append("\n".join(ddl))
    return chunks


@asynccontextmanager
async def big_postgres_database(admin_url: str) -> AsyncIterator[str]:
    """A fresh database with 2,000 tables (``big_catalog_ddl``); dropped afterwards."""
    async with postgres_database(admin_url) as url:
        conn = await asyncpg.connect(_plain(url))
        try:
            for script in big_catalog_ddl():
                async with conn.transaction():  # a few commits instead of thousands
                    await conn.execute(script)
        finally:
            await conn.close()
        yield url


def _plain(url: str) -> str:
    """asyncpg wants ``postgresql://`` without a SQLAlchemy driver suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# >>> variant: source=mysql
@contextmanager
def mysql_catalog(admin_url: str) -> Iterator[Catalog]:
    prefix = f"xt_{uuid.uuid4().hex[:8]}"
    sales, hr, empty = f"{prefix}_sales", f"{prefix}_hr", f"{prefix}_empty"
    url = make_url(admin_url).set(drivername="mysql+pymysql")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for db in (sales, hr, empty):
                conn.exec_driver_sql(f"CREATE DATABASE `{db}`")
            for statement in MYSQL_DDL.format(sales=f"`{sales}`", hr=f"`{hr}`").split(";"):
                if statement.strip():
                    conn.exec_driver_sql(statement)
        # 2 explicit + 2 backing UNIQUE constraints + 2 that InnoDB adds for FK columns
        counts = {"schemas": 3, "tables": 4, "views": 1, "columns": 15, "primary_keys": 4,
                  "foreign_keys": 3, "unique_constraints": 2, "indexes": 6, "check_constraints": 1,
                  "sequences": 0, "types": 0}
        yield Catalog(admin_url, f"^{prefix}_", counts, (sales, hr))
    finally:
        with engine.begin() as conn:
            for db in (sales, hr, empty):
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{db}`")
        engine.dispose()


def my_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@contextmanager
def mysql_databases(admin_url: str, *names: str) -> Iterator[None]:
    """Empty utf8mb4 databases ``names`` for the block; dropped afterwards."""
    engine = create_engine(make_url(admin_url).set(drivername="mysql+pymysql"))
    try:
        with engine.begin() as conn:
            for name in names:
                conn.exec_driver_sql(f"CREATE DATABASE {my_ident(name)} CHARACTER SET utf8mb4")
        yield
    finally:
        with engine.begin() as conn:
            for name in names:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {my_ident(name)}")
        engine.dispose()
# <<< variant
