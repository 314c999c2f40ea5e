"""Worker process: hosts workflows and activities until SIGTERM, then drains.

On SIGTERM (or Ctrl-C) it stops polling, lets in-flight activities finish
within ``GRACEFUL_SHUTDOWN_SECONDS``, cancels what is left (it resumes from
its checkpoint on another worker) and exits 0. Probes and Prometheus
metrics are served on their own ports.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from .activities import ExtractorActivities
from .config import Settings
from .health import HealthState, start_health_server
from .state import StateStore
from .temporal_client import connect
from .workflows import ExtractionWorkflow, ExtractSlicesWorkflow

log = logging.getLogger(__name__)


def build_worker(
    client: Client, settings: Settings, activities: ExtractorActivities, executor: ThreadPoolExecutor
) -> Worker:
    """The one place that lists what this worker hosts and how much at once."""
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[ExtractionWorkflow, ExtractSlicesWorkflow],
        activities=[activities.preflight, activities.extract_slice, activities.finalize],
        activity_executor=executor,
        max_concurrent_activities=settings.max_concurrent_activities,
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
    )


def metrics_runtime(port: int) -> Runtime | None:
    """Runtime exporting SDK + app metrics on ``0.0.0.0:port`` (0 disables)."""
    if port == 0:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"0.0.0.0:{port}")))


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Run until ``stop`` is set or SIGTERM/SIGINT arrives; return the exit code."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    health = HealthState()
    server = await start_health_server(health, "0.0.0.0", settings.health_port)
    client = await connect(settings, metrics_runtime(settings.metrics_port))
    health.connected = True
    state = await StateStore.open(settings.state_store_url)
    activities = ExtractorActivities(settings, state)
    try:
        with ThreadPoolExecutor(max_workers=settings.max_concurrent_activities) as pool:
            worker = build_worker(client, settings, activities, pool)
            return await _run_until_stopped(worker, health, stop)
    finally:
        await activities.close()
        await state.close()
        server.close()


async def _run_until_stopped(worker: Worker, health: HealthState, stop: asyncio.Event) -> int:
    running = asyncio.create_task(worker.run())
    stopping = asyncio.create_task(stop.wait())
    health.running = True
    log.info("worker polling task queue %s", worker.task_queue)
    done, _ = await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if running in done:
        health.poll_loop_alive = False
        stopping.cancel()
        running.result()
        return 1
    health.draining = True
    log.info("draining: no new tasks, waiting for in-flight activities")
    await worker.shutdown()
    await running
    health.running = False
    log.info("worker stopped cleanly")
    return 0
