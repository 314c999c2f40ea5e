"""The REST source under the engine's guarantees: kill, cancel, rerun, idempotency, secrets.

The same kinds of proof as the SQL tests, against the real demo API: a worker
SIGKILLed mid-run is replaced and the output is byte-identical to an
uninterrupted run; a cancelled run stops sending requests; every activity run
twice leaves the same state and files; the token is in no history or log.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.activities import ExtractorActivities
from {{ cookiecutter.package_name }}.engine.models import (
    ActivityTuning,
    ExtractionRequest,
    RunContext,
)
from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.engine.workflows import ExtractionWorkflow
from {{ cookiecutter.package_name }}.runtime.config import Settings
from {{ cookiecutter.package_name }}.runtime.worker import build_worker
from {{ cookiecutter.package_name }}.sources.demo_api import DemoApi

from .harness import Run, every_activity_twice, extract, files, load
from .history import run_text
from .processes import WorkerProcess, checkpoints, run_key, wait_for_checkpoint

TOKEN = f"tok-{uuid.uuid4().hex}"
# 380 records in pages of 10 at 8 requests/s: about 5 s, long enough to kill or cancel mid-way.
SLOW = "rate=8"
LAYOUT: dict[str, Any] = {"batch_size": 10}
FAST_RETRY = ActivityTuning(heartbeat_timeout_s=2, initial_retry_s=0.2, max_retry_s=1, max_attempts=20)


@pytest.fixture
def api() -> Iterator[DemoApi]:
    server = DemoApi(token=TOKEN)
    with server:
        yield server


def secrets_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "secrets"
    folder.mkdir(exist_ok=True)
    (folder / "SOURCE_TEST_PASSWORD").write_text(TOKEN)
    return folder


async def clean_run(temporal: WorkflowEnvironment, api: DemoApi, tmp_path: Path, state: StateStore) -> Run:
    return await extract(temporal.client, f"{api.base_url}?rate=0", tmp_path / "clean", state,
                         secrets_dir=secrets_dir(tmp_path), **LAYOUT)


def part_bytes(run: Run) -> dict[str, str]:
    return {p["path"]: p["sha256"] for p in run.manifest["parts"]}


async def test_a_sigkilled_worker_is_replaced_and_the_output_is_byte_identical(
    temporal: WorkflowEnvironment, api: DemoApi, tmp_path: Path, state: StateStore
) -> None:
    baseline = await clean_run(temporal, api, tmp_path, state)
    state_url = f"sqlite+aiosqlite:///{tmp_path / 'workers.db'}"
    task_queue = f"rest-kill-{uuid.uuid4().hex}"
    env = {"TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host, "TASK_QUEUE": task_queue,
           "STATE_STORE_URL": state_url, "SOURCE_TEST_DSN": f"{api.base_url}?{SLOW}",
           "SECRETS_DIR": str(secrets_dir(tmp_path)), "OUTPUT_URL": str(tmp_path / "out")}
    workers_state = await StateStore.open(state_url)
    first = WorkerProcess(tmp_path, "worker-1", env)
    second: WorkerProcess | None = None
    try:
        handle = await temporal.client.start_workflow(
            ExtractionWorkflow.run, ExtractionRequest(source="test", tuning=FAST_RETRY, **LAYOUT),
            id=f"rest-kill-{uuid.uuid4().hex}", task_queue=task_queue, execution_timeout=timedelta(minutes=3))
        await wait_for_checkpoint(workers_state, run_key(handle))
        first.kill()
        at_kill = sum(len(c.parts) for c in (await checkpoints(workers_state, run_key(handle))).values())
        second = WorkerProcess(tmp_path, "worker-2", env)
        summary = await asyncio.wait_for(handle.result(), timeout=90)
        final = await checkpoints(workers_state, run_key(handle))
    finally:
        if second is not None:
            second.stop()
        first.stop()
        await workers_state.close()

    run = load(summary)
    assert at_kill < sum(len(c.parts) for c in final.values()), "the run finished before the kill"
    assert part_bytes(run) == part_bytes(baseline), "parts differ from an uninterrupted run"
    assert sum(c.redone for c in final.values()) <= 2  # one page in flight per slice, 2 slices at once
    assert TOKEN not in first.output() + second.output()
    assert TOKEN not in await run_text(temporal.client, handle.id)


async def test_a_cancelled_run_stops_sending_requests(
    temporal: WorkflowEnvironment, api: DemoApi, tmp_path: Path, state: StateStore
) -> None:
    config = Settings(output_url=str(tmp_path / "out"), secrets_dir=secrets_dir(tmp_path),
                      task_queue=f"rest-cancel-{uuid.uuid4().hex}", activity_max_attempts=2)
    activities = ExtractorActivities(config, state, env={"SOURCE_TEST_DSN": f"{api.base_url}?{SLOW}"})
    try:
        with ThreadPoolExecutor(max_workers=config.max_concurrent_activities) as pool:
            async with build_worker(temporal.client, config, activities, pool):
                handle = await temporal.client.start_workflow(
                    ExtractionWorkflow.run, ExtractionRequest(source="test", **LAYOUT),
                    id=f"rest-cancel-{uuid.uuid4().hex}", task_queue=config.task_queue)
                await wait_for_checkpoint(state, run_key(handle))
                await handle.cancel()
                with pytest.raises(Exception):  # noqa: B017 - WorkflowFailureError wrapping the cancellation
                    await handle.result()
                sent = len(api.requests)
                await asyncio.sleep(1)  # 8 more requests would go out in this second if a read were still running
                assert len(api.requests) == sent, "requests went on after the run was cancelled"
        assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    finally:
        await activities.close()
    assert sent < 40, "the run finished before the cancel"


async def test_every_activity_twice_gives_identical_output_and_state(
    api: DemoApi, tmp_path: Path, state: StateStore
) -> None:
    output = tmp_path / "out"
    settings = Settings.defaults(output_url=str(output), secrets_dir=secrets_dir(tmp_path))
    activities = ExtractorActivities(settings, state, env={"SOURCE_TEST_DSN": f"{api.base_url}?rate=0"})
    run = RunContext(workflow_id="rest-twice", run_id="run-1", request=ExtractionRequest(source="test", batch_size=40))
    try:
        summary = await every_activity_twice(activities, run, state, output)
        assert summary.counts == {"endpoints": 2, "users": 250, "orders": 130}
        assert TOKEN.encode() not in b"".join(files(output).values())
    finally:
        await activities.close()
