"""Run a real extraction (in-process worker, real Temporal) and load its output."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client

from {{ cookiecutter.package_name }}.engine.activities import ExtractorActivities
from {{ cookiecutter.package_name }}.engine.models import ExtractionSummary
from {{ cookiecutter.package_name }}.engine.sink import read_url
from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.engine.workflows import ExtractionWorkflow
from {{ cookiecutter.package_name }}.runtime.config import Settings
from {{ cookiecutter.package_name }}.runtime.runs import build_request
from {{ cookiecutter.package_name }}.runtime.worker import build_worker


@dataclass
class Run:
    summary: ExtractionSummary
    manifest: dict[str, Any]
    records: list[dict[str, Any]]

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return {r["qualified_name"]: r for r in self.records if r["kind"] == kind}


async def extract(
    client: Client,
    source_url: str,
    output: Path | str,
    state: StateStore,
    schemas: str | None = None,
    workflow_id: str | None = None,
    **settings: Any,
) -> Run:
    """Extract ``source_url`` through a fresh worker on its own task queue, writing under ``output``."""
    settings.setdefault("activity_max_attempts", 2)
    config = replace(Settings(), task_queue=f"test-{uuid.uuid4().hex}", output_url=str(output), **settings)
    activities = ExtractorActivities(config, state, env={"SOURCE_TEST_DSN": source_url})
    try:
        with ThreadPoolExecutor(max_workers=config.max_concurrent_activities) as pool:
            async with build_worker(client, config, activities, pool):
                request = build_request(config, "test", schemas)
                summary = await client.execute_workflow(
                    ExtractionWorkflow.run, request,
                    id=workflow_id or f"test-{uuid.uuid4().hex}", task_queue=config.task_queue,
                    execution_timeout=timedelta(minutes=3),
                )
    finally:
        await activities.close()
    return load(summary)


def load(summary: ExtractionSummary) -> Run:
    """The run's manifest and records, read through the manifest's URL (any store)."""
    manifest = json.loads(read_url(summary.manifest))
    folder = summary.manifest.rpartition("/")[0]
    records = [
        json.loads(line)
        for part in manifest["parts"]
        for line in read_url(f"{folder}/{part['path']}").splitlines()
    ]
    return Run(summary, manifest, records)
