"""Catalogs built to break naive extractors: every name must come out byte-for-byte, none may collide.

Quoted identifiers with spaces, dots, quotes, newlines and non-ASCII letters;
reserved words; names at the length limit; names equal but for case, for
Unicode normalization or for a trailing space; control characters (one log
line all the same); empty schemas; 1,000+ column tables; partitioned tables;
materialized views; enum and array columns.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
import uuid  # variant: source=mysql
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import create_engine  # variant: source=mysql
from sqlalchemy.engine import make_url  # variant: source=mysql
from sqlalchemy.ext.asyncio import create_async_engine  # variant: source=mysql
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.runtime.logs import escape
from {{ cookiecutter.package_name }}.runtime.secrets import to_async_url  # variant: source=mysql
from {{ cookiecutter.package_name }}.sources.readers import select_reader  # variant: source=mysql
from {{ cookiecutter.package_name }}.sources.records import qualify

from .catalogs import (
    _plain,
    my_ident,  # variant: source=mysql
    mysql_databases,  # variant: source=mysql
    postgres_database,
)
from .conftest import (
    MYSQL_URL,  # variant: source=mysql
    POSTGRES_URL,
)
from .harness import Run, extract, logs_to

NFC, NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
LONG_ASCII = "x" * 63  # PostgreSQL's limit is 63 bytes
LONG_UTF8 = "é" * 31 + "z"  # 31 two-byte letters + 1 = 63 bytes, 32 characters
WIDE = 1200
QUOTED = 'my schema.with "quotes"'
CONTROLS = "two\nlines\x1b[31m"  # a newline and an ANSI colour code: one log line all the same


def pg_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# schema -> {table: kind}; every name here is spelled exactly as the catalog must report it.
PG_TABLES: dict[str, dict[str, str]] = {
    QUOTED: {"table with spaces": "table", 'a "quoted" name': "table", "line\nbreak": "table"},
    "Ünïcødé_スキーマ": {"日本語のテーブル": "table", NFC: "table", NFD: "table", "t": "table", "t ": "table"},
    "select": {"from": "table", "feelings": "table", "order_counts": "materialized_view"},
    "Users": {"Users": "table", "users": "table"},
    "users": {"Users": "table", "users": "table"},
    "a.b": {"c": "table"},
    "a": {"b.c": "table"},
    "limits": {LONG_ASCII: "table", LONG_UTF8: "table", "wide": "table"},
    "parts": {"events": "partitioned_table", "events_2025": "table", "events_2026": "table",
              "events_other": "table"},
    "empty_one": {},
    "Empty Two": {},
    # MySQL's system schema names are ordinary user schemas on PostgreSQL: they must come out.
    "sys": {"objects": "table"},
    "mysql": {"user": "table"},
    "performance_schema": {},
    CONTROLS: {"bell\x07": "table"},
}

PG_EXTRA = f"""
CREATE TABLE {pg_ident(QUOTED)}."table with spaces" (
    {pg_ident('col "q"')} int PRIMARY KEY, "col.dot" int, "naïve café" text, "select" int, {pg_ident(LONG_ASCII)} int);
