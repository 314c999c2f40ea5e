"""SIGTERM drain of a real worker process against a real Temporal dev server.

A worker subprocess runs a slow heartbeating activity; we send SIGTERM and
check that it stops being ready, finishes (or, past the grace period, cancels)
the activity, exits 0, and that a second worker completes the workflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from .probes import WorkerProcess, free_port, http_get, wait_for_status

DRAIN_WORKER = Path(__file__).with_name("drain_worker.py")


class Fleet:
    """Workers sharing one task queue, each with its own ports."""

    def __init__(self, client: Client, tmp_path: Path, grace_seconds: float) -> None:
        self.client = client
        self.tmp_path = tmp_path
        self.markers = tmp_path / "markers"
        self.markers.mkdir()
        self.task_queue = f"drain-{uuid.uuid4().hex}"
        self.grace_seconds = grace_seconds

    async def start(self, name: str) -> tuple[WorkerProcess, int]:
        health_port = free_port()
        env = {
            "TEMPORAL_ADDRESS": self.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": self.client.namespace,
            "TASK_QUEUE": self.task_queue,
            "GRACEFUL_SHUTDOWN_SECONDS": str(self.grace_seconds),
            "HEALTH_PORT": str(health_port),
            "METRICS_PORT": "0",
            "STATE_STORE_URL": f"sqlite+aiosqlite:///{self.tmp_path / f'{name}.db'}",
            "DRAIN_MARKERS": str(self.markers),
        }
        worker = await WorkerProcess.start([sys.executable, str(DRAIN_WORKER)], env, self.tmp_path, name)
        try:
            await wait_for_status(health_port, "/readyz", 200, within=20)
        except AssertionError:
            await worker.kill()
            raise AssertionError(worker.output()) from None
        return worker, health_port

    async def start_workflow(self, steps: int) -> WorkflowHandle[Any, Any]:
        return await self.client.start_workflow(
            "SleepyWorkflow", steps, id=f"drain-{uuid.uuid4().hex}", task_queue=self.task_queue,
            execution_timeout=timedelta(seconds=60),
        )

    async def wait_started(self, worker: WorkerProcess, attempt: int = 1, within: float = 10) -> None:
        marker = self.markers / f"started-{worker.pid}-{attempt}"
        deadline = time.monotonic() + within
        while not marker.exists():
            assert time.monotonic() < deadline, f"activity never started\n{worker.output()}"
            await asyncio.sleep(0.05)


async def last_workflow_task_identity(handle: WorkflowHandle[Any, Any]) -> str:
    identity = ""
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_task_completed_event_attributes"):
            identity = event.workflow_task_completed_event_attributes.identity
    return identity


async def kill_both(
    first: WorkerProcess, second: WorkerProcess | None, starting: asyncio.Task[tuple[WorkerProcess, int]] | None
) -> None:
    """Clean up after a drain test, including a second worker that was still starting."""
    await first.kill()
    if second is None and starting is not None:
        with contextlib.suppress(AssertionError):
            second, _ = await starting
    if second is not None:
        await second.kill()


async def test_sigterm_drains_in_flight_activity_then_exits_0(temporal: WorkflowEnvironment, tmp_path: Path) -> None:
    fleet = Fleet(temporal.client, tmp_path, grace_seconds=10)
    first, health = await fleet.start("first")
    second: WorkerProcess | None = None
    starting: asyncio.Task[tuple[WorkerProcess, int]] | None = None
    try:
        handle = await fleet.start_workflow(steps=15)  # 3 s of work
        await fleet.wait_started(first)
        await asyncio.sleep(0.5)
        first.proc.send_signal(15)
        sent = time.monotonic()
        # The next worker boots while the first drains, as in a rolling update.
        starting = asyncio.create_task(fleet.start("second"))
        # Draining: not ready at once, still live, and still working on the activity.
        await wait_for_status(health, "/readyz", 503, within=2)
        assert (await http_get(health, "/livez"))[0] == 200
        code = await asyncio.wait_for(first.proc.wait(), 15)
        drain = time.monotonic() - sent
        print(f"\nSIGTERM drain with an in-flight activity took {drain:.2f}s (grace 10s)")
        assert code == 0, first.output()
        assert 1.5 < drain < 10, f"drain took {drain:.2f}s; expected the ~2.5s left of the activity"
        assert "worker drained in" in first.output()

        second, _ = await starting
        result = await asyncio.wait_for(handle.result(), 20)
        assert result == {"pid": first.pid, "attempt": 1, "resumed_from": 0}, "the activity was not allowed to finish"
        assert (await last_workflow_task_identity(handle)).startswith(f"{second.pid}@")
    finally:
        await kill_both(first, second, starting)


async def test_activity_past_the_grace_period_is_cancelled_and_resumes_on_another_worker(
    temporal: WorkflowEnvironment, tmp_path: Path
) -> None:
    fleet = Fleet(temporal.client, tmp_path, grace_seconds=1.5)
    first, _ = await fleet.start("first")
    second: WorkerProcess | None = None
    starting: asyncio.Task[tuple[WorkerProcess, int]] | None = None
    try:
        handle = await fleet.start_workflow(steps=25)  # 5 s of work, far beyond the grace period
        await fleet.wait_started(first)
        await asyncio.sleep(0.6)
        terminating = asyncio.create_task(first.terminate(within=15))
        starting = asyncio.create_task(fleet.start("second"))
        code, drain = await terminating
        print(f"\nSIGTERM drain past the grace period took {drain:.2f}s (grace 1.5s)")
        assert code == 0, first.output()
        assert 1.4 < drain < 5, f"drain took {drain:.2f}s; expected the 1.5s grace period plus a little"

        second, _ = await starting
        result = await asyncio.wait_for(handle.result(), 20)
        assert result["pid"] == second.pid and result["attempt"] == 2, result
        assert result["resumed_from"] >= 1, f"the retry did not resume from the heartbeat checkpoint: {result}"
    finally:
        await kill_both(first, second, starting)
