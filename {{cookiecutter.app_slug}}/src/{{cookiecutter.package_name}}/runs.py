"""Client side of a run: build the request, start it, show progress and the summary."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.client import Client, WorkflowHandle

from .config import Settings
from .models import ActivityTuning, ExtractionRequest, ExtractionSummary
from .models import Progress as RunProgress
from .workflows import ExtractionWorkflow


def build_request(settings: Settings, source: str, output: Path, schemas: str | None) -> ExtractionRequest:
    """The workflow input. ``output`` must be a path the workers can write."""
    return ExtractionRequest(
        source=source,
        output=str(output.resolve()),
        schema_pattern=schemas,
        batch_size=settings.batch_size,
        slice_size=settings.slice_size,
        max_parallel_slices=settings.max_parallel_slices,
        slices_per_child=settings.slices_per_child,
        tuning=ActivityTuning(
            heartbeat_timeout_s=settings.heartbeat_timeout_seconds,
            max_attempts=settings.activity_max_attempts,
        ),
    )


def default_workflow_id(source: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"extract-{re.sub(r'[^A-Za-z0-9_-]', '_', source)}-{stamp}"


async def start(
    client: Client, settings: Settings, request: ExtractionRequest, workflow_id: str
) -> WorkflowHandle[ExtractionWorkflow, ExtractionSummary]:
    return await client.start_workflow(
        ExtractionWorkflow.run, request, id=workflow_id, task_queue=settings.task_queue
    )


async def follow(
    handle: WorkflowHandle[ExtractionWorkflow, ExtractionSummary], console: Console, every: float = 0.5
) -> ExtractionSummary:
    """Show a live progress bar from the workflow's ``progress`` query until it ends."""
    result = asyncio.ensure_future(handle.result())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        tables = bar.add_task("tables", total=None)
        slices = bar.add_task("slices", total=None)
        while not result.done():
            await _refresh(handle, bar, tables, slices)
            await asyncio.wait({result}, timeout=every)
        await _refresh(handle, bar, tables, slices)
    return result.result()


async def _refresh(handle: WorkflowHandle[ExtractionWorkflow, ExtractionSummary],
                   bar: Progress, tables: TaskID, slices: TaskID) -> None:
    try:
        snap: RunProgress = await handle.query(ExtractionWorkflow.progress)
    except Exception:  # noqa: BLE001 - progress is best effort; the result is what counts
        return
    bar.update(tables, total=snap.tables_total or None, completed=snap.tables_done,
               description=f"tables ({snap.stage})")
    bar.update(slices, total=snap.slices_total or None, completed=snap.slices_done)


def render_summary(summary: ExtractionSummary, console: Console) -> None:
    table = Table(title=f"{summary.dialect} database {summary.database!r}")
    table.add_column("entity")
    table.add_column("count", justify="right")
    for name, value in summary.counts.model_dump().items():
        table.add_row(name, str(value))
    console.print(table)
    console.print(f"manifest: {summary.manifest}", soft_wrap=True)
