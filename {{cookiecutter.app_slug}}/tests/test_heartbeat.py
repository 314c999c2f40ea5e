"""``auto_heartbeater``: cadence, keepalives that carry the checkpoint, cancellation, hangs.

Cadence and details are unit-tested with ``ActivityEnvironment`` (no throttling
there, so every beat is seen). Cancellation, shutdown and hang detection need
the real server and worker, so they run small probe workflows on it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import CancelledError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.workflow import ActivityCancellationType

from {{ cookiecutter.package_name }}.engine.heartbeat import (
    auto_heartbeater,
    heartbeat_interval,
    record_progress,
)


class Beats:
    """Heartbeats seen by an ``ActivityEnvironment``, with their times."""

    def __init__(self, env: ActivityEnvironment) -> None:
        self.seen: list[tuple[float, tuple[Any, ...]]] = []
        env.on_heartbeat = lambda *details: self.seen.append((time.monotonic(), details))

    @property
    def details(self) -> list[tuple[Any, ...]]:
        return [d for _, d in self.seen]

    def gaps(self) -> list[float]:
        times = [t for t, _ in self.seen]
        return [b - a for a, b in itertools.pairwise(times)]


def environment(heartbeat_timeout: float, previous_details: list[Any] | None = None) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=timedelta(seconds=heartbeat_timeout),
                                   heartbeat_details=previous_details or [])
    return env


def test_default_interval_is_a_third_of_the_timeout() -> None:
    assert heartbeat_interval(timedelta(seconds=30)) == 10
    assert heartbeat_interval(timedelta(seconds=30), interval=2) == 2
    assert heartbeat_interval(None) is None


async def test_async_activity_beats_every_third_of_the_timeout() -> None:
    env = environment(0.6)
    beats = Beats(env)

    @auto_heartbeater
    async def body() -> None:
        await asyncio.sleep(1.1)

    await env.run(body)
    assert 4 <= len(beats.seen) <= 6, beats.gaps()
    assert 0.15 <= statistics.median(beats.gaps()) <= 0.3, beats.gaps()


async def test_without_heartbeat_timeout_it_does_not_beat() -> None:
    env = ActivityEnvironment()
    beats = Beats(env)

    @auto_heartbeater
    async def body() -> None:
        await asyncio.sleep(0.3)

    await env.run(body)
    assert beats.seen == []


def test_sync_activity_keeps_beating_while_its_body_blocks() -> None:
    env = environment(0.6)
    beats = Beats(env)

    @auto_heartbeater
    def body() -> None:
        time.sleep(1.1)  # a blocking driver call: no chance to beat from this thread

    env.run(body)
    assert 4 <= len(beats.seen) <= 6, beats.gaps()
    assert 0.15 <= statistics.median(beats.gaps()) <= 0.3, beats.gaps()


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_every_keepalive_resends_the_last_checkpoint(kind: str) -> None:
    """Before any progress the previous attempt's details; after it, the latest progress. Never nothing."""
    env = environment(0.3, previous_details=[{"batch": 7}])
    beats = Beats(env)

    @auto_heartbeater
    def sync_body() -> None:
        time.sleep(0.35)
        record_progress({"batch": 8})
        time.sleep(0.35)
        record_progress({"batch": 9})
        time.sleep(0.35)

    @auto_heartbeater
    async def async_body() -> None:
        await asyncio.sleep(0.35)
        record_progress({"batch": 8})
        await asyncio.sleep(0.35)
        record_progress({"batch": 9})
        await asyncio.sleep(0.35)

    if kind == "sync":
        env.run(sync_body)
    else:
        await env.run(async_body)
    details = beats.details
    assert len(details) >= 9
    assert all(d for d in details), "a keepalive without details would erase the checkpoint on the server"
    batches = [d[0]["batch"] for d in details]
    assert batches == sorted(batches), batches
    assert batches[0] == 7 and batches[-1] == 9
    assert batches.count(7) >= 2 and batches.count(8) >= 3 and batches.count(9) >= 3, batches


def test_beats_land_in_order_when_keepalives_race_progress() -> None:
    """A keepalive racing a progress beat must never land after it with older details."""
    env = environment(0.003, previous_details=[{"batch": 0}])
    landed: list[int] = []
    jitter = random.Random(4)

    def slow_send(*details: Any) -> None:  # sending takes a variable time, as over a network
        time.sleep(jitter.uniform(0, 0.0003))
        landed.append(details[0]["batch"])

    env.on_heartbeat = slow_send

    @auto_heartbeater(interval=0.0001)
    def body() -> None:
        for n in range(1, 600):
            record_progress({"batch": n})

    env.run(body)
    assert landed == sorted(landed), "an older checkpoint overwrote a newer one"
    assert landed[-1] == 599


