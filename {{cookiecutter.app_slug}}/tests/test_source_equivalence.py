"""Fast paths and the generic SQLAlchemy reader must produce the same records.

Each dialect's fast path (``readers.select_reader``) and the generic reader
read the same fixture catalog; every record must match field for field.
Fields where a fast path is richer than the generic reader are listed in
the fast path's module docstring and excluded here by name (MySQL view
columns: nullable, comment, default). PostgreSQL has none on these catalogs.
"""

from __future__ import annotations

import sqlite3
import uuid  # variant: source=mysql
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from {{ cookiecutter.package_name }}.runtime.secrets import to_async_url
from {{ cookiecutter.package_name }}.sources.readers import select_reader
from {{ cookiecutter.package_name }}.sources.records import qualify
from {{ cookiecutter.package_name }}.sources.sql import CatalogReader, SchemaTables

from .catalogs import (
    PG_DDL,
    Catalog,
    my_ident,  # variant: source=mysql
    mysql_catalog,  # variant: source=mysql
    mysql_databases,  # variant: source=mysql
    pagila_ddl,
    postgres_catalog,
    sqlite_catalog,
)
from .conftest import (
    MYSQL_URL,  # variant: source=mysql
    POSTGRES_URL,
)

# Types, defaults and index shapes the small business fixture does not cover.
PG_EXTRA_DDL = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE SCHEMA "odd.Schema ""q"" x";
CREATE TABLE public.countries (code char(2) PRIMARY KEY, name varchar(80) COLLATE "C" NOT NULL);
CREATE TABLE "odd.Schema ""q"" x".things (
    id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    region text NOT NULL,
    code char(2) NOT NULL,
    country char(2) REFERENCES public.countries(code) ON UPDATE SET NULL,
    tags text[],
    grid int[][],
    feeling mood DEFAULT 'ok',
    qty positive_int,
    price numeric,
    ratio double precision,
    seen timestamp(3) without time zone,
    span interval day to second,
    doc jsonb,
    uid uuid,
    upper_code text GENERATED ALWAYS AS (upper(code)) STORED,
    "Mixed Case" bigserial,
    UNIQUE (region, code),
    CONSTRAINT "odd ck" CHECK ((price > 0) OR (ratio < 1 AND qty IS NOT NULL))
);
CREATE TABLE "odd.Schema ""q"" x".children (
    id bigint PRIMARY KEY, region text, code char(2),
    FOREIGN KEY (region, code) REFERENCES "odd.Schema ""q"" x".things (region, code) ON DELETE SET DEFAULT
);
CREATE INDEX ix_lower ON "odd.Schema ""q"" x".things (lower(region), code);
CREATE INDEX ix_partial ON "odd.Schema ""q"" x".things (code) INCLUDE (region) WHERE code <> 'xx';
CREATE UNIQUE INDEX ix_desc ON "odd.Schema ""q"" x".things (uid DESC NULLS LAST);
CREATE UNIQUE INDEX ix_one_open ON "odd.Schema ""q"" x".things (region) WHERE qty IS NULL;
CREATE INDEX ix_tags ON "odd.Schema ""q"" x".things USING gin (tags);
CREATE TABLE "odd.Schema ""q"" x".no_columns ();
COMMENT ON COLUMN "odd.Schema ""q"" x".things.tags IS 'free-form';
-- a dropped column: attnums (which the fast path keys comments by) no longer match ordinals
CREATE TABLE public.reshaped (gone int, id int PRIMARY KEY, label text, note text);
ALTER TABLE public.reshaped DROP COLUMN gone;
COMMENT ON COLUMN public.reshaped.label IS 'after a dropped column';
COMMENT ON COLUMN public.reshaped.note IS 'and its neighbour';
CREATE INDEX ix_reshaped ON public.reshaped (note, label);
CREATE TABLE public.readings (at date NOT NULL, site int NOT NULL, value real) PARTITION BY RANGE (at, site);
CREATE TABLE public.readings_2026 PARTITION OF public.readings FOR VALUES FROM ('2026-01-01', 0) TO ('2027-01-01', 0);
CREATE TABLE public.readings_rest PARTITION OF public.readings DEFAULT;
"""


async def read_all(reader: CatalogReader, pattern: str | None) -> list[dict[str, Any]]:
    """Every record of every matching schema, read as one batch across schemas, in a stable order."""
    import re

    schemas = await reader.list_schemas(re.compile(pattern) if pattern else None)
    listing = await reader.tables_by_schema(schemas)
    found = await reader.read_batch([SchemaTables(name, tables) for name, tables in listing.items()])
    found += await reader.schema_objects(schemas)
    return sorted(found, key=lambda r: (r["kind"], r["qualified_name"]))


@pytest.fixture
async def engine_for() -> AsyncIterator[Any]:
    engines: list[AsyncEngine] = []

    def make(url: str, **options: Any) -> AsyncEngine:
        engine = create_async_engine(to_async_url(make_url(url)), **options)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.dispose()


async def compare(engine: AsyncEngine, catalog: Catalog) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    database = make_url(catalog.url).database or "db"
    fast = select_reader(engine, database)
    generic = select_reader(engine, database, mode="generic")
    return await read_all(fast, catalog.schema_pattern), await read_all(generic, catalog.schema_pattern)


def test_sqlite_uses_the_generic_reader(tmp_path: Path) -> None:
    with sqlite_catalog(tmp_path) as cat:
        engine = create_async_engine(to_async_url(make_url(cat.url)))
        assert type(select_reader(engine, "x")) is CatalogReader


@pytest.mark.postgresql
async def test_postgres_fast_path_matches_generic_on_the_fixture(engine_for: Any) -> None:
    assert POSTGRES_URL
    async with postgres_catalog(POSTGRES_URL) as cat:
        engine = engine_for(cat.url)
        assert type(select_reader(engine, "x")).__name__ == "PostgresCatalogReader"
        fast, generic = await compare(engine, cat)
    assert len(fast) > 40
    assert fast == generic


@pytest.mark.postgresql
async def test_postgres_fast_path_matches_generic_on_odd_types_and_indexes(engine_for: Any) -> None:
    assert POSTGRES_URL
    ddl = PG_DDL.replace("DROP SCHEMA public;", "") + PG_EXTRA_DDL
    async with postgres_catalog(POSTGRES_URL, ddl) as cat:
        fast, generic = await compare(engine_for(cat.url), cat)
    assert len(fast) > 70
    assert fast == generic
    indexes = {r["name"]: r for r in fast if r["kind"] == "index"}
    # unique only where qty IS NULL: without the predicate it would read as unique table-wide
    assert (indexes["ix_one_open"]["unique"], indexes["ix_one_open"]["predicate"]) == (True, "(qty IS NULL)")
    assert indexes["ix_partial"]["predicate"] == "(code <> 'xx'::bpchar)"
    assert (indexes["ix_tags"]["method"], indexes["ix_desc"]["method"], indexes["ix_desc"]["predicate"]) == (
        "gin", "btree", None)
    tables = {r["name"]: r for r in fast if r["kind"] == "table"}
    parted = {name: (t["partition_of"], t["partition_bound"], t["partition_key"]) for name, t in tables.items()
              if name.startswith("readings")}
    parent = qualify(make_url(cat.url).database or "", "public", "readings")
    assert parted == {"readings": (None, None, "RANGE (at, site)"),
                      "readings_2026": (parent, "FOR VALUES FROM ('2026-01-01', 0) TO ('2027-01-01', 0)", None),
                      "readings_rest": (parent, "DEFAULT", None)}
    odd = 'odd.Schema "q" x'
    checks = {r["name"]: r["expression"] for r in fast if r["kind"] == "check_constraint"}
    assert checks == {"ck_employees_salary": "salary > 0::numeric",
                      "odd ck": "price > 0::numeric OR ratio < 1::double precision AND qty IS NOT NULL"}
    types = {r["name"]: (r["type_kind"], r["values"], r["base_type"], r["nullable"], r["checks"])
             for r in fast if r["kind"] == "type"}
    assert types == {"mood": ("enum", ["sad", "ok", "happy"], None, None, []),
                     "positive_int": ("domain", None, "integer", True, ["CHECK (VALUE > 0)"])}
    owners = {r["name"]: r["owned_by"] for r in fast if r["kind"] == "sequence"}
    things = qualify(make_url(cat.url).database or "", odd, "things")
    assert owners["things_id_seq"] == things + '."id"'  # an identity column's
    assert owners["things_Mixed Case_seq"] == things + '."Mixed Case"'  # a bigserial's
    assert len(owners) == 4  # and the fixture's two serials
    native = {r["name"]: r["native_type"] for r in fast if r["kind"] == "column" and r["table"].endswith('."things"')}
    assert (native["seen"], native["feeling"], native["tags"], native["qty"], native["code"]) == (
        "timestamp(3) without time zone", "mood", "text[]", "positive_int", "character(2)")


@pytest.mark.postgresql
async def test_postgres_fast_path_matches_generic_on_pagila(engine_for: Any) -> None:
    """A real public schema: 55 partitions, domains, an enum, sequences, views, a materialized view."""
    assert POSTGRES_URL
    async with postgres_catalog(POSTGRES_URL, pagila_ddl()) as cat:
        fast, generic = await compare(engine_for(cat.url), cat)
    assert len(fast) > 600
    assert fast == generic


async def test_sqlite_index_predicate_and_method(tmp_path: Path, engine_for: Any) -> None:
    path = tmp_path / "partial.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, queue TEXT, done INTEGER)")
        conn.execute("CREATE UNIQUE INDEX one_pending ON jobs (queue) WHERE done = 0")
        conn.execute("CREATE INDEX by_queue ON jobs (queue)")
    conn.close()
    found = await read_all(select_reader(engine_for(f"sqlite:///{path}"), "partial"), None)
    indexes = {r["name"]: (r["unique"], r["method"], r["predicate"]) for r in found if r["kind"] == "index"}
    assert indexes == {"one_pending": (True, "btree", "done = 0"), "by_queue": (False, "btree", None)}


# >>> variant: source=mysql
# MySQL view columns: the generic reader reflects views through DESCRIBE, which loses these
# (see sources/mysql.py); the fast path reports what information_schema knows.
MYSQL_VIEW_COLUMN_RICHER = ("nullable", "comment", "default")


@pytest.mark.mysql
async def test_mysql_fast_path_matches_generic_on_the_fixture(engine_for: Any) -> None:
    assert MYSQL_URL
    with mysql_catalog(MYSQL_URL) as cat:
        engine = engine_for(cat.url)
        assert type(select_reader(engine, "x")).__name__ == "MySQLCatalogReader"
        fast, generic = await compare(engine, cat)
    assert len(fast) > 30
    assert all(r["native_type"] for r in fast if r["kind"] == "column"), "COLUMN_TYPE, in both readers"
    views = {r["qualified_name"] for r in fast if r["kind"] == "table" and r["table_type"] == "view"}
    assert views
    richer = []
    for f, g in zip(fast, generic, strict=True):
        if f["kind"] == "column" and f["table"] in views:
            richer += [(f["qualified_name"], k) for k in MYSQL_VIEW_COLUMN_RICHER if f[k] != g[k]]
            f = {k: v for k, v in f.items() if k not in MYSQL_VIEW_COLUMN_RICHER}
            g = {k: v for k, v in g.items() if k not in MYSQL_VIEW_COLUMN_RICHER}
        assert f == g
    # big_orders.id is NOT NULL in information_schema; DESCRIBE-based reflection says nullable
    assert any(field == "nullable" for _, field in richer)


MYSQL_INDEX_DDL = (
    "CREATE TABLE {db}.docs (id int PRIMARY KEY, body text, place point NOT NULL,"
    " FULLTEXT INDEX ft_body (body), SPATIAL INDEX sp_place (place)) ENGINE=InnoDB",
    "CREATE TABLE {db}.cache (k int, v int, INDEX ix_k USING HASH (k)) ENGINE=MEMORY",
)


@pytest.mark.mysql
@pytest.mark.filterwarnings("ignore:Did not recognize type 'point'")  # the generic reader's, for the spatial column
async def test_mysql_index_methods(engine_for: Any) -> None:
    """FULLTEXT and SPATIAL read alike; only the fast path sees a MEMORY table's HASH (see sources/mysql.py)."""
    assert MYSQL_URL
    name = f"xi_{uuid.uuid4().hex[:8]}"
    with mysql_databases(MYSQL_URL, name):
        engine = engine_for(MYSQL_URL)
        async with engine.begin() as conn:
            for statement in MYSQL_INDEX_DDL:
                await conn.exec_driver_sql(statement.format(db=my_ident(name)))
        fast, generic = await compare(engine, Catalog(MYSQL_URL, f"^{name}$", {}, (name, name)))
    methods = {r["name"]: r["method"] for r in fast if r["kind"] == "index"}
    assert methods == {"ft_body": "fulltext", "sp_place": "spatial", "ix_k": "hash"}
    assert {r["name"]: r["method"] for r in generic if r["kind"] == "index"} == {**methods, "ix_k": "btree"}


