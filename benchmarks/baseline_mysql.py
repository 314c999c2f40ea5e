"""Direct-catalog baseline for MySQL/MariaDB: bulk ``information_schema`` queries, JSONL out.

Reads every table, column, constraint and index of the databases whose
name starts with a prefix, four queries in all, and writes the rows as JSON
Lines (no fsync). Prints per-kind counts as JSON. Run it with the rendered
app's Python (pymysql, orjson):

    baseline_mysql.py mysql://root@127.0.0.1:3306/ bench_my1000_ out.jsonl
"""

from __future__ import annotations

import json
import sys
from urllib.parse import urlsplit

import orjson
import pymysql

QUERIES = {
    "relation": """
SELECT t.TABLE_SCHEMA, t.TABLE_NAME, t.TABLE_TYPE, t.TABLE_COMMENT, v.VIEW_DEFINITION
FROM information_schema.TABLES t
LEFT JOIN information_schema.VIEWS v ON v.TABLE_SCHEMA = t.TABLE_SCHEMA AND v.TABLE_NAME = t.TABLE_NAME
WHERE t.TABLE_SCHEMA LIKE %s""",
    "column": """
SELECT TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE,
       COLUMN_DEFAULT, COLUMN_COMMENT
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA LIKE %s""",
    "constraint": """
SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.CONSTRAINT_NAME, c.CONSTRAINT_TYPE,
       GROUP_CONCAT(k.COLUMN_NAME ORDER BY k.ORDINAL_POSITION), MAX(k.REFERENCED_TABLE_SCHEMA),
       MAX(k.REFERENCED_TABLE_NAME), GROUP_CONCAT(k.REFERENCED_COLUMN_NAME ORDER BY k.ORDINAL_POSITION),
       MAX(r.DELETE_RULE), MAX(r.UPDATE_RULE)
FROM information_schema.TABLE_CONSTRAINTS c
JOIN information_schema.KEY_COLUMN_USAGE k
  ON k.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME
 AND k.CONSTRAINT_NAME = c.CONSTRAINT_NAME
LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS r
  ON r.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA AND r.TABLE_NAME = c.TABLE_NAME
 AND r.CONSTRAINT_NAME = c.CONSTRAINT_NAME
WHERE c.TABLE_SCHEMA LIKE %s AND c.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')
GROUP BY c.TABLE_SCHEMA, c.TABLE_NAME, c.CONSTRAINT_NAME, c.CONSTRAINT_TYPE""",
    "index": """
SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, MIN(NON_UNIQUE),
       GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX)
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA LIKE %s AND INDEX_NAME <> 'PRIMARY'
GROUP BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME""",
}


def main(dsn: str, prefix: str, out: str) -> dict[str, int]:
    parts = urlsplit(dsn)
    conn = pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "")
    pattern = prefix.replace("_", "\\_") + "%"
    counts: dict[str, int] = {}
    try:
        with conn.cursor() as cur, open(out, "wb") as fh:
            for kind, query in QUERIES.items():
                cur.execute(query, (pattern,))
                rows = cur.fetchall()
                counts[kind] = len(rows)
                fh.write(b"".join(orjson.dumps([kind, *row], default=str) + b"\n" for row in rows))
    finally:
        conn.close()
    return counts


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3])))
