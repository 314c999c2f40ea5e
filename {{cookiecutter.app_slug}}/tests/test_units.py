"""Unit tests for the pure pieces: settings, secrets, counts, records, slice and batch planning, read-ahead."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from {{ cookiecutter.package_name }}.engine import sink
from {{ cookiecutter.package_name }}.engine.activities import checked_size, read_ahead
from {{ cookiecutter.package_name }}.engine.batches import plan_batches
from {{ cookiecutter.package_name }}.engine.models import PreflightResult, SchemaInfo
from {{ cookiecutter.package_name }}.engine.workflows import plan_slices
from {{ cookiecutter.package_name }}.runtime.config import ConfigError, Settings
from {{ cookiecutter.package_name }}.runtime.secrets import (
    SourceConfigError,
    redact,
    resolve_source_url,
    resolve_state_store_url,
)
from {{ cookiecutter.package_name }}.sources.records import qualify
from {{ cookiecutter.package_name }}.sources.sql import TableRef


def test_settings_read_env_over_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("BATCH_SIZE=50\nTASK_QUEUE=from-dotenv\n")
    settings = Settings.from_env({"TASK_QUEUE": "from-env"}, dotenv_path=dotenv)
    assert settings.batch_size == 50
    assert settings.task_queue == "from-env"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BATCH_SIZE": "many"}, "BATCH_SIZE must be an integer"),
        ({"BATCH_SIZE": "0"}, "BATCH_SIZE must be >= 1"),
        ({"BATCH_SIZE": "500", "SLICE_SIZE": "100"}, "SLICE_SIZE (100) must be >= BATCH_SIZE (500)"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be 'console' or 'json'"),
        ({"SLICES_PER_CHILD": "5000"}, "SLICES_PER_CHILD must be <= 1000"),
    ],
)
def test_settings_reject_bad_values_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env(env, dotenv_path=None)


def test_source_url_from_env_then_secret_file_with_password_injected(tmp_path: Path) -> None:
    env = {"SOURCE_SALES_DSN": "postgresql://reader@db:5432/sales"}
    url = resolve_source_url("sales", env, tmp_path)
    assert url.drivername == "postgresql+asyncpg"
    assert url.password is None

    (tmp_path / "SOURCE_HR_DSN").write_text("mysql://reader@db/hr\n")
    (tmp_path / "SOURCE_HR_PASSWORD").write_text("s3cr3t\n")
    url = resolve_source_url("hr", {}, tmp_path)
    assert url.drivername == "mysql+aiomysql"
    assert url.password == "s3cr3t"


def test_state_store_password_comes_from_the_secret_file(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://extractor@state-db:5432/extractor_state"
    assert resolve_state_store_url(url, {}, tmp_path) == url
    (tmp_path / "STATE_STORE_PASSWORD").write_text("p@ss:w/rd\n")
    resolved = resolve_state_store_url(url, {}, tmp_path)
    assert resolved.startswith("postgresql+asyncpg://extractor:")
    from sqlalchemy.engine import make_url

    assert make_url(resolved).password == "p@ss:w/rd"


def test_unconfigured_or_invalid_source_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError, match="set SOURCE_MISSING_DSN or create the file"):
        resolve_source_url("missing", {}, tmp_path)
    with pytest.raises(SourceConfigError, match="is invalid"):
        resolve_source_url("../etc", {}, tmp_path)
    with pytest.raises(SourceConfigError, match="unsupported database 'oracle'"):
        resolve_source_url("x", {"SOURCE_X_DSN": "oracle://u:p@h/db"}, tmp_path)


def test_redact_hides_passwords_in_dsns_and_given_secrets() -> None:
    text = "connect postgresql://bob:hunter2@db:5432/x failed; token=abc123"
    redacted = redact(text, "abc123")
    assert "hunter2" not in redacted and "abc123" not in redacted
    assert "postgresql://bob:***@db:5432/x" in redacted


def test_qualified_names_cannot_collide_on_dots_or_quotes() -> None:
    assert qualify("db", "a.b", "c") != qualify("db", "a", "b.c")
    assert qualify("db", 'say "hi"') == '"db"."say ""hi"""'


def test_views_are_counted_apart_from_tables() -> None:
    counts = sink.count([
        {"kind": "table", "table_type": "view"},
        {"kind": "table", "table_type": "materialized_view"},
        {"kind": "table", "table_type": "partitioned_table"},
        {"kind": "column"},
    ])
    assert (counts.tables, counts.views, counts.columns) == (1, 2, 1)