CREATE TABLE "select"."from" ("where" int, "order" int, "group" text, PRIMARY KEY ("where", "order"));
CREATE TYPE "select".mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE "select".feelings (id int, m "select".mood, tags text[], grid int[][], moods "select".mood[]);
CREATE MATERIALIZED VIEW "select".order_counts AS SELECT "group", count(*) AS n FROM "select"."from" GROUP BY 1;
CREATE UNIQUE INDEX order_counts_group ON "select".order_counts ("group");
CREATE TABLE limits.wide ({", ".join(f"c{n:04d} int" for n in range(WIDE))});
CREATE TABLE parts.events (id bigint, happened date NOT NULL) PARTITION BY RANGE (happened);
CREATE TABLE parts.events_2025 PARTITION OF parts.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE parts.events_2026 PARTITION OF parts.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE parts.events_other PARTITION OF parts.events DEFAULT;
COMMENT ON SCHEMA sys IS 'a user''s schema, whatever MySQL calls its own';
"""


def pg_ddl() -> str:
    ddl = ["DROP SCHEMA public;"]
    created = {QUOTED: {"table with spaces"}, "select": {"from", "feelings", "order_counts"},
               "limits": {"wide"}, "parts": set(PG_TABLES["parts"])}
    for schema, tables in PG_TABLES.items():
        ddl.append(f"CREATE SCHEMA {pg_ident(schema)};")
        for table in tables:
            if table not in created.get(schema, set()):
                ddl.append(f"CREATE TABLE {pg_ident(schema)}.{pg_ident(table)} (id int);")
    return "\n".join(ddl) + PG_EXTRA


def names(run: Run) -> tuple[set[str], dict[tuple[str, str], str]]:
    schemas = {r["name"] for r in run.records if r["kind"] == "schema"}
    tables = {(r["schema"], r["name"]): r["table_type"] for r in run.records if r["kind"] == "table"}
    return schemas, tables


def assert_no_collisions(run: Run) -> None:
    assert run.duplicates() == []
    parts = [p["path"] for p in run.manifest["parts"]]
    assert len(parts) == len(set(parts)) == len({p.lower() for p in parts}), "part files collide"


async def test_sqlite_hostile_catalog(temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore) -> None:
    """SQLite has one schema and case-insensitive names; the rest applies."""
    tables = ['a "quoted" name', "a.b", "select", "Ünïcødé テーブル", NFC, NFD, "t", "t ", "wide"]
    path = tmp_path / "hostile.db"
    with sqlite3.connect(path) as conn:
        ddl = pg_ident('col "q"') + ' int, "where" int, "b.c" int'
        for table in tables[:-1]:
            conn.execute(f"CREATE TABLE {pg_ident(table)} ({ddl})")
        conn.execute(f"CREATE TABLE wide ({', '.join(f'c{n:04d} int' for n in range(WIDE))})")
        # SQLite's own tables (sqlite_sequence, sqlite_stat1) must not come out as the user's.
        conn.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY AUTOINCREMENT)")
        conn.execute("INSERT INTO counter DEFAULT VALUES")
        conn.execute("ANALYZE")
    conn.close()
    tables.append("counter")
    run = await extract(temporal.client, f"sqlite:///{path}", tmp_path / "out", state, batch_size=2, slice_size=4)
    assert names(run) == ({"main"}, {("main", t): "table" for t in tables})
    assert_no_collisions(run)
    columns = run.of_kind("column")
    nfd = sorted((c for c in columns.values() if c["table"] == qualify(run.summary.database, "main", NFD)),
                 key=lambda c: c["ordinal"])
    assert [c["name"] for c in nfd] == ['col "q"', "where", "b.c"]
    assert sum(1 for c in columns.values() if c["table"] == qualify(run.summary.database, "main", "wide")) == WIDE


@pytest.mark.postgresql
async def test_postgresql_hostile_catalog(temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore) -> None:
    assert POSTGRES_URL
    async with postgres_database(POSTGRES_URL) as url:
        conn = await asyncpg.connect(_plain(url))
        try:
            await conn.execute(pg_ddl())
        finally:
            await conn.close()
        with logs_to("console") as logs:
            run = await extract(temporal.client, url, tmp_path / "out", state, batch_size=2, slice_size=4)
    db = run.summary.database
    schemas, tables = names(run)
    assert schemas == set(PG_TABLES)
    assert f"schema {escape(CONTROLS)} done" in logs.getvalue()
    assert all(re.match(r"\d\d:\d\d:\d\d\.\d{3} |    ", line) for line in logs.getvalue().splitlines())
    assert run.invalid_records() == []  # partitions, enums, arrays, 1,200 columns: all as the schema says
    comments = {r["name"]: r["comment"] for r in run.records if r["kind"] == "schema"}
    assert comments["sys"] == "a user's schema, whatever MySQL calls its own"
    assert comments["limits"] is None
    assert tables == {(s, t): kind for s, found in PG_TABLES.items() for t, kind in found.items()}
    assert_no_collisions(run)

    columns = run.of_kind("column")
    spaced = sorted((c for c in columns.values() if c["table"] == qualify(db, QUOTED, "table with spaces")),
                    key=lambda c: c["ordinal"])
    assert [c["name"] for c in spaced] == ['col "q"', "col.dot", "naïve café", "select", LONG_ASCII]
    pk = run.of_kind("primary_key")
    assert [p["columns"] for p in pk.values() if p["table"] == qualify(db, "select", "from")] == [["where", "order"]]

    wide = [c for c in columns.values() if c["table"] == qualify(db, "limits", "wide")]
    assert sorted(c["ordinal"] for c in wide) == list(range(1, WIDE + 1))
    assert {c["name"] for c in wide} == {f"c{n:04d}" for n in range(WIDE)}

    feelings = {c["name"]: c["data_type"] for c in columns.values() if c["table"] == qualify(db, "select", "feelings")}
    assert "mood" in feelings["m"] and "[]" not in feelings["m"]
    assert feelings["tags"].upper() == "TEXT[]"
    assert feelings["grid"].upper().startswith("INTEGER[]")
    assert "mood" in feelings["moods"] and feelings["moods"].endswith("[]")

    view = run.of_kind("table")[qualify(db, "select", "order_counts")]
    assert "count(*)" in (view["view_definition"] or "")
    indexes = run.of_kind("index")
    assert qualify(db, "select", "order_counts", "order_counts_group") in indexes
    assert run.summary.counts["schemas"] == len(PG_TABLES)


# >>> variant: source=mysql
@pytest.mark.mysql
async def test_mariadb_hostile_catalog(temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore) -> None:
    """What applies to MariaDB: no arrays, no materialized views, 64-character names, 1,017 columns at most.

    A system-versioned table is a table, a view in a quoted database a view; a sequence is no table.
    """
    assert MYSQL_URL
    prefix = f"xh_{uuid.uuid4().hex[:6]}"
    spaced, plain, empty = f"{prefix} my.db `q`", f"{prefix}_select", f"{prefix}_empty"
    long_name = "t" * 64
    tables = {spaced: {"table with spaces": "table", "Ünïcødé テーブル": "table", "a.b": "table",
                       "a `view`": "view"},
              plain: {"from": "table", "Users": "table", "users": "table", long_name: "table", "wide": "table",
                      "events": "table", "history": "table"},
              empty: {}}
    wide = 1010
    ddl = [
        f"CREATE TABLE {my_ident(spaced)}.`table with spaces` (`col \"q\"` int, `col.dot` int)",
        f"CREATE TABLE {my_ident(spaced)}.`Ünïcødé テーブル` (`naïve café` int)",
        f"CREATE TABLE {my_ident(spaced)}.`a.b` (id int)",
        f"CREATE VIEW {my_ident(spaced)}.`a ``view``` AS SELECT id FROM {my_ident(spaced)}.`a.b`",
        f"CREATE TABLE `{plain}`.history (id int) WITH SYSTEM VERSIONING",
        f"CREATE SEQUENCE `{plain}`.ids",
        f"CREATE TABLE `{plain}`.`from` (`where` int PRIMARY KEY, `order` enum('sad','ok','happy'))",
        f"CREATE TABLE `{plain}`.`Users` (id int)",
        f"CREATE TABLE `{plain}`.`users` (id int)",
        f"CREATE TABLE `{plain}`.`{long_name}` (`{'c' * 64}` int)",
        f"CREATE TABLE `{plain}`.wide ({', '.join(f'c{n:04d} tinyint' for n in range(wide))})",
        f"CREATE TABLE `{plain}`.events (id int, y int) PARTITION BY RANGE (y) "
        "(PARTITION p0 VALUES LESS THAN (2026), PARTITION p1 VALUES LESS THAN MAXVALUE)",
    ]
    engine = create_engine(make_url(MYSQL_URL).set(drivername="mysql+pymysql"))
    with mysql_databases(MYSQL_URL, spaced, plain, empty):
        try:
            with engine.begin() as conn:
                for statement in ddl:
                    conn.exec_driver_sql(statement.replace("%", "%%"))
        finally:
            engine.dispose()
        run = await extract(temporal.client, MYSQL_URL, tmp_path / "out", state, schemas=f"^{prefix}",
                            batch_size=2, slice_size=4)
    schemas, found = names(run)
    assert schemas == set(tables)
    assert found == {(s, t): kind for s, ts in tables.items() for t, kind in ts.items()}
    assert_no_collisions(run)
    columns = list(run.of_kind("column").values())
    assert {c["name"] for c in columns if c["name"].startswith("col")} == {'col "q"', "col.dot"}
    assert sum(1 for c in columns if c["table"].endswith('."wide"')) == wide
    order = next(c for c in columns if c["name"] == "order")
    assert order["data_type"].upper().startswith("ENUM(") and "'happy'" in order["data_type"]


@pytest.mark.mysql
async def test_mariadb_backtick_in_column_name(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    assert MYSQL_URL
    database = f"xh_{uuid.uuid4().hex[:6]}"
    engine = create_engine(make_url(MYSQL_URL).set(drivername="mysql+pymysql"))
    with mysql_databases(MYSQL_URL, database):
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"CREATE TABLE `{database}`.t (`col ``q``` int)")
        finally:
            engine.dispose()
        run = await extract(temporal.client, MYSQL_URL, tmp_path / "out", state, schemas=f"^{database}$")
    assert [c["name"] for c in run.of_kind("column").values()] == ["col `q`"]


@pytest.mark.mysql
async def test_mariadb_listing_skips_a_dropped_database() -> None:
    """A slice lists its planned databases again: one dropped since planning has no tables (the run
    reports them as vanished); SHOW FULL TABLES on it would fail the slice instead."""
    assert MYSQL_URL
    kept, dropped = f"xh_{uuid.uuid4().hex[:6]}", f"xh_{uuid.uuid4().hex[:6]}_gone"
    engine = create_async_engine(to_async_url(make_url(MYSQL_URL)))
    try:
        with mysql_databases(MYSQL_URL, kept):
            async with engine.begin() as conn:
                await conn.exec_driver_sql(f"CREATE TABLE `{kept}`.t (id int)")
            reader = select_reader(engine, "db")
            assert type(reader).__name__ == "MySQLCatalogReader"
            listing = await reader.tables_by_schema([kept, dropped])
    finally:
        await engine.dispose()
    assert {schema: [t.name for t in tables] for schema, tables in listing.items()} == {kept: ["t"], dropped: []}
# <<< variant
