"""Probe semantics.

``/livez``: event loop responsive and poll loop alive; never depends on Temporal.
``/readyz``: connected to Temporal, worker running, not draining.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.activities import ExtractorActivities
from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.runtime.config import Settings
from {{ cookiecutter.package_name }}.runtime.devserver import start_dev_server
from {{ cookiecutter.package_name }}.runtime.health import HealthState, start_health_server
from {{ cookiecutter.package_name }}.runtime.worker import build_worker, serve

from .probes import free_port, http_get, wait_for_status

STATES = {
    # name: (HealthState fields, seconds since the loop last ticked, /livez, /readyz)
    "starting, not yet connected": ({}, 0, 200, 503),
    "connected and polling": ({"connected": True, "running": True}, 0, 200, 200),
    "draining after SIGTERM": ({"connected": True, "running": True, "draining": True}, 0, 200, 503),
    "Temporal unreachable while running": ({"connected": False, "running": True}, 0, 200, 503),
    "poll loop died": ({"connected": True, "running": False, "poll_loop_alive": False}, 0, 503, 503),
    "event loop stalled": ({"connected": True, "running": True}, 60, 503, 503),
}


@pytest.fixture
async def probe() -> AsyncIterator[tuple[HealthState, int]]:
    state = HealthState()
    port = free_port()
    server = await start_health_server(state, "127.0.0.1", port)
    try:
        yield state, port
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("name", list(STATES))
async def test_each_probe_state_over_http(name: str, probe: tuple[HealthState, int]) -> None:
    state, port = probe
    fields, lag, live, ready = STATES[name]
    for key, value in fields.items():
        setattr(state, key, value)
    state.last_tick = time.monotonic() - lag
    assert (await http_get(port, "/livez"))[0] == live
    assert (await http_get(port, "/readyz"))[0] == ready
    assert (await http_get(port, "/metrics"))[0] == 404


async def test_a_blocked_event_loop_fails_liveness_until_it_runs_again() -> None:
    state = HealthState(max_loop_lag=0.3)
    ticker = asyncio.create_task(state.tick_forever(every=0.05))
    try:
        await asyncio.sleep(0.1)
        assert state.live()
        time.sleep(0.5)  # noqa: ASYNC251 - blocking the loop is the point
        assert not state.live()
        await asyncio.sleep(0.1)
        assert state.live()
    finally:
        ticker.cancel()


def settings_for(tmp_path: Path, address: str, **overrides: object) -> Settings:
    return Settings.defaults(
        temporal_address=address, health_port=free_port(), metrics_port=0,
        state_store_url=f"sqlite+aiosqlite:///{tmp_path / 'state.db'}", graceful_shutdown_seconds=1.0, **overrides,
    )


async def test_live_but_not_ready_while_temporal_is_unreachable(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, f"127.0.0.1:{free_port()}")
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(settings, stop))
    try:
        await wait_for_status(settings.health_port, "/livez", 200, within=10)
        for _ in range(10):  # across several reconnect attempts
            assert (await http_get(settings.health_port, "/livez"))[0] == 200
            assert (await http_get(settings.health_port, "/readyz"))[0] == 503
            await asyncio.sleep(0.2)
    finally:
        stop.set()
    assert await asyncio.wait_for(serving, 5) == 0, "a stop while connecting is a clean exit"


async def test_ready_when_connected_and_not_ready_once_temporal_goes_away(tmp_path: Path) -> None:
    server = await start_dev_server()
    settings = settings_for(tmp_path, server.client.service_client.config.target_host)
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(settings, stop, check_every=0.5))
    try:
        await wait_for_status(settings.health_port, "/readyz", 200, within=15)
        await server.shutdown()
        await wait_for_status(settings.health_port, "/readyz", 503, within=10)
        assert (await http_get(settings.health_port, "/livez"))[0] == 200, "an outage must not fail liveness"
    finally:
        stop.set()
        await server.shutdown()
    assert await asyncio.wait_for(serving, 30) == 0


async def test_stop_makes_a_running_worker_unready_then_exit_0(temporal: WorkflowEnvironment, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, temporal.client.service_client.config.target_host, task_queue="health-stop")
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(settings, stop))
    await wait_for_status(settings.health_port, "/readyz", 200, within=15)
    stop.set()
    assert await asyncio.wait_for(serving, 15) == 0
    assert (await http_get(settings.health_port, "/livez"))[0] == 0, "probe server closed on exit"


async def test_build_worker_uses_the_configured_drain_budget(temporal: WorkflowEnvironment, state: StateStore) -> None:
    settings = Settings.defaults(graceful_shutdown_seconds=42.0)
    with ThreadPoolExecutor(max_workers=settings.max_concurrent_activities) as pool:
        worker = build_worker(temporal.client, settings, ExtractorActivities(settings, state), pool)
    assert worker.config()["graceful_shutdown_timeout"] == timedelta(seconds=42)
