"""Worker process: hosts workflows and activities until SIGTERM, then drains.

On SIGTERM (or Ctrl-C) it stops polling, lets in-flight activities finish
within ``GRACEFUL_SHUTDOWN_SECONDS``, cancels what is left (it resumes from
its checkpoint on another worker) and exits 0. Probes (``health.py``) and
Prometheus metrics (``metrics.py``) are served on their own ports from the
first second, so an unreachable Temporal server shows as "not ready", never
as "not live".
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Protocol

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.runtime import Runtime
from temporalio.service import RPCError
from temporalio.worker import Worker, WorkerDeploymentConfig

from ..engine.activities import ExtractorActivities
from ..engine.sink import Sink
from ..engine.state import StateStore, StateStoreError
from ..engine.workflows import ExtractionWorkflow, ExtractSlicesWorkflow
from .config import ConfigError, Settings
from .health import HealthState, start_health_server
from .metrics import metrics_runtime
from .secrets import resolve_state_store_url
from .temporal_client import TemporalUnreachable, connect, temporal_env, unreachable

log = logging.getLogger(__name__)

__all__ = ["build_worker", "connect", "deployment_config", "serve", "temporal_env"]

CONNECT_BACKOFF_MAX = 30.0


def deployment_config(env: Mapping[str, str] | None = None) -> WorkerDeploymentConfig | None:
    """Worker Deployment Versioning from ``TEMPORAL_DEPLOYMENT_NAME`` + ``TEMPORAL_WORKER_BUILD_ID``.

    Both unset: an unversioned worker. ``TEMPORAL_VERSIONING_BEHAVIOR`` (AUTO_UPGRADE
    or PINNED) applies to workflows that do not declare their own behaviour.
    """
    env = os.environ if env is None else env
    name, build_id = env.get("TEMPORAL_DEPLOYMENT_NAME", ""), env.get("TEMPORAL_WORKER_BUILD_ID", "")
    if not name and not build_id:
        return None
    if not (name and build_id):
        raise ConfigError("set both TEMPORAL_DEPLOYMENT_NAME and TEMPORAL_WORKER_BUILD_ID, or neither")
    behavior = env.get("TEMPORAL_VERSIONING_BEHAVIOR", "AUTO_UPGRADE").upper()
    if behavior not in ("AUTO_UPGRADE", "PINNED"):
        raise ConfigError(f"TEMPORAL_VERSIONING_BEHAVIOR must be AUTO_UPGRADE or PINNED, got {behavior!r}")
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=name, build_id=build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior[behavior],
    )


def build_worker(
    client: Client,
    settings: Settings,
    activities: ExtractorActivities,
    executor: ThreadPoolExecutor,
    *,
    deployment: WorkerDeploymentConfig | None = None,
) -> Worker:
    """The one place that lists what this worker hosts and how much at once."""
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[ExtractionWorkflow, ExtractSlicesWorkflow],
        activities=[activities.plan, activities.extract_slice, activities.finalize],
        activity_executor=executor,
        max_concurrent_activities=settings.max_concurrent_activities,
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
        deployment_config=deployment,
    )


class WorkerFactory(Protocol):
    """Signature of ``build_worker``; tests pass their own to host extra activities."""

    def __call__(
        self,
        client: Client,
        settings: Settings,
        activities: ExtractorActivities,
        executor: ThreadPoolExecutor,
        *,
        deployment: WorkerDeploymentConfig | None = None,
    ) -> Worker: ...


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    build: WorkerFactory = build_worker,
    check_every: float = 5.0,
) -> int:
    """Run until ``stop`` is set or SIGTERM/SIGINT arrives; return the exit code.

    0: drained (or stopped before connecting); 1: the state store cannot be
    reached or used; 2: a setting is wrong (one line names it, no traceback
    unless ``LOG_LEVEL=DEBUG``).
    """
    stop = stop or asyncio.Event()
    try:
        deployment = deployment_config()
        sink = Sink.from_setting(settings.output_url, settings.secrets_dir)
    except (ConfigError, ValueError) as exc:
        log.error("configuration error: %s", exc)
        return 2
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    health = HealthState()
    server = await start_health_server(health, "0.0.0.0", settings.health_port)
    background = [asyncio.create_task(health.tick_forever())]
    try:
        try:  # before Temporal: a state store this worker cannot use is a reason not to start at all
            state_url = resolve_state_store_url(settings.state_store_url, os.environ, settings.secrets_dir)
            state = await StateStore.open(state_url)
        except StateStoreError as exc:
            log.error("%s", exc, exc_info=log.isEnabledFor(logging.DEBUG))
            return 2 if exc.config else 1
        try:
            client = await _connect_until_stopped(settings, metrics_runtime(settings.metrics_port), stop)
            if client is None:
                log.info("stopped before connecting to Temporal")
                return 0
            health.connected = True
            background.append(asyncio.create_task(_watch_connection(client, health, check_every)))
            activities = ExtractorActivities(settings, state, sink=sink)
            log.info("writing output to %s", sink.url)
            try:
                with ThreadPoolExecutor(max_workers=settings.max_concurrent_activities) as pool:
                    worker = build(client, settings, activities, pool, deployment=deployment)
                    tune_gc()
                    return await _run_until_stopped(worker, health, stop)
            finally:
                await activities.close()
        finally:
            await state.close()
    finally:
        for task in background:
            task.cancel()
        server.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


GC_GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    """Collect garbage less often: every batch makes ~100k short-lived records.

    CPython's cyclic collector runs every 700 allocations and, now and then,
    walks every live object (the SDK, the workflow sandbox's modules...).
    ``gc.freeze()`` after start-up takes what exists now out of its sight, and
    a higher young-generation threshold makes collections rarer: about 25%
    less worker CPU on the 5,000-table benchmark. Records are still freed by
    reference counting as soon as their batch is written.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, older, oldest)


