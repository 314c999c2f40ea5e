"""Three workers, one extraction: what a 3-replica Helm release does, on real processes.

Each worker is its own ``python -m {{ cookiecutter.package_name }} worker`` process with a private
working directory and temp dir, as a pod has. They share only what the chart
makes them share: one Temporal server, the PostgreSQL state store, and an S3
bucket (moto's standalone server, reached through ``AWS_ENDPOINT_URL``). The
2,000-table catalog is cut into 4 slices of 20 batches each.

Every run must give, byte for byte, the parts of a single-worker ``file://``
run, and its manifest must list exactly the objects in the bucket.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.models import (
    ActivityTuning,
    Checkpoint,
    ExtractionRequest,
    ExtractionSummary,
)
from {{ cookiecutter.package_name }}.engine.sink import (
    MANIFEST,
    read_url,
    run_folder,
)
from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.engine.workflows import ExtractionWorkflow

from .catalogs import big_postgres_database, postgres_database
from .conftest import POSTGRES_URL
from .harness import Run, extract
from .processes import WorkerProcess, checkpoints, run_key, wait_for_checkpoint
from .s3 import S3, moto_server

pytestmark = pytest.mark.postgresql

LAYOUT: dict[str, Any] = {"batch_size": 25, "slice_size": 500}  # 2,000 tables: 4 slices of 20 batches
TUNING = ActivityTuning(heartbeat_timeout_s=2, initial_retry_s=0.2, max_retry_s=1, max_attempts=20)
PREFIX = "extracts"
RunHandle = WorkflowHandle[ExtractionWorkflow, ExtractionSummary]


@dataclass(frozen=True)
class Shared:
    """What every worker of the cluster shares, plus the single-worker reference run."""

    source_url: str
    state_url: str
    s3: S3
    baseline: Run


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    with moto_server() as server:
        yield server


@pytest.fixture(scope="module")
async def shared(
    temporal: WorkflowEnvironment, s3: S3, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Shared]:
    assert POSTGRES_URL
    folder = tmp_path_factory.mktemp("single-worker")
    async with big_postgres_database(POSTGRES_URL) as source, postgres_database(POSTGRES_URL) as state_db:
        state = await StateStore.open(f"sqlite+aiosqlite:///{folder / 'state.db'}")
        try:
            baseline = await extract(temporal.client, source, folder / "out", state, **LAYOUT)
        finally:
            await state.close()
        state_url = state_db.replace("postgresql://", "postgresql+asyncpg://", 1)
        yield Shared(source, state_url, s3, baseline)


@dataclass
class Cluster:
    """Worker processes on one task queue; ``start_worker`` adds one, as a new pod would."""

    root: Path
    env: dict[str, str]
    bucket: str
    workers: list[WorkerProcess] = field(default_factory=list)

    def start_worker(self) -> WorkerProcess:
        name = f"worker-{len(self.workers) + 1}"
        home = self.root / name
        (home / "tmp").mkdir(parents=True)
        worker = WorkerProcess(home, name, {**self.env, "TMPDIR": str(home / "tmp")})
        self.workers.append(worker)
        return worker


@asynccontextmanager
async def cluster(temporal: WorkflowEnvironment, shared: Shared, root: Path, size: int = 3) -> AsyncIterator[Cluster]:
    bucket = shared.s3.new_bucket()
    env = {
        "TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
        "TASK_QUEUE": f"ha-{uuid.uuid4().hex}", "STATE_STORE_URL": shared.state_url,
        "SOURCE_TEST_DSN": shared.source_url, "OUTPUT_URL": f"s3://{bucket}/{PREFIX}", **shared.s3.env,
        # One slice per worker at a time, so the 4 slices must spread over the 3 workers.
        "MAX_CONCURRENT_ACTIVITIES": "1",
    }
    group = Cluster(root, env, bucket)
    try:
        for _ in range(size):
            group.start_worker()
        await wait_for_pollers(temporal.client, env["TASK_QUEUE"], size)
        yield group
    finally:
        for worker in group.workers:
            worker.stop()


async def wait_for_pollers(client: Client, task_queue: str, count: int, within: float = 60) -> None:
    """Block until ``count`` distinct workers poll the activity queue, as ready pods would."""
    request = DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
                                       task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    deadline = time.monotonic() + within
    while True:
        found = await client.workflow_service.describe_task_queue(request)
        if len({p.identity for p in found.pollers}) >= count:
            return
        assert time.monotonic() < deadline, f"only {len(found.pollers)} of {count} workers poll {task_queue}"
        await asyncio.sleep(0.2)


async def start_run(client: Client, task_queue: str) -> RunHandle:
    request = ExtractionRequest(source="test", tuning=TUNING, **LAYOUT)
    return await client.start_workflow(ExtractionWorkflow.run, request, id=f"ha {uuid.uuid4().hex}/nightly",
                                       task_queue=task_queue, execution_timeout=timedelta(minutes=5))


async def running_slices(
    client: Client, handle: RunHandle, workers: list[WorkerProcess], at_least: int = 1
) -> list[WorkerProcess]:
    """The workers running the run's slices right now (identity ``pid@host``), once ``at_least`` do."""
    by_pid = {str(w.proc.pid): w for w in workers}
    for _ in range(400):
        try:
            description = await client.get_workflow_handle(f"{handle.id}/slices-0000").describe()
        except RPCError:  # the child is not started yet
            await asyncio.sleep(0.025)
            continue
        pids = {p.last_worker_identity.partition("@")[0] for p in description.raw_description.pending_activities}
        busy = [by_pid[pid] for pid in sorted(pids) if pid in by_pid]
        if len(busy) >= at_least:
            return busy
        await asyncio.sleep(0.025)
    raise AssertionError(f"fewer than {at_least} workers ever ran a slice at the same time")


