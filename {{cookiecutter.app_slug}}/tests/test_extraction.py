"""End to end on a real Temporal server: output must match the fixture catalog."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.sink import read_url
from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.sources.records import qualify

from .catalogs import (
    Catalog,
    mysql_catalog,  # variant: source=mysql
    postgres_catalog,  # variant: source=postgresql
    sqlite_catalog,
)
# >>> variant: source=postgresql,mysql
from .conftest import (
    MYSQL_URL,  # variant: source=mysql
    POSTGRES_URL,  # variant: source=postgresql
)
# <<< variant
from .harness import extract

DIALECTS = [
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.postgresql),  # variant: source=postgresql
    pytest.param("mysql", marks=pytest.mark.mysql),  # variant: source=mysql
]


@pytest.fixture(params=DIALECTS)
async def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Catalog]:
    # >>> variant: source=postgresql
    if request.param == "postgresql":
        assert POSTGRES_URL
        async with postgres_catalog(POSTGRES_URL) as cat:
            yield cat
        return
    # <<< variant
    # >>> variant: source=mysql
    if request.param == "mysql":
        assert MYSQL_URL
        with mysql_catalog(MYSQL_URL) as cat:
            yield cat
        return
    # <<< variant
    with sqlite_catalog(tmp_path) as cat:
        yield cat


async def test_extraction_matches_fixture(
    temporal: WorkflowEnvironment, catalog: Catalog, tmp_path: Path, state: StateStore
) -> None:
    run = await extract(temporal.client, catalog.url, tmp_path / "out", state,
                        schemas=catalog.schema_pattern, batch_size=2, slice_size=2)

    assert run.summary.counts == catalog.counts
    assert run.manifest["counts"] == catalog.counts
    assert run.invalid_records() == []
    db = run.summary.database
    sales, hr = catalog.schema_names

    columns = run.of_kind("column")
    employees = sorted(
        (c for c in columns.values() if c["table"] == qualify(db, hr, "employees")),
        key=lambda c: c["ordinal"],
    )
    assert [(c["name"], c["ordinal"], c["nullable"]) for c in employees] == [
        ("id", 1, False), ("department_id", 2, False), ("email", 3, False), ("salary", 4, True),
    ]
    assert "VARCHAR(200)" in employees[2]["data_type"].upper()

    fks = run.of_kind("foreign_key")
    orders_fk = [fk for fk in fks.values() if fk["table"] == qualify(db, sales, "orders")]
    assert len(orders_fk) == 1
    assert orders_fk[0]["columns"] == ["customer_id"]
    assert orders_fk[0]["referred_table"] == qualify(db, sales, "customers")
    assert orders_fk[0]["referred_columns"] == ["id"]
    assert orders_fk[0]["on_delete"] == "CASCADE"

    (check,) = run.of_kind("check_constraint").values()
    assert check["table"] == qualify(db, hr, "employees") and "> 0" in check["expression"]

    tables = run.of_kind("table")
    assert tables[qualify(db, sales, "big_orders")]["table_type"] == "view"
    assert "1000" in (tables[qualify(db, sales, "big_orders")]["view_definition"] or "")


async def test_every_record_key_is_unique_and_parts_match_checksums(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    with sqlite_catalog(tmp_path) as cat:
        run = await extract(temporal.client, cat.url, tmp_path / "out", state, batch_size=1)
    keys = Counter((r["kind"], r["qualified_name"]) for r in run.records)
    assert keys.most_common(1)[0][1] == 1
    folder = run.summary.manifest.rpartition("/")[0]
    for part in run.manifest["parts"]:
        data = read_url(f"{folder}/{part['path']}")
        assert hashlib.sha256(data).hexdigest() == part["sha256"]
        assert data.count(b"\n") == part["records"]


# >>> variant: source=postgresql
@pytest.mark.postgresql
async def test_postgres_comments_kinds_and_partitions(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    assert POSTGRES_URL
    async with postgres_catalog(POSTGRES_URL) as cat:
        run = await extract(temporal.client, cat.url, tmp_path / "out", state)
    db = run.summary.database
    tables = run.of_kind("table")
    assert tables[qualify(db, "hr", "employees")]["comment"] == "People on payroll"
    assert tables[qualify(db, "sales", "order_counts")]["table_type"] == "materialized_view"
    assert tables[qualify(db, "sales", "events")]["table_type"] == "partitioned_table"
    assert tables[qualify(db, "sales", "events_2026")]["table_type"] == "table"
    email = run.of_kind("column")[qualify(db, "hr", "employees", "email")]
    assert email["comment"] == "Work e-mail"
    assert {r["name"] for r in run.records if r["kind"] == "schema"} == {"sales", "hr", "empty_schema"}


@pytest.mark.postgresql
async def test_postgres_200_tables_in_4_schemas(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    """Exactly 200 table records with the right column counts, through 3 child workflows."""
    assert POSTGRES_URL
    ddl = ["DROP SCHEMA public;"]
    expected: dict[tuple[str, str], int] = {}
    for s in range(4):
        ddl.append(f"CREATE SCHEMA s{s};")
        for t in range(50):
            width = 2 + (s * 50 + t) % 9
            cols = ", ".join(["id bigint PRIMARY KEY"] + [f"c{i} text" for i in range(1, width)])
            ddl.append(f"CREATE TABLE s{s}.t{t:03d} ({cols});")
            expected[(f"s{s}", f"t{t:03d}")] = width
    async with postgres_catalog(POSTGRES_URL, "\n".join(ddl)) as cat:
        run = await extract(temporal.client, cat.url, tmp_path / "out", state,
                            batch_size=16, slice_size=32, slices_per_child=3)
    db = run.summary.database
    tables = run.of_kind("table")
    assert len(tables) == 200
    per_table = Counter(c["table"] for c in run.of_kind("column").values())
    assert {k: per_table[qualify(db, *k)] for k in expected} == expected
    assert run.summary.counts["tables"] == 200
    assert run.summary.counts["schemas"] == 4
# <<< variant