# --- on the real server -------------------------------------------------------------------


@dataclasses.dataclass
class Probe:
    """What the probe activities saw; threading events so sync activities can set them too."""

    started: threading.Event = dataclasses.field(default_factory=threading.Event)
    cancelled: threading.Event = dataclasses.field(default_factory=threading.Event)
    worker_shutdown: threading.Event = dataclasses.field(default_factory=threading.Event)
    attempts: list[int] = dataclasses.field(default_factory=list)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="wait_async")
        @auto_heartbeater
        async def wait_async() -> int:
            self.started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                self.cancelled.set()
                if activity.is_worker_shutdown():
                    self.worker_shutdown.set()
                raise
            return 0

        @activity.defn(name="wait_sync")
        @auto_heartbeater
        def wait_sync() -> int:
            self.started.set()
            try:
                for _ in range(600):
                    time.sleep(0.1)  # the body never heartbeats; only the auto-heartbeater does
            except CancelledError:
                self.cancelled.set()
                raise
            return 0

        @activity.defn(name="hang_once")
        @auto_heartbeater
        async def hang_once() -> int:
            attempt = activity.info().attempt
            self.attempts.append(attempt)
            if attempt == 1:
                time.sleep(6)  # noqa: ASYNC251 - freezes the event loop: a hung worker, no beat can leave it
            return attempt

        return [wait_async, wait_sync, hang_once]


@workflow.defn(sandboxed=False)
class ProbeWorkflow:
    @workflow.run
    async def run(self, activity_name: str) -> int:
        result: int = await workflow.execute_activity(
            activity_name,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3),
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            result_type=int,
        )
        return result


def probe_worker(
    client: Client, probe: Probe, pool: ThreadPoolExecutor, grace: float = 5, slots: int = 2
) -> Worker:
    return Worker(client, task_queue=f"probe-{uuid.uuid4().hex}", workflows=[ProbeWorkflow],
                  activities=probe.activities(), activity_executor=pool, max_concurrent_activities=slots,
                  graceful_shutdown_timeout=timedelta(seconds=grace))


async def wait(event: threading.Event, seconds: float) -> bool:
    return await asyncio.to_thread(event.wait, seconds)


@pytest.mark.parametrize("name", ["wait_async", "wait_sync"])
async def test_cancellation_reaches_an_activity_that_only_auto_heartbeats(
    temporal: WorkflowEnvironment, name: str
) -> None:
    probe = Probe()
    with ThreadPoolExecutor(max_workers=2) as pool:
        worker = probe_worker(temporal.client, probe, pool)
        async with worker:
            handle = await temporal.client.start_workflow(
                ProbeWorkflow.run, name, id=f"probe-{uuid.uuid4().hex}", task_queue=worker.task_queue)
            assert await wait(probe.started, 10)
            await handle.cancel()
            assert await wait(probe.cancelled, 5), "cancellation never reached the activity"
            with pytest.raises(WorkflowFailureError):
                await handle.result()


async def test_worker_shutdown_reaches_the_activity(temporal: WorkflowEnvironment) -> None:
    probe = Probe()
    with ThreadPoolExecutor(max_workers=2) as pool:
        worker = probe_worker(temporal.client, probe, pool, grace=0.5)
        running = asyncio.create_task(worker.run())
        await temporal.client.start_workflow(
            ProbeWorkflow.run, "wait_async", id=f"probe-{uuid.uuid4().hex}", task_queue=worker.task_queue)
        assert await wait(probe.started, 10)
        started = time.monotonic()
        await worker.shutdown()
        await running
    assert probe.cancelled.is_set() and probe.worker_shutdown.is_set()
    assert time.monotonic() - started < 5


async def test_hung_activity_is_retried_after_the_heartbeat_timeout(temporal: WorkflowEnvironment) -> None:
    """Attempt 1 freezes the worker's loop for 6 s; the 2 s heartbeat timeout hands the work to attempt 2.

    One activity slot, so the worker cannot take attempt 2 while frozen (its clock would run too).
    """
    probe = Probe()
    with ThreadPoolExecutor(max_workers=2) as pool:
        async with probe_worker(temporal.client, probe, pool, slots=1) as worker:
            result = await temporal.client.execute_workflow(
                ProbeWorkflow.run, "hang_once", id=f"probe-{uuid.uuid4().hex}", task_queue=worker.task_queue,
                execution_timeout=timedelta(seconds=30))
    assert result == 2
    assert probe.attempts == [1, 2]