def check_bucket_against_manifest(shared: Shared, bucket: str, summary: ExtractionSummary) -> dict[str, bytes]:
    """The run's objects must be exactly the manifest plus the parts it lists, with their sha256."""
    prefix = f"{PREFIX}/test/{run_folder(summary.workflow_id)}/"
    assert summary.manifest == f"s3://{bucket}/{prefix}{MANIFEST}"
    objects = {key.removeprefix(prefix): data for key, data in shared.s3.objects(bucket).items()}
    manifest = json.loads(objects.pop(MANIFEST))
    assert manifest["workflow_id"] == summary.workflow_id
    listed = {part["path"]: part["sha256"] for part in manifest["parts"]}
    assert sorted(objects) == sorted(listed), "the bucket holds objects the manifest does not list, or lacks some"
    for path, data in objects.items():
        assert hashlib.sha256(data).hexdigest() == listed[path], f"{path}: checksum differs from the manifest"
    return objects


def check_same_as_single_worker(shared: Shared, parts: dict[str, bytes], manifest_counts: dict[str, int]) -> None:
    """Byte-identical parts, under the same names, as the single-worker ``file://`` run."""
    baseline = shared.baseline
    folder = baseline.summary.manifest.rpartition("/")[0]
    expected = {p["path"]: read_url(f"{folder}/{p['path']}") for p in baseline.manifest["parts"]}
    assert sorted(parts) == sorted(expected)
    assert [name for name in expected if parts[name] != expected[name]] == []
    assert manifest_counts == baseline.manifest["counts"]


@dataclass
class ClusterRun:
    """A run on a 3-worker cluster, past its first checkpoint, with 3 workers running slices at once."""

    group: Cluster
    state: StateStore
    handle: RunHandle
    together: list[WorkerProcess]

    async def busy_worker(self, client: Client) -> WorkerProcess:
        return (await running_slices(client, self.handle, self.group.workers))[0]

    async def batches_done(self) -> int:
        return sum(len(c.parts) for c in (await checkpoints(self.state, run_key(self.handle))).values())

    async def finish(self) -> tuple[ExtractionSummary, dict[str, Checkpoint]]:
        summary = await asyncio.wait_for(self.handle.result(), timeout=120)
        return summary, await checkpoints(self.state, run_key(self.handle))


@asynccontextmanager
async def cluster_run(temporal: WorkflowEnvironment, shared: Shared, root: Path) -> AsyncIterator[ClusterRun]:
    state = await StateStore.open(shared.state_url)
    try:
        async with cluster(temporal, shared, root) as group:
            handle = await start_run(temporal.client, group.env["TASK_QUEUE"])
            together = await running_slices(temporal.client, handle, group.workers, at_least=3)
            await wait_for_checkpoint(state, run_key(handle))
            yield ClusterRun(group, state, handle, together)
    finally:
        await state.close()


async def test_three_workers_sigkill_one_and_a_replacement_finishes_byte_identical(
    temporal: WorkflowEnvironment, shared: Shared, tmp_path: Path
) -> None:
    async with cluster_run(temporal, shared, tmp_path) as run:
        (await run.busy_worker(temporal.client)).kill()
        killed_at = time.monotonic()
        done_at_kill = await run.batches_done()
        run.group.start_worker()  # the Deployment replaces the pod
        summary, final = await run.finish()
        recovery = time.monotonic() - killed_at
    assert done_at_kill < 80, "the run finished before the kill"
    assert len(final) == 4 and all(len(c.parts) == 20 and c.done for c in final.values())
    redone = sum(c.redone for c in final.values())
    assert redone <= 1, "more batches were read twice than the killed worker had in flight (1 activity)"
    parts = check_bucket_against_manifest(shared, run.group.bucket, summary)
    check_same_as_single_worker(shared, parts, summary.counts)
    print(f"\n3-worker kill test: {done_at_kill}/80 batches checkpointed at SIGKILL, {redone} batch(es) redone, "
          f"kill->done {recovery:.1f}s, {len(run.together)} workers ran slices at once, {len(parts) + 1} objects "
          f"in the bucket = manifest + {len(parts)} parts, every sha256 matched, parts byte-identical to 1 worker")


async def test_three_workers_sigterm_one_drains_and_the_others_finish(
    temporal: WorkflowEnvironment, shared: Shared, tmp_path: Path
) -> None:
    async with cluster_run(temporal, shared, tmp_path) as run:
        leaving = await run.busy_worker(temporal.client)
        leaving.proc.terminate()
        stopping = time.monotonic()
        at_stop = await run.batches_done()
        exit_code = await asyncio.to_thread(leaving.proc.wait, 30)
        drained = time.monotonic() - stopping
        summary, final = await run.finish()
    assert exit_code == 0, leaving.output()[-2000:]
    assert "worker drained in" in leaving.output()
    assert drained < 10, f"took {drained:.1f}s to stop with a 1 s grace period"
    assert at_stop < 80, "the run finished before SIGTERM"
    assert sum(c.redone for c in final.values()) <= 1
    parts = check_bucket_against_manifest(shared, run.group.bucket, summary)
    check_same_as_single_worker(shared, parts, summary.counts)
    print(f"\n3-worker drain test: exit {exit_code} {drained:.1f}s after SIGTERM, {at_stop}/80 batches done then, "
          f"{sum(c.redone for c in final.values())} batch(es) redone, 2 workers finished, output identical")
