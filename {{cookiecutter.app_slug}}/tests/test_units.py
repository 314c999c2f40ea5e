"""Unit tests for the pure pieces: settings, secrets, counts, records, slice and batch planning, read-ahead."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from {{ cookiecutter.package_name }}.engine.activities import checked_size, read_ahead
from {{ cookiecutter.package_name }}.engine.models import ExtractionRequest, PlanResult
from {{ cookiecutter.package_name }}.engine.plan import fingerprint, plan_slices, slice_refs
from {{ cookiecutter.package_name }}.runtime.config import ConfigError, Settings
from {{ cookiecutter.package_name }}.runtime.runs import build_request
from {{ cookiecutter.package_name }}.runtime.secrets import (
    SourceConfigError,
    redact,
    resolve_source_url,
    resolve_state_store_url,
)
from {{ cookiecutter.package_name }}.sources.base import Group, SourceInfo, Work
from {{ cookiecutter.package_name }}.sources.catalog import CatalogSource, plan_batches, tally
from {{ cookiecutter.package_name }}.sources.records import qualify
from {{ cookiecutter.package_name }}.sources.registry import open_source


def test_settings_read_options_then_env_then_secret_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "TASK_QUEUE").write_text("from-file\n")
    (tmp_path / "BATCH_SIZE").write_text("50\n")
    (tmp_path / "SLICE_SIZE").write_text("60\n")
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("BATCH_SIZE", "40")
    settings = Settings.load(slice_size=70)
    assert (settings.task_queue, settings.batch_size, settings.slice_size) == ("from-file", 40, 70)
    assert Settings.defaults().batch_size == 500  # no environment read


def test_request_defaults_are_the_settings_defaults() -> None:
    # The tuning defaults live twice (the settings, the workflow input); a run started without
    # the CLI, as tests and scripts do, must tune like one the CLI starts.
    assert build_request(Settings.defaults(), "default", None) == ExtractionRequest()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BATCH_SIZE": "many"}, "BATCH_SIZE must be a valid integer, unable to parse string as an integer, "
                                 "got 'many'"),
        ({"BATCH_SIZE": "0"}, "BATCH_SIZE must be greater than or equal to 1, got '0'"),
        ({"BATCH_SIZE": "500", "SLICE_SIZE": "100"}, "SLICE_SIZE (100) must be >= BATCH_SIZE (500)"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be 'console' or 'json', got 'xml'"),
        ({"SLICES_PER_CHILD": "5000"}, "SLICES_PER_CHILD must be less than or equal to 1000"),
        ({"TEMPORAL_API_KEY_FILE": "/nonexistent/key"}, "TEMPORAL_API_KEY_FILE must be an existing file"),
        ({"OUTPUT_DIR": "/old"}, "OUTPUT_DIR was renamed to OUTPUT_URL"),
    ],
)
def test_settings_reject_bad_values_naming_the_variable(
    env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OUTPUT_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.load()


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
    with pytest.raises(SourceConfigError, match="SOURCE_X_DSN: no source for the scheme 'oracle'; this app knows"):
        open_source("x", "oracle://u:p@h/db", None, Settings.defaults())


def test_redact_hides_passwords_in_dsns_and_given_secrets() -> None:
    text = "connect postgresql://bob:hunter2@db:5432/x failed; token=abc123"
    redacted = redact(text, "abc123")
    assert "hunter2" not in redacted and "abc123" not in redacted
    assert "postgresql://bob:***@db:5432/x" in redacted


def test_qualified_names_cannot_collide_on_dots_or_quotes() -> None:
    assert qualify("db", "a.b", "c") != qualify("db", "a", "b.c")
    assert qualify("db", 'say "hi"') == '"db"."say ""hi"""'


def test_views_are_counted_apart_from_tables() -> None:
    counts = tally([
        {"kind": "table", "table_type": "view"},
        {"kind": "table", "table_type": "materialized_view"},
        {"kind": "table", "table_type": "partitioned_table"},
        {"kind": "column"},
    ])
    assert counts == {"tables": 1, "views": 2, "columns": 1}


def test_plan_refuses_a_schema_list_too_big_for_a_payload() -> None:
    def result(schemas: int) -> PlanResult:
        works = plan_slices([Group(name=f"tenant_{n:06d}_{'x' * 40}", items=["t"]) for n in range(schemas)], 1)
        return PlanResult(info=SourceInfo(name="db", system="postgresql", version="16"), fingerprint="f",
                          slices=slice_refs(works), groups=schemas, units=schemas, words=CatalogSource.vocabulary)

    assert checked_size(result(1000)).slices[0].groups[0].startswith("tenant_000000")
    with pytest.raises(ApplicationError, match="narrow --schemas") as raised:
        checked_size(result(5000))
    assert raised.value.non_retryable and raised.value.type == "InvalidRequest"


