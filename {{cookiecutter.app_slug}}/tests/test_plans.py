"""Plans by name, and reruns that resume: the catalog may change under a run, and runs may fail.

A slice holds table *names* fixed at planning. Tables created later are left
out, planned tables dropped before they are read are listed as vanished,
and no record is written twice. A rerun of a terminated, cancelled or failed
run with the same workflow id resumes what it wrote, unless its plan changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.models import ExtractionRequest, ExtractionSummary
from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.engine.workflows import ExtractionWorkflow
from {{ cookiecutter.package_name }}.runtime.runs import build_request

from .catalogs import _plain, postgres_database
from .conftest import POSTGRES_URL
from .harness import Run, extract, load
from .live import live_worker
from .processes import checkpoints, run_key

pytestmark = pytest.mark.postgresql

SCHEMAS, PER_SCHEMA = 5, 1000
LAYOUT: dict[str, Any] = {"batch_size": 50, "slice_size": 500, "max_parallel_slices": 2}


def qualified(database: str, schema: str, table: str) -> str:
    return f'"{database}"."{schema}"."{table}"'


async def create_tables(url: str, names: list[tuple[str, str]]) -> None:
    conn = await asyncpg.connect(_plain(url))
    try:
        for first in range(0, len(names), 250):  # a few hundred per transaction: each table takes locks
            async with conn.transaction():
                await conn.execute("\n".join(f"CREATE TABLE {s}.{t} (id bigint PRIMARY KEY, n int NOT NULL);"
                                             for s, t in names[first:first + 250]))
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def many_tables(schemas: int = SCHEMAS, per_schema: int = PER_SCHEMA) -> AsyncIterator[str]:
    """A fresh database with ``schemas`` x ``per_schema`` small tables ``s<N>.t<NNNN>``."""
    assert POSTGRES_URL
    async with postgres_database(POSTGRES_URL) as url:
        conn = await asyncpg.connect(_plain(url))
        try:
            await conn.execute(" ".join(f"CREATE SCHEMA s{s};" for s in range(schemas)) + " DROP SCHEMA public;")
        finally:
            await conn.close()
        await create_tables(url, [(f"s{s}", f"t{t:04d}") for s in range(schemas) for t in range(per_schema)])
        yield url


def table_names(run: Run) -> Counter[str]:
    return Counter(r["qualified_name"] for r in run.records if r["kind"] == "table")


async def churn(url: str, planned: list[tuple[str, str]], every: float) -> list[tuple[str, str]]:
    """Until cancelled: drop one of ``planned`` and create a new table, every ``every`` seconds.

    Returns the tables it created. New names sort between stable ones, inside
    the slices being read, so a plan by position would shift.
    """
    created: list[tuple[str, str]] = []
    conn = await asyncpg.connect(_plain(url))
    try:
        for n in range(len(planned)):
            schema, table = planned[n]
            new = (f"s{n % SCHEMAS}", f"t{(n * 37) % PER_SCHEMA:04d}_new{n}")
            await conn.execute(f"DROP TABLE {schema}.{table}; CREATE TABLE {new[0]}.{new[1]} (id int PRIMARY KEY);")
            created.append(new)
            await asyncio.sleep(every)
    except asyncio.CancelledError:
        pass
    finally:
        await conn.close()
    return created


async def test_tables_created_and_dropped_during_a_run_never_shift_or_duplicate_work(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    async with many_tables() as url:
        database = url.rpartition("/")[2]
        # Planned, then dropped during the run: spread over every slice, in name order.
        doomed = [(f"s{n % SCHEMAS}", f"t{(n * 53) % PER_SCHEMA:04d}_doomed") for n in range(60)]
        await create_tables(url, doomed)
        async with live_worker(temporal.client, state, url, delay=0.05, output=tmp_path / "out", **LAYOUT) as (
            settings, _
        ):
            handle = await temporal.client.start_workflow(
                ExtractionWorkflow.run, build_request(settings, "test", None), id=f"churn-{uuid.uuid4().hex}",
                task_queue=settings.task_queue,
            )
            await wait_for_pages(state, handle, 1)
            churning = asyncio.ensure_future(churn(url, doomed, every=0.2))
            summary = await handle.result()
            churning.cancel()
            created = await churning
        run = load(summary)

    assert run.duplicates() == []
    found = table_names(run)
    stable = {qualified(database, f"s{s}", f"t{t:04d}") for s in range(SCHEMAS) for t in range(PER_SCHEMA)}
    assert stable - set(found) == set(), "a stable table is missing"
    vanished = {(schema, name) for schema, names in run.manifest["vanished"].items() for name in names}
    read = {(s, t) for s, t in doomed if qualified(database, s, t) in found}
    assert vanished | read == set(doomed) and not vanished & read, "a planned table was neither read nor listed"
    assert vanished, "the churn dropped no table before it was read: the test proves nothing"
    assert not {qualified(database, s, t) for s, t in created} & set(found), "a table created after planning was read"
    assert summary.vanished == len(vanished)
    print(f"\nchurn: {len(created)} created and {len(created)} dropped during the run; "
          f"{len(vanished)} planned tables vanished, {len(read)} read before their drop; "
          f"{len(found)} tables, 0 duplicates")


async def wait_for_pages(state: StateStore, handle: WorkflowHandle[ExtractionWorkflow, ExtractionSummary],
                         pages: int) -> int:
    """Block until the run has checkpointed at least ``pages`` pages; return how many."""
    for _ in range(1200):
        done = sum(len(c.parts) for c in (await checkpoints(state, run_key(handle))).values())
        if done >= pages:
            return done
        await asyncio.sleep(0.05)
    raise TimeoutError(f"fewer than {pages} pages checkpointed within 60 s")


async def start(client: Client, task_queue: str, workflow_id: str,
                request: ExtractionRequest) -> WorkflowHandle[ExtractionWorkflow, ExtractionSummary]:
    return await client.start_workflow(ExtractionWorkflow.run, request, id=workflow_id, task_queue=task_queue)


@pytest.mark.parametrize("stop", ["terminate", "cancel"])
async def test_a_rerun_with_the_same_workflow_id_resumes_what_was_written(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore, stop: str
) -> None:
    workflow_id = f"resume-{stop}-{uuid.uuid4().hex}"
    async with many_tables(2, 1000) as url:
        async with live_worker(temporal.client, state, url, delay=0.05, output=tmp_path / "out", **LAYOUT) as (
            settings, _
        ):
            request = build_request(settings, "test", None)
            handle = await start(temporal.client, settings.task_queue, workflow_id, request)
            written = await wait_for_pages(state, handle, 6)
            if stop == "terminate":
                await handle.terminate("test: the run dies")
            else:
                await handle.cancel()
                with contextlib.suppress(Exception):
                    await handle.result()
            rerun = await temporal.client.execute_workflow(
                ExtractionWorkflow.run, request, id=workflow_id, task_queue=settings.task_queue)
        clean = await extract(temporal.client, url, tmp_path / "clean", state, **LAYOUT)

    assert rerun.resumed_batches >= written, (rerun.resumed_batches, written)
    assert rerun.resumed_batches < 40, "everything was resumed: the first run was not stopped mid-way"
    resumed = load(rerun)
    assert resumed.duplicates() == []
    assert sorted(resumed.records, key=repr) == sorted(clean.records, key=repr)
    assert resumed.manifest["resumed_batches"] == rerun.resumed_batches
    print(f"\nrerun after {stop}: resumed_batches={rerun.resumed_batches} of 40, output identical to a clean run")


async def test_a_rerun_starts_clean_when_the_plan_changed_or_the_run_had_finished(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    workflow_id = f"replan-{uuid.uuid4().hex}"
    async with (
        many_tables(2, 1000) as url,
        live_worker(temporal.client, state, url, delay=0.05, output=tmp_path / "out", **LAYOUT) as (settings, _),
    ):
        request = build_request(settings, "test", None)
        handle = await start(temporal.client, settings.task_queue, workflow_id, request)
        await wait_for_pages(state, handle, 4)
        await handle.terminate("test: the run dies")
        await create_tables(url, [("s0", "t0000_added")])
        replanned = await temporal.client.execute_workflow(
            ExtractionWorkflow.run, request, id=workflow_id, task_queue=settings.task_queue)
        again = await temporal.client.execute_workflow(
            ExtractionWorkflow.run, request, id=workflow_id, task_queue=settings.task_queue)

    assert replanned.resumed_batches == 0
    assert "had another plan: starting clean" in caplog.text
    assert any(name.endswith('"t0000_added"') for name in table_names(load(replanned)))
    assert again.resumed_batches == 0, "a finished run was resumed instead of extracted afresh"
    assert load(again).records == load(replanned).records
