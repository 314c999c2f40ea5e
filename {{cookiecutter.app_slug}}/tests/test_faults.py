"""Fault tests on real processes: kill the worker, cut the source, restart Temporal.

Each run is compared with an uninterrupted run of the same 2,000-table
PostgreSQL catalog: the sorted records of every entity kind must be equal and
no record may appear twice. Redone batches are read from the state store,
where every slice counts how often each batch was started.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg
import orjson
import pytest
from sqlalchemy.engine import make_url
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.activities import ExtractorActivities
from {{ cookiecutter.package_name }}.engine.models import (
    ActivityTuning,
    Checkpoint,
    ExtractionRequest,
    ExtractionSummary,
)
from {{ cookiecutter.package_name }}.engine.sink import MANIFEST
from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.engine.workflows import ExtractionWorkflow
from {{ cookiecutter.package_name }}.runtime.config import Settings
from {{ cookiecutter.package_name }}.runtime.worker import build_worker

from .catalogs import BIG_SCHEMAS, BIG_TABLES_PER_SCHEMA, _plain, big_postgres_database
from .conftest import POSTGRES_URL
from .harness import Run, extract, load
from .history import histories, run_text
from .processes import DevServer, WorkerProcess, checkpoints, run_key, wait_for_checkpoint

pytestmark = pytest.mark.postgresql

# 2,000 tables in 80 batches of 25 and 4 slices of 500, one slice at a time: a kill
# interrupts exactly one slice, so at most one batch may be read twice.
LAYOUT: dict[str, Any] = {"batch_size": 25, "slice_size": 500, "max_parallel_slices": 1}
SECRET = f"Pw-{uuid.uuid4().hex}"
FAST_RETRY = ActivityTuning(heartbeat_timeout_s=2, initial_retry_s=0.2, max_retry_s=1, max_attempts=20)


@dataclass(frozen=True)
class BigCatalog:
    url: str
    baseline: Run


@pytest.fixture(scope="module")
async def big(
    temporal: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BigCatalog]:
    """The 2,000-table catalog and its uninterrupted extraction, shared by this module."""
    assert POSTGRES_URL
    folder = tmp_path_factory.mktemp("big")
    async with big_postgres_database(POSTGRES_URL) as url:
        state = await StateStore.open(f"sqlite+aiosqlite:///{folder / 'state.db'}")
        try:
            baseline = await extract(temporal.client, url, folder / "out", state, **LAYOUT)
        finally:
            await state.close()
        assert baseline.summary.counts["tables"] == BIG_SCHEMAS * BIG_TABLES_PER_SCHEMA
        # The local server trusts logins and ignores it: the password is only there to prove it never leaks.
        yield BigCatalog(make_url(url).set(password=SECRET).render_as_string(hide_password=False), baseline)


def by_kind(run: Run) -> dict[str, list[bytes]]:
    """Sorted canonical records per entity kind (records carry no run ids or timestamps)."""
    out: dict[str, list[bytes]] = {}
    for record in run.records:
        out.setdefault(record["kind"], []).append(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))
    return {kind: sorted(found) for kind, found in out.items()}


def assert_same_output(run: Run, baseline: Run) -> None:
    duplicated = run.duplicates()
    assert duplicated == [], f"{len(duplicated)} duplicated records, e.g. {duplicated[:3]}"
    got, want = by_kind(run), by_kind(baseline)
    assert sorted(got) == sorted(want)
    for kind in want:
        assert got[kind] == want[kind], f"{kind}: {len(got[kind])} records vs {len(want[kind])} uninterrupted"


def files_of_run(summary: ExtractionSummary) -> list[str]:
    """Every file in a ``file://`` run folder, relative to it."""
    root = Path(unquote(urlsplit(summary.manifest).path)).parent
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def request_for() -> ExtractionRequest:
    return ExtractionRequest(source="test", max_parallel_children=1,
                             tuning=FAST_RETRY, **LAYOUT)


async def start(client: Client, task_queue: str) -> WorkflowHandle[ExtractionWorkflow, ExtractionSummary]:
    return await client.start_workflow(
        ExtractionWorkflow.run, request_for(), id=f"fault-{uuid.uuid4().hex}", task_queue=task_queue,
        execution_timeout=timedelta(minutes=5),
    )


async def work_resumed(state: StateStore, key: str, before: dict[str, Checkpoint]) -> None:
    """Return once any batch is started after ``before`` was read (the retry has begun)."""
    started = sum(sum(c.starts) for c in before.values())
    while True:
        if sum(sum(c.starts) for c in (await checkpoints(state, key)).values()) > started:
            return
        await asyncio.sleep(0.05)


def in_flight(found: dict[str, Checkpoint]) -> int:
    """Batches a worker had started but not yet checkpointed."""
    return sum(1 for c in found.values() if len(c.parts) < len(c.starts) and c.starts[len(c.parts)])


async def retried_attempts(client: Client, workflow_id: str) -> int:
    """Activity attempts after the first, over the parent and its children."""
    return sum(
        event.activity_task_started_event_attributes.attempt > 1
        for history in await histories(client, workflow_id)
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    )


