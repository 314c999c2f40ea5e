"""Record the workflow histories that ``test_replay.py`` replays: ``make histories``.

Runs real extractions of the sample catalog on a throwaway Temporal dev
server (completed, failed and cancelled runs, with several child
workflows), then writes each parent's and child's history as JSON to
``tests/histories/<url-quoted workflow id>.json``. Refresh them after an
*intended* change to workflow code, once the change is guarded with
``workflow.patched`` where old runs may still be open (see the README).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.engine.workflows import ExtractionWorkflow
from {{ cookiecutter.package_name }}.runtime.devserver import start_dev_server
from {{ cookiecutter.package_name }}.runtime.logs import configure_logging
from {{ cookiecutter.package_name }}.runtime.runs import build_request, start
from {{ cookiecutter.package_name }}.sources.sample import create_sample

from .live import live_worker

HISTORIES = Path(__file__).parent / "histories"
# Small slices so one run has several children, signals and batches.
RUN_SHAPE = {"batch_size": 2, "slice_size": 4, "slices_per_child": 3, "max_parallel_slices": 2}


def history_path(workflow_id: str) -> Path:
    return HISTORIES / f"{quote(workflow_id, safe='')}.json"


async def save(client: Client, workflow_id: str) -> list[str]:
    """Write the history of ``workflow_id`` and of every child it started; return the ids."""
    handle = client.get_workflow_handle(workflow_id)
    history = await handle.fetch_history()
    history_path(workflow_id).write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    saved = [workflow_id]
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            saved += await save(client, event.start_child_workflow_execution_initiated_event_attributes.workflow_id)
    return saved


async def record(work: Path) -> list[str]:
    source = f"sqlite:///{create_sample(work / 'sample.db')}"
    saved: list[str] = []
    async with await start_dev_server() as server:
        client = server.client
        state = await StateStore.open(f"sqlite+aiosqlite:///{work / 'state.db'}")
        try:
            async with live_worker(client, state, source, output=work / "out", **RUN_SHAPE) as (config, _):
                request = build_request(config, "test", None)
                await (await start(client, config, request, "replay-completed")).result()
                saved += await save(client, "replay-completed")

                broken = request.model_copy(update={"source": "missing"})  # no SOURCE_MISSING_DSN
                await _expect_failure(await start(client, config, broken, "replay-failed"))
                saved += await save(client, "replay-failed")

            async with live_worker(client, state, source, delay=0.3, heartbeat_timeout_seconds=1.0,
                                   output=work / "out", **RUN_SHAPE) as (config, _):
                request = build_request(config, "test", None)
                handle = await start(client, config, request, "replay-cancelled")
                for _ in range(300):  # cancel once a few slices are done, so the history has both
                    if (await handle.query(ExtractionWorkflow.progress)).slices_done >= 2:
                        break
                    await asyncio.sleep(0.1)
                await handle.cancel()
                await _expect_failure(handle)
                saved += await save(client, "replay-cancelled")
        finally:
            await state.close()
    return saved


async def _expect_failure(handle: WorkflowHandle[Any, Any]) -> None:
    try:
        await handle.result()
    except WorkflowFailureError:
        return
    raise RuntimeError(f"{handle.id} was expected to fail or be cancelled")


def main() -> int:
    configure_logging("ERROR")
    HISTORIES.mkdir(exist_ok=True)
    for old in HISTORIES.glob("*.json"):
        old.unlink()
    with tempfile.TemporaryDirectory() as work:
        saved = asyncio.run(record(Path(work)))
    for workflow_id in saved:
        print(f"wrote {history_path(workflow_id).relative_to(Path.cwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
