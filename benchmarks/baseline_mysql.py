"""Direct-catalog baseline for MySQL/MariaDB: bulk ``information_schema`` queries, JSONL out.

Lists the databases whose name starts with a prefix, then reads every table,
column, constraint and index of each, seven queries per database, and writes the
rows as JSON Lines (no fsync). Prints per-kind counts as JSON. Every
``information_schema`` table in a query names its database with ``=`` and a
constant: MariaDB then opens that database's table definitions only, where
``TABLE_SCHEMA LIKE`` makes it open every table of the server.
Run it with the rendered app's Python (pymysql, orjson):

    baseline_mysql.py mysql://root@127.0.0.1:3306/ bench_my1000_ out.jsonl
"""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import urlsplit

import orjson
import pymysql

SCHEMAS = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s ORDER BY 1"

QUERIES = {
    "relation": """
SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_COMMENT
FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s""",
    "column": """
SELECT TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE,
       COLUMN_DEFAULT, COLUMN_COMMENT
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s""",
    "constraint": """
SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME,
       GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION), MAX(REFERENCED_TABLE_SCHEMA),
       MAX(REFERENCED_TABLE_NAME), GROUP_CONCAT(REFERENCED_COLUMN_NAME ORDER BY ORDINAL_POSITION)
FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s
GROUP BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME""",
    "index": """
SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, MIN(NON_UNIQUE),
       GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX)
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = %s AND INDEX_NAME <> 'PRIMARY'
GROUP BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME""",
}
# Joined into the rows above by name in Python: joined in SQL, MariaDB scans every
# database for the inner information_schema table, whatever the ON or WHERE clause says.
_TYPES = """
SELECT TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS
WHERE TABLE_SCHEMA = %s AND CONSTRAINT_TYPE IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')"""
_VIEWS = "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s"
_RULES = """
SELECT TABLE_NAME, CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE
FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = %s"""


def read_schema(cur: Any, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of one database, with views' definitions, key types and foreign-key rules joined in."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for kind, query in QUERIES.items():
        cur.execute(query, (schema,))
        rows[kind] = list(cur.fetchall())
    cur.execute(_VIEWS, (schema,))
    views = dict(cur.fetchall())
    rows["relation"] = [(*row, views.get(row[1])) for row in rows["relation"]]
    cur.execute(_TYPES, (schema,))
    types = {(table, name): kind for table, name, kind in cur.fetchall()}
    cur.execute(_RULES, (schema,))
    rules = {(table, name): (delete, update) for table, name, delete, update in cur.fetchall()}
    rows["constraint"] = [(*row, types[key], *rules.get(key, (None, None)))
                          for row in rows["constraint"] if (key := (row[1], row[2])) in types]
    return rows


def main(dsn: str, prefix: str, out: str) -> dict[str, int]:
    parts = urlsplit(dsn)
    conn = pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "")
    pattern = prefix.replace("_", "\\_") + "%"
    counts = dict.fromkeys(QUERIES, 0)
    try:
        with conn.cursor() as cur, open(out, "wb") as fh:
            cur.execute(SCHEMAS, (pattern,))
            for (schema,) in cur.fetchall():
                for kind, rows in read_schema(cur, schema).items():
                    counts[kind] += len(rows)
                    fh.write(b"".join(orjson.dumps([kind, *row], default=str) + b"\n" for row in rows))
    finally:
        conn.close()
    return counts


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3])))