def worker_env(address: str, task_queue: str, state_url: str, source_url: str, **extra: str) -> dict[str, str]:
    """Environment of a worker subprocess: where to poll, where to checkpoint, what to read."""
    return {"TEMPORAL_ADDRESS": address, "TASK_QUEUE": task_queue, "STATE_STORE_URL": state_url,
            "SOURCE_TEST_DSN": source_url, **extra}


@dataclass
class HandOver:
    """A big run started on worker-1 and past its first checkpoint; worker-2 is started by the test."""

    state: StateStore
    env: dict[str, str]
    first: WorkerProcess
    handle: WorkflowHandle[ExtractionWorkflow, ExtractionSummary]
    second: WorkerProcess | None = None


@asynccontextmanager
async def hand_over(temporal: WorkflowEnvironment, big: BigCatalog, tmp_path: Path, name: str,
                    **extra: str) -> AsyncIterator[HandOver]:
    """Run ``big`` on a worker subprocess until its first checkpoint; stop both workers afterwards."""
    state_url = f"sqlite+aiosqlite:///{tmp_path / 'state.db'}"
    task_queue = f"{name}-{uuid.uuid4().hex}"
    env = worker_env(temporal.client.service_client.config.target_host, task_queue, state_url, big.url, **extra)
    state = await StateStore.open(state_url)
    first = WorkerProcess(tmp_path, "worker-1", env)
    run: HandOver | None = None
    try:
        handle = await start(temporal.client, task_queue)
        await wait_for_checkpoint(state, run_key(handle))
        run = HandOver(state, env, first, handle)
        yield run
    finally:
        if run is not None and run.second is not None:
            run.second.stop()
        first.stop()
        await state.close()


async def test_worker_sigkill_mid_extraction_resumes_with_at_most_one_batch_redone(
    temporal: WorkflowEnvironment, big: BigCatalog, tmp_path: Path
) -> None:
    async with hand_over(temporal, big, tmp_path, "kill") as run:
        run.first.kill()
        killed_at = time.monotonic()
        at_kill = await checkpoints(run.state, run_key(run.handle))
        assert sum(len(c.parts) for c in at_kill.values()) < 80, "the run finished before the kill"
        run.second = WorkerProcess(tmp_path, "worker-2", run.env)
        await asyncio.wait_for(work_resumed(run.state, run_key(run.handle), at_kill), timeout=60)
        resumed = time.monotonic() - killed_at
        summary = await asyncio.wait_for(run.handle.result(), timeout=90)
        recovery = time.monotonic() - killed_at
        final = await checkpoints(run.state, run_key(run.handle))

    redone = sum(c.redone for c in final.values())
    extracted = load(summary)
    assert_same_output(extracted, big.baseline)
    assert files_of_run(summary) == sorted([MANIFEST, *(p["path"] for p in extracted.manifest["parts"])]), \
        "the run folder holds files the manifest does not list (e.g. a killed write's staging file)"
    assert run.second is not None
    assert SECRET not in run.first.output() + run.second.output()
    assert SECRET not in await run_text(temporal.client, run.handle.id)
    assert await retried_attempts(temporal.client, run.handle.id) >= 1, "the kill interrupted no activity"
    assert redone <= 1, {k: c.starts for k, c in final.items() if c.redone}
    done_at_kill = sum(len(c.parts) for c in at_kill.values())
    print(f"\nkill test: {done_at_kill}/80 batches checkpointed at SIGKILL "
          f"({in_flight(at_kill)} batch(es) started but not checkpointed), "
          f"{redone} batch(es) redone, kill->first batch restarted {resumed:.1f}s, "
          f"kill->completion {recovery:.1f}s, output identical to uninterrupted run "
          f"({len(extracted.records)} records, 0 duplicates)")


async def test_tables_dropped_while_the_worker_is_dead_are_listed_as_vanished(
    temporal: WorkflowEnvironment, big: BigCatalog, tmp_path: Path
) -> None:
    """Planned tables dropped between a SIGKILL and the replacement: listed, every other table once."""
    gone = [f"t{t:04d}" for t in range(992, 1000)]  # in the last slice, which the kill cannot have reached
    async with hand_over(temporal, big, tmp_path, "drop") as run:
        run.first.kill()
        conn = await asyncpg.connect(_plain(big.url))
        try:
            await conn.execute(" ".join(f"DROP TABLE s1.{t};" for t in gone))
            run.second = WorkerProcess(tmp_path, "worker-2", run.env)
            summary = await asyncio.wait_for(run.handle.result(), timeout=90)
        finally:  # the module's other tests share this catalog: put the tables back as they were
            await conn.execute(" ".join(f"CREATE TABLE s1.{t} (id bigint PRIMARY KEY, n int NOT NULL, day date);"
                                        for t in gone) + " CREATE INDEX ix_1_0995 ON s1.t0995 (n, day);")
            await conn.close()

    extracted = load(summary)
    assert extracted.manifest["vanished"] == {"s1": gone}
    assert extracted.duplicates() == []
    dropped = {name for name in big.baseline.of_kind("table") if name.rpartition(".")[2].strip('"') in gone
               and '."s1".' in name}
    assert set(extracted.of_kind("table")) == set(big.baseline.of_kind("table")) - dropped
    assert len(dropped) == len(gone)


