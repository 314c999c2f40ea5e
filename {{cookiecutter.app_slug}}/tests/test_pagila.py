"""Pagila, a real public schema, against ``pg_catalog``: every count and every link must match.

Pagila (``tests/pagila``) has 14 tables, a table partitioned into 55 partitions,
views, a materialized view, serial sequences, an enum and domains. The test
loads it (plus ``catalogs.PAGILA_EXTRA``: comments, a partial index) into a
fresh database, extracts it, and asks ``pg_catalog`` itself what the output must
hold, so the expectation is the server's word, not ours.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.sources.records import qualify

from .catalogs import _plain, pagila_ddl, postgres_catalog
from .conftest import POSTGRES_URL
from .harness import extract

pytestmark = pytest.mark.postgresql

# The user's schemas, as the app chooses them (sql.SYSTEM_SCHEMAS).
USER = "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"
RELATIONS = f"pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER}"
CONSTRAINTS = ("pg_constraint k JOIN pg_class c ON c.oid = k.conrelid"
               f" JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER}")
# Count word of the summary -> the pg_catalog query that must give the same number.
COUNTS = {
    "schemas": f"SELECT count(*) FROM pg_namespace n WHERE {USER}",
    "tables": f"SELECT count(*) FROM {RELATIONS} AND c.relkind IN ('r', 'p', 'f')",
    "views": f"SELECT count(*) FROM {RELATIONS} AND c.relkind IN ('v', 'm')",
    "columns": f"SELECT count(*) FROM pg_attribute a JOIN {RELATIONS.replace('WHERE', 'ON a.attrelid = c.oid WHERE')}"
               " AND c.relkind IN ('r', 'p', 'f', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped",
    "primary_keys": f"SELECT count(*) FROM {CONSTRAINTS} AND k.contype = 'p'",
    "foreign_keys": f"SELECT count(*) FROM {CONSTRAINTS} AND k.contype = 'f'",
    "unique_constraints": f"SELECT count(*) FROM {CONSTRAINTS} AND k.contype = 'u'",
    "check_constraints": f"SELECT count(*) FROM {CONSTRAINTS} AND k.contype = 'c'",
    "indexes": f"SELECT count(*) FROM pg_index i JOIN {RELATIONS.replace('WHERE', 'ON i.indrelid = c.oid WHERE')}"
               " AND NOT i.indisprimary",
    "sequences": f"SELECT count(*) FROM {RELATIONS} AND c.relkind = 'S'",
    "types": f"SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
             f" WHERE {USER} AND t.typtype IN ('e', 'd')",
}
TABLE_TYPES = {"r": "table", "p": "partitioned_table", "f": "foreign_table", "v": "view", "m": "materialized_view"}
COMMENTS = f"""
SELECT count(*) FROM pg_description d WHERE d.classoid = 'pg_namespace'::regclass
  AND d.objoid IN (SELECT n.oid FROM pg_namespace n WHERE {USER})
UNION ALL SELECT count(*) FROM pg_description d JOIN {RELATIONS.replace('WHERE', 'ON d.objoid = c.oid WHERE')}
  AND d.classoid = 'pg_class'::regclass
UNION ALL SELECT count(*) FROM pg_description d JOIN pg_type t ON t.oid = d.objoid
  JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {USER} AND d.classoid = 'pg_type'::regclass
"""


async def catalog_truth(url: str) -> dict[str, Any]:
    """What pg_catalog says the output must hold."""
    conn = await asyncpg.connect(_plain(url))
    try:
        counts = {word: await conn.fetchval(query) for word, query in COUNTS.items()}
        kinds = Counter({TABLE_TYPES[k]: n for k, n in await conn.fetch(
            f"SELECT c.relkind::text, count(*) FROM {RELATIONS} AND c.relkind IN ('r', 'p', 'f', 'v', 'm')"
            " GROUP BY 1")})
        parents = {(n, c): (pn, pc, bound) for n, c, pn, pc, bound in await conn.fetch(
            f"SELECT n.nspname, c.relname, pn.nspname, p.relname, pg_get_expr(c.relpartbound, c.oid) FROM {RELATIONS}"
            " AND c.relispartition AND c.relkind IN ('r', 'p')".replace(
                "WHERE", "JOIN pg_inherits i ON i.inhrelid = c.oid JOIN pg_class p ON p.oid = i.inhparent"
                         " JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE", 1))}
        predicates = {name: pred for name, pred in await conn.fetch(
            "SELECT c.relname, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indpred IS NOT NULL")}
        owners = {name: owner for name, owner in await conn.fetch(
            f"SELECT c.relname, (SELECT a.attname::text FROM pg_depend d JOIN pg_attribute a"
            "  ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
            "  WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype = 'a')"
            f" FROM {RELATIONS} AND c.relkind = 'S'")}
        comments = sum([row[0] for row in await conn.fetch(COMMENTS)])
    finally:
        await conn.close()
    return {"counts": counts, "table_types": kinds, "parents": parents, "predicates": predicates,
            "comments": comments, "owners": owners}


async def test_pagila_matches_pg_catalog(temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore) -> None:
    assert POSTGRES_URL
    async with postgres_catalog(POSTGRES_URL, pagila_ddl()) as cat:
        truth = await catalog_truth(cat.url)
        run = await extract(temporal.client, cat.url, tmp_path / "out", state, batch_size=9, slice_size=30)
    db = run.summary.database
    assert truth["counts"]["tables"] == 70 and truth["parents"], "Pagila did not load as expected"
    assert run.summary.counts == truth["counts"]
    assert run.manifest["counts"] == truth["counts"]
    assert run.duplicates() == [] and run.invalid_records() == []

    tables = run.of_kind("table").values()
    assert Counter(t["table_type"] for t in tables) == truth["table_types"]
    parents = {(t["schema"], t["name"]): (t["partition_of"], t["partition_bound"]) for t in tables if t["partition_of"]}
    assert parents == {table: (qualify(db, schema, parent), bound)
                       for table, (schema, parent, bound) in truth["parents"].items()}
    (payment,) = [t for t in tables if t["table_type"] == "partitioned_table"]
    assert payment["name"] == "payment" and payment["partition_key"] == "RANGE (payment_date)"

    indexes = {r["name"]: r for r in run.of_kind("index").values()}
    assert {name: indexes[name]["predicate"] for name in truth["predicates"]} == truth["predicates"]
    assert indexes["film_one_title_per_year"]["unique"] is True
    assert all(ix["predicate"] is None for name, ix in indexes.items() if name not in truth["predicates"])

    assert sum(1 for r in run.records if r.get("comment") is not None) == truth["comments"] == 6
    sequences = {r["name"]: r for r in run.of_kind("sequence").values()}
    film = qualify(db, "public", "film")
    assert {name: s["owned_by"] for name, s in sequences.items()} == {
        name: f'{film}."{column}"' if column else None for name, column in truth["owners"].items()}
    assert truth["owners"]["film_film_id_seq"] == "film_id"
    assert sequences["film_film_id_seq"]["comment"] == "Film ids"
    types = {r["name"]: r for r in run.of_kind("type").values()}
    assert types["mpaa_rating"]["values"] == ["G", "PG", "PG-13", "R", "NC-17"]
    assert types["year"]["base_type"] == "integer" and types["year"]["checks"] == [
        "CHECK (VALUE >= 1901 AND VALUE <= 2155)"]
