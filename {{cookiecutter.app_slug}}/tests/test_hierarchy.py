"""The workflow tree stays bounded: children carry the activities, payloads stay small."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.state import StateStore

from .harness import extract

MAX_PAYLOAD_BYTES = 200 * 1024


def make_catalog(path: Path, tables: int) -> str:
    with sqlite3.connect(path) as conn:
        for n in range(tables):
            conn.execute(f"CREATE TABLE t{n:03d} (id INTEGER NOT NULL PRIMARY KEY, v TEXT)")
    conn.close()
    return f"sqlite:///{path}"


async def history_stats(client: Client, workflow_id: str) -> tuple[int, int]:
    """(activities scheduled, largest payload in bytes) over one workflow's history."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    activities = sum(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in history.events)
    largest = max(
        (p.ByteSize() for e in history.events for p in _payloads(e)), default=0
    )
    return activities, largest


def _payloads(event: HistoryEvent) -> list[Payload]:
    found: list[Payload] = []
    for attr in ("activity_task_scheduled_event_attributes", "activity_task_completed_event_attributes",
                 "workflow_execution_started_event_attributes", "workflow_execution_completed_event_attributes",
                 "start_child_workflow_execution_initiated_event_attributes",
                 "child_workflow_execution_completed_event_attributes",
                 "workflow_execution_signaled_event_attributes"):
        attrs = getattr(event, attr)
        for field in ("input", "result"):
            container = getattr(attrs, field, None)
            if container is not None:
                found.extend(container.payloads)
    return found


async def test_children_bound_activities_and_payloads_stay_small(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    url = make_catalog(tmp_path / "wide.db", tables=60)
    workflow_id = f"hierarchy-{uuid.uuid4().hex}"
    run = await extract(temporal.client, url, tmp_path / "out", state, workflow_id=workflow_id,
                        batch_size=5, slice_size=5, slices_per_child=4)
    assert run.summary.counts["tables"] == 60

    parent_activities, parent_largest = await history_stats(temporal.client, workflow_id)
    assert parent_activities == 2  # plan + finalize; the extraction lives in the children
    assert parent_largest < MAX_PAYLOAD_BYTES

    children = [f"{workflow_id}/slices-{n:04d}" for n in range(3)]  # 12 slices / 4 per child
    for child in children:
        activities, largest = await history_stats(temporal.client, child)
        assert activities == 4
        assert largest < MAX_PAYLOAD_BYTES


async def signals_received(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED for e in history.events)


async def test_progress_reports_are_batched_so_the_parent_history_stays_small(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    """40 slices: one signal per slice when asked, one per child when batching."""
    url = make_catalog(tmp_path / "wide.db", tables=40)
    every_slice, batched = f"every-{uuid.uuid4().hex}", f"batched-{uuid.uuid4().hex}"
    common: dict[str, Any] = {"batch_size": 1, "slice_size": 1, "slices_per_child": 20}
    await extract(temporal.client, url, tmp_path / "a", state, workflow_id=every_slice,
                  progress_every_seconds=0, **common)
    run = await extract(temporal.client, url, tmp_path / "b", state, workflow_id=batched,
                        progress_every_seconds=3600, **common)
    assert await signals_received(temporal.client, every_slice) == 40
    assert await signals_received(temporal.client, batched) == 2  # one final report per child
    assert run.summary.counts["tables"] == 40
