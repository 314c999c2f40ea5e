"""Scrape /metrics of the real ``worker`` command after real extractions.

One exporter on 0.0.0.0:METRICS_PORT carries the Temporal SDK's metrics and
ours: tables, columns and batches extracted, and failed activity attempts.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.workflows import ExtractionWorkflow
from {{ cookiecutter.package_name }}.runtime.config import APP_SLUG, Settings
from {{ cookiecutter.package_name }}.runtime.runs import build_request

from .catalogs import sqlite_catalog
from .probes import WorkerProcess, console_script, free_port, http_get, wait_for_status

SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)$")


def total(text: str, name: str, **labels: str) -> float:
    """Sum of every sample of counter ``name`` (with or without ``_total``) matching ``labels``."""
    found = 0.0
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if not match or match["name"] not in (name, f"{name}_total"):
            continue
        if all(f'{key}="{value}"' in (match["labels"] or "") for key, value in labels.items()):
            found += float(match["value"])
    return found


async def scrape_until(port: int, ready: str, within: float = 10) -> str:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        status, body = await http_get(port, "/metrics")
        if status == 200 and ready in body:
            return body
        assert asyncio.get_running_loop().time() < deadline, f"/metrics never showed {ready}:\n{body[-3000:]}"
        await asyncio.sleep(0.2)


async def test_worker_exports_sdk_and_app_metrics(temporal: WorkflowEnvironment, tmp_path: Path) -> None:
    client = temporal.client
    health_port, metrics_port = free_port(), free_port()
    settings = Settings.defaults(task_queue=f"metrics-{uuid.uuid4().hex}")
    with sqlite_catalog(tmp_path) as catalog:
        env = {
            "TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": client.namespace,
            "TASK_QUEUE": settings.task_queue,
            "HEALTH_PORT": str(health_port),
            "METRICS_PORT": str(metrics_port),
            "STATE_STORE_URL": f"sqlite+aiosqlite:///{tmp_path / 'state.db'}",
            "SOURCE_TEST_DSN": catalog.url,
            "LOG_FORMAT": "json",
        }
        worker = await WorkerProcess.start([console_script(APP_SLUG), "worker"], env, tmp_path, "worker")
        try:
            await wait_for_status(health_port, "/readyz", 200, within=20)
            summary = await client.execute_workflow(
                ExtractionWorkflow.run, build_request(settings, "test", None),
                id=f"metrics-{uuid.uuid4().hex}", task_queue=settings.task_queue,
                execution_timeout=timedelta(seconds=60),
            )
            with pytest.raises(WorkflowFailureError):
                await client.execute_workflow(
                    ExtractionWorkflow.run, build_request(settings, "missing", None),
                    id=f"metrics-{uuid.uuid4().hex}", task_queue=settings.task_queue,
                    execution_timeout=timedelta(seconds=60),
                )
            text = await scrape_until(metrics_port, "extractor_activity_errors")
        finally:
            code, _ = await worker.terminate()
            await worker.kill()
    assert code == 0, worker.output()

    # Temporal SDK runtime metrics, tagged with our task queue.
    assert total(text, "temporal_activity_execution_latency_count", task_queue=settings.task_queue) >= 3, text
    assert total(text, "temporal_workflow_completed", task_queue=settings.task_queue) >= 1, text
    # App metrics agree with the run's own summary.
    counts = summary.counts
    units = counts["tables"] + counts["views"]
    assert total(text, "extractor_units_extracted", task_queue=settings.task_queue) == units
    for kind in ("tables", "columns", "indexes"):
        assert total(text, "extractor_records_extracted", task_queue=settings.task_queue, kind=kind) == counts[kind]
    assert total(text, "extractor_pages_extracted", activity_type="extract_slice") >= 1
    assert total(text, "extractor_activity_errors", error_type="SourceConfigError") >= 1, text
    assert total(text, "extractor_activity_errors", error_type="SourceConfigError", activity_type="plan") >= 1