def names(n: int, prefix: str = "t") -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(n)]


def shape(works: list[Work]) -> list[list[tuple[str, int, bool]]]:
    """Each slice as (group, number of items, first) triples."""
    return [[(g.name, len(g.items), g.first) for g in w.groups] for w in works]


def test_plan_slices_splits_big_schemas_and_keeps_empty_ones() -> None:
    works = plan_slices([Group(name="big", items=names(5)), Group(name="empty")], 2)
    assert shape(works) == [[("big", 2, True)], [("big", 2, False)], [("big", 1, False), ("empty", 0, True)]]
    assert [i for w in works for g in w.groups for i in g.items] == names(5)  # names, in order, once


def test_plan_slices_packs_small_schemas_so_activities_follow_the_table_count() -> None:
    works = plan_slices([Group(name=f"s{n:02d}", items=names(100)) for n in range(50)], 2000)
    assert [(w.groups[0].name, w.groups[0].items[0], w.groups[-1].name, len(w.groups[-1].items)) for w in works] == [
        ("s00", "t000", "s16", 67), ("s16", "t067", "s33", 34), ("s33", "t034", "s49", 100),
    ]
    mixed = [Group(name="a", items=names(3)), Group(name="b"), Group(name="c", items=names(4)),
             Group(name="d", items=names(2))]
    assert shape(plan_slices(mixed, 4)) == [  # 9 tables: 3 slices of 3; empty b rides along
        [("a", 3, True), ("b", 0, True)], [("c", 3, True)], [("c", 1, False), ("d", 2, True)],
    ]


def test_whole_groups_get_a_slice_each() -> None:
    works = plan_slices([Group(name="users", whole=True), Group(name="s", items=names(3)),
                         Group(name="orders", whole=True)], 10)
    assert shape(works) == [[("s", 3, True)], [("users", 0, True)], [("orders", 0, True)]]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_slices_and_batches_cover_every_table_once_and_every_schema_record_once(size: int, batch_size: int) -> None:
    counts = {"a": 3, "b": 0, "c": 7, "d": 1, "e": 0}
    groups = [Group(name=name, items=names(count)) for name, count in counts.items()]
    tables, schema_records, slice_sizes = [], [], []
    for work in plan_slices(groups, size):
        batches = plan_batches(work, batch_size)
        assert batches and all(b.tables <= batch_size for b in batches)
        assert sum(b.tables for b in batches) <= size
        slice_sizes.append(sum(b.tables for b in batches))
        for batch in batches:
            tables += [(schema, t) for schema, found in batch.groups for t in found]
            schema_records += batch.new_schemas
    assert tables == [(g.name, t) for g in groups for t in g.items]
    assert schema_records == list(counts)
    assert max(slice_sizes) - min(slice_sizes) <= 1  # even slices end together


def test_the_plan_fingerprint_follows_names_and_page_size_only() -> None:
    works = plan_slices([Group(name="s", items=["a", "b"])], 10)
    request = ExtractionRequest(source="main")
    same = fingerprint(request, plan_slices([Group(name="s", items=["a", "b"])], 10))
    assert fingerprint(request, works) == same
    assert fingerprint(request.model_copy(update={"max_parallel_slices": 9}), works) == same
    assert fingerprint(request, plan_slices([Group(name="s", items=["a", "c"])], 10)) != same
    assert fingerprint(request.model_copy(update={"batch_size": 7}), works) != same


async def test_read_ahead_reads_the_next_batch_while_this_one_is_handled() -> None:
    started: list[int] = []

    async def read() -> AsyncIterator[str]:
        for n in range(2, 5):
            started.append(n)
            await asyncio.sleep(0)
            yield f"batch {n}"

    seen = []
    async for found in read_ahead(read()):
        await asyncio.sleep(0.01)  # writing batch n: batch n + 1 is already being read
        n = int(found.split()[1])
        assert started == list(range(2, min(n + 2, 5))), (n, started)
        seen.append(found)
    assert seen == ["batch 2", "batch 3", "batch 4"]


async def test_closing_read_ahead_cancels_the_read_in_flight() -> None:
    cancelled = asyncio.Event()

    async def read() -> AsyncIterator[int]:
        for n in range(3):
            if n == 1:
                try:
                    await asyncio.sleep(60)
                except asyncio.CancelledError:
                    cancelled.set()
                    raise
            yield n

    handled = []
    reads = read_ahead(read())
    async with contextlib.aclosing(reads):
        async for n in reads:
            handled.append(n)
            await asyncio.sleep(0.01)  # batch 1 is now being read
            break  # e.g. writing batch 0 failed
    assert handled == [0] and cancelled.is_set()