def test_preflight_refuses_a_schema_list_too_big_for_a_payload() -> None:
    def result(schemas: int) -> PreflightResult:
        names = [SchemaInfo(name=f"tenant_{n:06d}_{'x' * 40}", tables=10) for n in range(schemas)]
        return PreflightResult(database="db", dialect="postgresql", server_version="16", schemas=names)

    assert checked_size(result(1000)).schemas[0].name.startswith("tenant_000000")
    with pytest.raises(ApplicationError, match="narrow --schemas") as raised:
        checked_size(result(5000))
    assert raised.value.non_retryable and raised.value.type == "InvalidRequest"


def test_plan_slices_splits_big_schemas_and_keeps_empty_ones() -> None:
    slices = plan_slices([SchemaInfo(name="big", tables=5), SchemaInfo(name="empty", tables=0)], 2)
    assert [(s.index, s.schemas, s.start, s.stop) for s in slices] == [
        (0, ["big"], 0, 2), (1, ["big"], 2, 4), (2, ["big", "empty"], 4, None),
    ]


def test_plan_slices_packs_small_schemas_so_activities_follow_the_table_count() -> None:
    schemas = [SchemaInfo(name=f"s{n:02d}", tables=100) for n in range(50)]
    slices = plan_slices(schemas, 2000)
    assert [(s.schemas[0], s.start, s.schemas[-1], s.stop) for s in slices] == [
        ("s00", 0, "s16", 67), ("s16", 67, "s33", 34), ("s33", 34, "s49", None),
    ]
    mixed = [SchemaInfo(name="a", tables=3), SchemaInfo(name="b", tables=0), SchemaInfo(name="c", tables=4),
             SchemaInfo(name="d", tables=2)]
    assert [s.ranges() for s in plan_slices(mixed, 4)] == [  # 9 tables: 3 slices of 3; empty b rides along
        [("a", 0, None), ("b", 0, None)], [("c", 0, 3)], [("c", 3, None), ("d", 0, None)],
    ]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_slices_and_batches_cover_every_table_once_and_every_schema_record_once(size: int, batch_size: int) -> None:
    counts = {"a": 3, "b": 0, "c": 7, "d": 1, "e": 0}
    listing = {name: [TableRef(f"t{n}", "table") for n in range(count)] for name, count in counts.items()}
    tables, schema_records, slice_sizes = [], [], []
    for ref in plan_slices([SchemaInfo(name=k, tables=v) for k, v in counts.items()], size):
        batches = plan_batches(ref, listing, batch_size)
        assert batches and all(b.tables <= batch_size for b in batches)
        assert sum(b.tables for b in batches) <= size
        slice_sizes.append(sum(b.tables for b in batches))
        for batch in batches:
            tables += [(g.schema, t.name) for g in batch.groups for t in g.tables]
            schema_records += batch.new_schemas
    assert tables == [(name, t.name) for name, found in listing.items() for t in found]
    assert schema_records == list(counts)
    assert max(slice_sizes) - min(slice_sizes) <= 1  # even slices end together


def test_batches_pick_up_tables_added_after_planning_at_the_end_of_a_schema() -> None:
    ref = plan_slices([SchemaInfo(name="s", tables=2)], 10)[0]
    grown = {"s": [TableRef(name, "table") for name in ("a", "b", "c")]}
    assert [[t.name for g in b.groups for t in g.tables] for b in plan_batches(ref, grown, 2)] == [["a", "b"], ["c"]]


async def test_read_ahead_reads_the_next_batch_while_this_one_is_handled() -> None:
    started: list[int] = []

    async def read(n: int) -> str:
        started.append(n)
        await asyncio.sleep(0)
        return f"batch {n}"

    seen = []
    async for n, found in read_ahead(read, range(2, 5)):
        await asyncio.sleep(0.01)  # writing batch n: batch n + 1 is already being read
        assert started == list(range(2, min(n + 2, 5))), (n, started)
        seen.append((n, found))
    assert seen == [(2, "batch 2"), (3, "batch 3"), (4, "batch 4")]


async def test_closing_read_ahead_cancels_the_read_in_flight() -> None:
    cancelled = asyncio.Event()

    async def read(n: int) -> int:
        if n == 1:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise
        return n

    handled = []
    reads = read_ahead(read, range(3))
    async with contextlib.aclosing(reads):
        async for n, _ in reads:
            handled.append(n)
            await asyncio.sleep(0.01)  # batch 1 is now being read
            break  # e.g. writing batch 0 failed
    assert handled == [0] and cancelled.is_set()