@pytest.mark.mysql
async def test_mysql_wide_table_is_read_whole(engine_for: Any) -> None:
    """The fast path packs a table's columns into one GROUP_CONCAT, which MySQL cuts at 1,024 bytes by default."""
    assert MYSQL_URL
    name = f"xw_{uuid.uuid4().hex[:8]}"
    width = 60  # x a 40-character comment: some 6 kB of JSON for one table
    columns = ", ".join(f"c{i:02d} int COMMENT '{i:02d}{'w' * 38}'" for i in range(width))
    odd = 'quote " backslash \\ newline \n tab \t ünï テ'  # what JSON must escape, as MariaDB stores it
    columns += ", `odd` int COMMENT '" + odd.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t") + "'"
    with mysql_databases(MYSQL_URL, name):
        # MySQL's default cap on every connection (MariaDB's is 1 MiB): the reader must lift it
        engine = engine_for(MYSQL_URL, connect_args={"init_command": "SET SESSION group_concat_max_len = 1024"})
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f"CREATE TABLE {my_ident(name)}.wide ({columns})")
        fast, generic = await compare(engine, Catalog(MYSQL_URL, f"^{name}$", {}, (name, name)))
    assert fast == generic
    read = [(r["ordinal"], r["name"], r["comment"][:2]) for r in fast if r["kind"] == "column" and r["name"] != "odd"]
    assert sorted(read) == [(i + 1, f"c{i:02d}", f"{i:02d}") for i in range(width)]
    assert [r["comment"] for r in fast if r["name"] == "odd"] == [odd]
# <<< variant
