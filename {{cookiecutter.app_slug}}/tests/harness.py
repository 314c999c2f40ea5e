"""Run a real extraction (in-process worker, real Temporal) and load its output."""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from io import StringIO
from pathlib import Path
from typing import Any

import jsonschema
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from {{ cookiecutter.package_name }} import sources
from {{ cookiecutter.package_name }}.engine.activities import ExtractorActivities
from {{ cookiecutter.package_name }}.engine.models import (
    ExtractionSummary,
    FinalizeInput,
    RunContext,
    SliceTask,
)
from {{ cookiecutter.package_name }}.engine.sink import read_url
from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.engine.workflows import ExtractionWorkflow
from {{ cookiecutter.package_name }}.runtime.config import Settings
from {{ cookiecutter.package_name }}.runtime.logs import configure_logging
from {{ cookiecutter.package_name }}.runtime.runs import build_request
from {{ cookiecutter.package_name }}.runtime.worker import build_worker


@contextmanager
def logs_to(fmt: str, level: str = "DEBUG") -> Iterator[StringIO]:
    """Configure logging as the app does, into a buffer; restore everything afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, activity.logger.activity_info_on_message,
             workflow.logger.workflow_info_on_message)
    out = StringIO()
    configure_logging(level, fmt, stream=out)
    try:
        yield out
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        activity.logger.activity_info_on_message, workflow.logger.workflow_info_on_message = saved[2], saved[3]


@dataclass
class Run:
    summary: ExtractionSummary
    manifest: dict[str, Any]
    records: list[dict[str, Any]]

    def duplicates(self) -> list[tuple[str, str]]:
        """``(kind, qualified_name)`` keys written more than once: always empty in a correct run."""
        keys = Counter((r["kind"], r["qualified_name"]) for r in self.records)
        return [key for key, n in keys.items() if n > 1]

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return {r["qualified_name"]: r for r in self.records if r["kind"] == kind}

    def invalid_records(self) -> list[str]:
        """Each record that breaks the shipped JSON Schema (``sources/records.schema.json``), with why."""
        schema = json.loads(resources.files(sources).joinpath("records.schema.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        whole = jsonschema.Draft202012Validator(schema)
        # The kind's own branch names the field at fault; "not valid under any of oneOf" would not.
        by_kind = {branch["properties"]["kind"]["const"]: jsonschema.Draft202012Validator(branch)
                   for branch in schema["oneOf"]}
        return [f"{r.get('kind')} {r.get('qualified_name')}: {e.message}" for r in self.records
                for e in (by_kind[r["kind"]] if r.get("kind") in by_kind else whole).iter_errors(r)]


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
    config = Settings.defaults(task_queue=f"test-{uuid.uuid4().hex}", output_url=str(output), **settings)
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


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


async def snapshot(state: StateStore, output: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    entries = await state.scan("")
    return {k: (e.version, e.value) for k, e in entries.items()}, files(output)


def activity_env() -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=timedelta(seconds=30))
    return env


async def every_activity_twice(
    activities: ExtractorActivities, run: RunContext, state: StateStore, output: Path
) -> ExtractionSummary:
    """Run each activity twice, in the workflow's order; the second run of each must change nothing.

    Temporal delivers activities at least once: a retry after a lost completion
    re-runs work that already happened. Returns the finalize summary.
    """
    env = activity_env()
    plan = await env.run(activities.plan, run)
    after_plan = await snapshot(state, output)
    assert await env.run(activities.plan, run) == plan
    assert await snapshot(state, output) == after_plan
    assert after_plan[1] == {}  # planning writes no output, only the plan in the state store
    run = run.model_copy(update={"fingerprint": plan.fingerprint})

    assert len(plan.slices) > 1
    for ref in plan.slices:
        task = SliceTask(run=run, slice=ref)
        first = await env.run(activities.extract_slice, task)
        after_first = await snapshot(state, output)
        again = await env.run(activities.extract_slice, task)
        assert await snapshot(state, output) == after_first
        assert again.model_dump(exclude={"resumed_from_page"}) == first.model_dump(exclude={"resumed_from_page"})
        assert (first.resumed_from_page, again.resumed_from_page) == (0, first.pages)

    finalize = FinalizeInput(run=run, plan=plan)
    summary = await env.run(activities.finalize, finalize)
    after_first = await snapshot(state, output)
    assert await env.run(activities.finalize, finalize) == summary
    assert await snapshot(state, output) == after_first
    return summary
