"""Create (or drop) a synthetic catalog on PostgreSQL or MySQL/MariaDB.

Run with the rendered app's Python (it has asyncpg and pymysql):

    seed.py postgres --dsn postgresql://postgres@127.0.0.1:5432/postgres --database bench_5000 --tables 5000
    seed.py mysql --dsn mysql://root@127.0.0.1:3306/ --database bench_m1000 --tables 1000
    seed.py postgres --dsn ... --database bench_5000 --drop

Prints the counts a complete extraction must report, as JSON. On MySQL each
schema is a database named ``<database>_<schema>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).parent))

from catalog_model import ForeignKey, Schema, Table, expected_counts, generate

PG_TYPES = {"int": "integer", "bigint": "bigint", "smallint": "smallint", "text": "text",
            "varchar": "varchar({n})", "char": "char(2)", "numeric": "numeric(12, 2)", "bool": "boolean",
            "date": "date", "timestamp": "timestamp", "timestamptz": "timestamptz", "json": "jsonb",
            "uuid": "uuid", "float": "double precision", "real": "real", "bytes": "bytea",
            "interval": "interval", "time": "time"}
MY_TYPES = {**PG_TYPES, "text": "text", "timestamptz": "datetime(6)", "json": "json", "uuid": "char(36)",
            "bool": "tinyint(1)", "bytes": "blob", "interval": "varchar(32)", "float": "double"}
DEFAULTS = {"pg": {"zero": "0", "now": "now()", "text": "'n/a'", "true": "true"},
            "my": {"zero": "0", "now": "CURRENT_TIMESTAMP", "text": "'n/a'", "true": "1"}}


def q(dialect: str, name: str) -> str:
    return f'"{name}"' if dialect == "pg" else f"`{name}`"


def create_table(dialect: str, table: Table, schema_name: str, inline_fks: bool) -> list[str]:
    types = PG_TYPES if dialect == "pg" else MY_TYPES
    text_like = {c.name for c in table.columns if c.type in ("text", "json", "bytes")}
    lines = []
    for col in table.columns:
        spec = f"{q(dialect, col.name)} {types[col.type].format(n=col.length)}"
        if not col.nullable:
            spec += " NOT NULL"
        if col.default and not (dialect == "my" and col.type in ("text", "json")):
            spec += f" DEFAULT {DEFAULTS[dialect][col.default]}"
        if dialect == "my" and col.comment:
            spec += f" COMMENT '{col.comment}'"
        lines.append(spec)
    if table.primary_key:
        lines.append(f"PRIMARY KEY ({', '.join(q(dialect, c) for c in table.primary_key)})")
    for uq in table.uniques:
        cols = ", ".join(_key_part(dialect, c, text_like) for c in uq.columns)
        lines.append(f"CONSTRAINT {q(dialect, uq.name)} UNIQUE ({cols})")
    for fk in table.foreign_keys:
        if inline_fks or fk.schema == table.schema:
            lines.append(_fk(dialect, fk, schema_name if fk.schema == table.schema else fk.schema))
    full = f"{q(dialect, schema_name)}.{q(dialect, table.name)}"
    comment = f" COMMENT '{table.comment}'" if dialect == "my" and table.comment else ""
    out = [f"CREATE TABLE {full} (\n  " + ",\n  ".join(lines) + f"\n){comment}"]
    for ix in table.indexes:
        unique = "UNIQUE " if ix.unique else ""
        if ix.expression and dialect == "pg":
            cols = f"lower({q(dialect, ix.columns[0])})"
        else:
            cols = ", ".join(_key_part(dialect, c, text_like) for c in ix.columns)
        out.append(f"CREATE {unique}INDEX {q(dialect, ix.name)} ON {full} ({cols})")
    if dialect == "pg":
        if table.comment:
            out.append(f"COMMENT ON TABLE {full} IS '{table.comment}'")
        out += [f"COMMENT ON COLUMN {full}.{q(dialect, c.name)} IS '{c.comment}'"
                for c in table.columns if c.comment]
    return out


def _key_part(dialect: str, column: str, text_like: set[str]) -> str:
    """MySQL can index TEXT columns only by a prefix."""
    return f"{q(dialect, column)}(50)" if dialect == "my" and column in text_like else q(dialect, column)


def _fk(dialect: str, fk: ForeignKey, target_schema: str) -> str:
    action = f" ON DELETE {fk.on_delete}" if fk.on_delete else ""
    return (f"CONSTRAINT {q(dialect, fk.name)} FOREIGN KEY ({q(dialect, fk.column)}) "
            f"REFERENCES {q(dialect, target_schema)}.{q(dialect, fk.table)} (id){action}")


def schema_script(dialect: str, schema: Schema, name_of: dict[str, str]) -> list[str]:
    """Tables, indexes, in-schema FKs and views of one schema."""
    name = name_of[schema.name]
    out = [f"CREATE SCHEMA {q(dialect, name)}" if dialect == "pg" else f"CREATE DATABASE {q(dialect, name)}"]
    for table in schema.tables:
        out += create_table(dialect, table, name, inline_fks=False)
    for view in schema.views:
        cols = ", ".join(q(dialect, c) for c in view.columns)
        out.append(f"CREATE VIEW {q(dialect, name)}.{q(dialect, view.name)} AS SELECT {cols} "
                   f"FROM {q(dialect, name)}.{q(dialect, view.table)} WHERE {q(dialect, 'id')} > 10")
    return out


def cross_schema_fks(dialect: str, schemas: list[Schema], name_of: dict[str, str]) -> list[str]:
    out = []
    for schema in schemas:
        for table in schema.tables:
            for fk in table.foreign_keys:
                if fk.schema != table.schema:
                    full = f"{q(dialect, name_of[schema.name])}.{q(dialect, table.name)}"
                    out.append(f"ALTER TABLE {full} ADD {_fk(dialect, fk, name_of[fk.schema])}")
    return out


def pg_dsn(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return parts._replace(scheme="postgresql", path=f"/{database}").geturl()


async def seed_postgres(dsn: str, database: str, schemas: list[Schema], jobs: int) -> None:
    import asyncpg

    admin = await asyncpg.connect(pg_dsn(dsn, urlsplit(dsn).path.lstrip("/") or "postgres"))
    await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    name_of = {s.name: s.name for s in schemas}
    gate = asyncio.Semaphore(jobs)

    async def one(schema: Schema) -> None:
        async with gate:
            conn = await asyncpg.connect(pg_dsn(dsn, database))
            statements = schema_script("pg", schema, name_of)
            try:
                # Small transactions: each one holds a lock per created relation until it
                # commits, and the server's shared lock table is small (max_locks_per_transaction).
                for start in range(0, len(statements), 100):
                    async with conn.transaction():
                        await conn.execute(";\n".join(statements[start : start + 100]))
            finally:
                await conn.close()

    conn = await asyncpg.connect(pg_dsn(dsn, database))
    await conn.execute("DROP SCHEMA public")
    await conn.close()
    await asyncio.gather(*(one(s) for s in schemas))
    conn = await asyncpg.connect(pg_dsn(dsn, database))
    try:
        fks = cross_schema_fks("pg", schemas, name_of)
        for start in range(0, len(fks), 50):
            await conn.execute(";\n".join(fks[start : start + 50]))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def drop_postgres(dsn: str, database: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(pg_dsn(dsn, urlsplit(dsn).path.lstrip("/") or "postgres"))
    await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    await admin.close()


def mysql_connect(dsn: str) -> Any:
    import pymysql

    parts = urlsplit(dsn)
    return pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "", autocommit=True)


def seed_mysql(dsn: str, database: str, schemas: list[Schema]) -> None:
    drop_mysql(dsn, database)
    name_of = {s.name: f"{database}_{s.name}" for s in schemas}
    conn = mysql_connect(dsn)
    with conn.cursor() as cur:
        for schema in schemas:
            for statement in schema_script("my", schema, name_of):
                cur.execute(statement)
        for statement in cross_schema_fks("my", schemas, name_of):
            cur.execute(statement)
    conn.close()


def drop_mysql(dsn: str, database: str) -> None:
    conn = mysql_connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SET SESSION foreign_key_checks = 0")  # cross-database FKs would block the drops
        cur.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
                    (database.replace("_", "\\_") + "\\_%",))
        for (name,) in cur.fetchall():
            cur.execute(f"DROP DATABASE `{name}`")
    conn.close()


def mysql_expected(schemas: list[Schema]) -> dict[str, int]:
    """InnoDB adds an index for each FK column that no index starts with, and MySQL
    reports every UNIQUE index as a UNIQUE constraint too."""
    counts = expected_counts(schemas)
    for table in (t for s in schemas for t in s.tables):
        counts["unique_constraints"] += sum(1 for ix in table.indexes if ix.unique)
        leading = {ix.columns[0] for ix in table.indexes + table.uniques} | set(table.primary_key[:1])
        counts["indexes"] += len({fk.column for fk in table.foreign_keys} - leading)
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dialect", choices=("postgres", "mysql"))
    p.add_argument("--dsn", required=True, help="admin DSN of the server")
    p.add_argument("--database", required=True, help="database (PG) or database-name prefix (MySQL)")
    p.add_argument("--tables", type=int, default=1000)
    p.add_argument("--tables-per-schema", type=int, default=100)
    p.add_argument("--jobs", type=int, default=2, help="schemas created in parallel (PostgreSQL)")
    p.add_argument("--drop", action="store_true", help="drop what an earlier run created and exit")
    args = p.parse_args()
    if not args.database.startswith("bench_"):
        p.error("--database must start with bench_ so cleanup can never hit real data")
    if args.drop:
        if args.dialect == "postgres":
            asyncio.run(drop_postgres(args.dsn, args.database))
        else:
            drop_mysql(args.dsn, args.database)
        return
    schemas = generate(args.tables, per_schema=args.tables_per_schema)
    if args.dialect == "postgres":
        asyncio.run(seed_postgres(args.dsn, args.database, schemas, args.jobs))
        counts = expected_counts(schemas)
    else:
        seed_mysql(args.dsn, args.database, schemas)
        counts = mysql_expected(schemas)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