async def test_source_connection_killed_mid_extraction_is_retried(
    temporal: WorkflowEnvironment, big: BigCatalog, tmp_path: Path, state: StateStore
) -> None:
    """``pg_terminate_backend`` on the worker's source connections: the activity retries and completes."""
    assert POSTGRES_URL
    database = big.url.rsplit("/", 1)[1].split("?")[0]
    admin = await asyncpg.connect(_plain(POSTGRES_URL))
    # The generic reader holds a source connection for a whole batch; the bulk fast path
    # finishes 2,000 tables before a cut can land mid-query. The retry path is the same.
    config = Settings.defaults(task_queue=f"cut-{uuid.uuid4().hex}", catalog_reader="generic",
                     output_url=str(tmp_path / "out"))
    activities = ExtractorActivities(config, state, env={"SOURCE_TEST_DSN": big.url})
    try:
        with ThreadPoolExecutor(max_workers=config.max_concurrent_activities) as pool:
            async with build_worker(temporal.client, config, activities, pool):
                handle = await start(temporal.client, config.task_queue)
                await wait_for_checkpoint(state, run_key(handle))
                # Cut the worker's connections until one dies under a running batch (the batch then
                # shows up as redone); a connection cut while idle in the pool is just replaced.
                deadline = time.monotonic() + 60
                while sum(c.redone for c in (await checkpoints(state, run_key(handle))).values()) == 0:
                    assert time.monotonic() < deadline, "no connection was ever cut mid-batch"
                    await admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = $1 AND pid <> pg_backend_pid()", database)
                    await asyncio.sleep(0.1)
                summary = await asyncio.wait_for(handle.result(), timeout=90)
    finally:
        await activities.close()
        await admin.close()
    assert_same_output(load(summary), big.baseline)
    assert await retried_attempts(temporal.client, handle.id) >= 1


async def test_temporal_server_restart_mid_run(big: BigCatalog, tmp_path: Path) -> None:
    """Stop the server (history in a file) mid-run and start it again: the worker reconnects."""
    server = DevServer(tmp_path)
    await server.start()
    state_url = f"sqlite+aiosqlite:///{tmp_path / 'state.db'}"
    task_queue = f"restart-{uuid.uuid4().hex}"
    worker = WorkerProcess(tmp_path, "worker", worker_env(server.address, task_queue, state_url, big.url))
    state = await StateStore.open(state_url)
    try:
        client = await server.connect()
        handle = await start(client, task_queue)
        await wait_for_checkpoint(state, run_key(handle))
        server.stop()
        at_stop = sum(len(c.parts) for c in (await checkpoints(state, run_key(handle))).values())
        await asyncio.sleep(1)
        await server.start()
        client = await server.connect()
        summary = await asyncio.wait_for(
            client.get_workflow_handle_for(ExtractionWorkflow.run, handle.id).result(), timeout=120)
        assert worker.proc.poll() is None, "the worker exited instead of reconnecting"
    finally:
        worker.stop()
        server.stop()
        await state.close()
    assert at_stop < 80, "the run finished before the server went down"
    assert_same_output(load(summary), big.baseline)


async def test_worker_sigterm_drains_and_the_run_resumes_on_another_worker(
    temporal: WorkflowEnvironment, big: BigCatalog, tmp_path: Path
) -> None:
    """SIGTERM (a pod being replaced): the worker stops within its grace period, exits 0, nothing is lost."""
    async with hand_over(temporal, big, tmp_path, "drain", GRACEFUL_SHUTDOWN_SECONDS="1") as run:
        run.first.proc.terminate()
        stopping = time.monotonic()
        exit_code = await asyncio.to_thread(run.first.proc.wait, 30)
        drained = time.monotonic() - stopping
        at_stop = await checkpoints(run.state, run_key(run.handle))
        run.second = WorkerProcess(tmp_path, "worker-2", run.env)
        summary = await asyncio.wait_for(run.handle.result(), timeout=90)
        final = await checkpoints(run.state, run_key(run.handle))
    assert exit_code == 0, run.first.output()[-2000:]
    assert drained < 10, f"took {drained:.1f}s to stop with a 1 s grace period"
    assert "draining" in run.first.output()
    assert sum(len(c.parts) for c in at_stop.values()) < 80, "the run finished before SIGTERM"
    assert sum(c.redone for c in final.values()) <= 1
    assert_same_output(load(summary), big.baseline)
    print(f"\nsigterm test: worker exited {exit_code} {drained:.1f}s after SIGTERM, "
          f"{sum(c.redone for c in final.values())} batch(es) redone, output identical")
