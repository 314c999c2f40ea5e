"""Direct-catalog baseline: a few bulk ``pg_catalog`` queries, one process, JSONL out.

This is the floor the app is compared with: no orchestration, no batching,
no checkpoints. It reads every user relation, column, constraint and index
of the database in four queries and writes the rows as JSON Lines to one
file (no fsync). Prints per-kind counts as JSON. Run it with the rendered
app's Python (asyncpg, orjson):

    baseline_postgres.py postgresql://postgres@127.0.0.1:5432/bench_5000 out.jsonl
"""

from __future__ import annotations

import asyncio
import json
import sys

import asyncpg
import orjson

USER_RELATIONS = """
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
"""
QUERIES = {
    "relation": f"""
SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
       obj_description(c.oid, 'pg_class') AS comment,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS view_definition
FROM pg_class c {USER_RELATIONS}""",
    "column": f"""
SELECT n.nspname AS schema, c.relname AS table, a.attnum AS ordinal, a.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
       pg_get_expr(d.adbin, d.adrelid) AS default, col_description(c.oid, a.attnum) AS comment
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
{USER_RELATIONS} AND a.attnum > 0 AND NOT a.attisdropped""",
    "constraint": f"""
SELECT n.nspname AS schema, c.relname AS table, k.conname AS name, k.contype::text AS type,
       pg_get_constraintdef(k.oid) AS definition
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
{USER_RELATIONS} AND k.contype IN ('p', 'u', 'f')""",
    "index": f"""
SELECT n.nspname AS schema, c.relname AS table, ic.relname AS name, i.indisunique AS unique,
       pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
{USER_RELATIONS} AND NOT i.indisprimary""",
}


async def main(dsn: str, out: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    counts: dict[str, int] = {}
    try:
        with open(out, "wb") as fh:  # noqa: ASYNC230 - one reader, nothing else on the loop to block
            for kind, query in QUERIES.items():
                rows = await conn.fetch(query)
                counts[kind] = len(rows)
                fh.write(b"".join(orjson.dumps({"kind": kind, **dict(r)}) + b"\n" for r in rows))
    finally:
        await conn.close()
    return counts


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
