"""Temporal look-ups for tests/test_container.py, run with the *generated app's* Python
(the template's own venv has no temporalio). One command per call, JSON on stdout:

    python container_probe.py wait ADDRESS NAMESPACE [SECONDS]          -> {"ok": true}
    python container_probe.py pollers ADDRESS NAMESPACE QUEUE           -> {"workflow": [...], "activity": [...]}
    python container_probe.py activity-workers ADDRESS NAMESPACE        -> {"ActivityType": [identities...]}
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter


async def connect(address: str, namespace: str) -> Client:
    return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)


async def wait(address: str, namespace: str, seconds: str = "30") -> dict[str, object]:
    deadline = time.monotonic() + float(seconds)
    while True:
        try:
            client = await connect(address, namespace)
            await client.count_workflows()
            return {"ok": True}
        except Exception as exc:  # noqa: BLE001 - any failure means "not up yet"
            if time.monotonic() > deadline:
                return {"ok": False, "error": repr(exc)}
            await asyncio.sleep(0.3)


async def pollers(address: str, namespace: str, queue: str) -> dict[str, list[str]]:
    client = await connect(address, namespace)
    found: dict[str, list[str]] = {}
    for name, kind in (("workflow", TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
                       ("activity", TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)):
        response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind))
        found[name] = sorted({p.identity for p in response.pollers})
    return found


async def activity_workers(address: str, namespace: str) -> dict[str, list[str]]:
    """For every activity type run in the namespace (all workflows, children too), who ran it."""
    client = await connect(address, namespace)
    ran: dict[str, set[str]] = defaultdict(set)
    async for execution in client.list_workflows():
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        scheduled: dict[int, str] = {}
        for event in history.events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
            elif event.HasField("activity_task_started_event_attributes"):
                started = event.activity_task_started_event_attributes
                ran[scheduled.get(started.scheduled_event_id, "?")].add(started.identity)
    return {name: sorted(who) for name, who in ran.items()}


Command = Callable[..., Coroutine[Any, Any, object]]
COMMANDS: dict[str, Command] = {"wait": wait, "pollers": pollers, "activity-workers": activity_workers}

if __name__ == "__main__":
    result = asyncio.run(COMMANDS[sys.argv[1]](*sys.argv[2:]))
    print(json.dumps(result), flush=True)
    # Leave without interpreter finalization: the Temporal client's native threads can abort it
    # (temporalio/sdk-python#300), as the app's own client commands do.
    os._exit(0)
