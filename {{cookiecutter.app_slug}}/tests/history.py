"""Everything Temporal stored about a run, as searchable text.

Payloads (inputs, results, heartbeat details, failure details) are bytes in
the protobuf and base64 in ``to_json()``, so searching the JSON for a
password would miss them. These helpers walk the protobuf and decode every
bytes field instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf.message import Message
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory


def texts(value: Any) -> Iterator[str]:
    """Every string and decoded bytes field inside a protobuf message (recursively)."""
    if isinstance(value, Message):
        for _, field_value in value.ListFields():
            yield from texts(field_value)
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, str):
        yield value
    elif hasattr(value, "items"):
        for key, item in value.items():
            yield from texts(key)
            yield from texts(item)
    elif not isinstance(value, int | float):  # repeated fields iterate without defining __iter__
        for item in list(value):
            yield from texts(item)


async def histories(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """History of a workflow and, recursively, of every child it started (no visibility query needed)."""
    found: list[WorkflowHistory] = []
    pending = [workflow_id]
    while pending:
        history = await client.get_workflow_handle(pending.pop()).fetch_history()
        found.append(history)
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
                pending.append(event.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id)
    return found


async def run_text(client: Client, workflow_id: str) -> str:
    """Decoded history of a workflow and its children: JSON plus every payload as text."""
    found: list[str] = []
    for history in await histories(client, workflow_id):
        found.append(history.to_json())
        for event in history.events:
            found.extend(texts(event))
    return "\n".join(found)


async def pending_activity_text(client: Client, workflow_id: str) -> str:
    """Decoded heartbeat details and failures of a workflow's running activities (empty if none)."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except Exception:  # noqa: BLE001 - not started yet or already gone: nothing pending
        return ""
    return "\n".join(t for a in description.raw_description.pending_activities for t in texts(a))