async def _connect_until_stopped(settings: Settings, runtime: Runtime | None, stop: asyncio.Event) -> Client | None:
    """Connect with capped exponential backoff; ``None`` if asked to stop first.

    Crashing instead would make an outage of Temporal restart every worker.
    """
    delay = 1.0
    while not stop.is_set():
        try:
            return await connect(settings, runtime)
        except (RuntimeError, RPCError, OSError) as exc:
            why = str(exc) if isinstance(exc, TemporalUnreachable) else unreachable(settings.temporal_address, exc)
            log.warning("%s; retrying in %.0fs", why, delay)
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except TimeoutError:
            delay = min(delay * 2, CONNECT_BACKOFF_MAX)
    return None


async def _watch_connection(client: Client, health: HealthState, every: float) -> None:
    """Keep ``health.connected`` current, so /readyz follows Temporal outages."""
    while True:
        await asyncio.sleep(every)
        try:
            await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=every))
            connected = True
        except (RPCError, RuntimeError, TimeoutError) as exc:
            connected = False
            if health.connected:
                log.warning("lost the connection to Temporal: %s", exc)
        if connected and not health.connected:
            log.info("connection to Temporal is back")
        health.connected = connected


async def _until_polling(worker: Worker, running: asyncio.Task[None], stopping: asyncio.Task[bool]) -> None:
    """Wait until the worker passed its namespace check and polls (or ended, or we stop)."""
    while not worker.is_running:
        done, _ = await asyncio.wait({running, stopping}, timeout=0.05)
        if done:
            return


async def _run_until_stopped(worker: Worker, health: HealthState, stop: asyncio.Event) -> int:
    running = asyncio.create_task(worker.run())
    stopping = asyncio.create_task(stop.wait())
    await _until_polling(worker, running, stopping)
    health.running = worker.is_running
    if health.running:
        log.info("worker polling task queue %s", worker.task_queue)
    done, _ = await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if running in done:
        health.poll_loop_alive = False
        health.running = False
        stopping.cancel()
        running.result()  # re-raises the worker's fatal error (e.g. failed namespace check): exit 1
        log.error("worker stopped polling on its own")
        return 1
    health.draining = True
    started = time.monotonic()
    log.info("draining: polling stopped, waiting for in-flight activities")
    await worker.shutdown()
    await running
    health.running = False
    log.info("worker drained in %.1fs", time.monotonic() - started)
    return 0
