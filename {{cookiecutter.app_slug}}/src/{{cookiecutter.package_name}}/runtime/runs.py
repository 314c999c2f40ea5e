"""Client side of a run: build the request, start it, watch, inspect and cancel it.

Progress comes from the workflow's ``progress`` query (served by a worker from
the workflow's state), never from files, so it works from any machine that
reaches Temporal.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, Task, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from ..engine.models import ActivityTuning, ExtractionRequest, ExtractionSummary
from ..engine.models import Progress as RunProgress
from ..engine.workflows import ExtractionWorkflow
from .config import Settings

RunHandle = WorkflowHandle[ExtractionWorkflow, ExtractionSummary]
QUERY_TIMEOUT = timedelta(seconds=5)
#: Returns a warning while no worker polls the run's task queue, else ``None``.
UnservedCheck = Callable[[], Awaitable[str | None]]
UNSERVED_AFTER_S = 3.0  # a worker that is starting up gets this long before the warning


def build_request(settings: Settings, source: str, schemas: str | None) -> ExtractionRequest:
    """The workflow input: names and tuning only; each worker writes to its own ``OUTPUT_URL``."""
    return ExtractionRequest(
        source=source,
        schema_pattern=schemas,
        batch_size=settings.batch_size,
        slice_size=settings.slice_size,
        max_parallel_slices=settings.max_parallel_slices,
        slices_per_child=settings.slices_per_child,
        progress_every_s=settings.progress_every_seconds,
        tuning=ActivityTuning(
            heartbeat_timeout_s=settings.heartbeat_timeout_seconds,
            max_attempts=settings.activity_max_attempts,
        ),
    )


def default_workflow_id(source: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"extract-{re.sub(r'[^A-Za-z0-9_-]', '_', source)}-{stamp}"


async def start(client: Client, settings: Settings, request: ExtractionRequest, workflow_id: str) -> RunHandle:
    return await client.start_workflow(
        ExtractionWorkflow.run, request, id=workflow_id, task_queue=settings.task_queue
    )


def get_handle(client: Client, workflow_id: str) -> RunHandle:
    return client.get_workflow_handle_for(ExtractionWorkflow.run, workflow_id)


# --- progress ----------------------------------------------------------------


def elapsed(snap: RunProgress, now: datetime) -> timedelta | None:
    """Workflow time since extraction began (up to the end, once done); ``None`` before it began."""
    if snap.started_at is None:
        return None
    end = snap.updated_at if snap.stage == "done" and snap.updated_at else now
    return end - snap.started_at


def rate_and_eta(snap: RunProgress, now: datetime) -> tuple[float | None, timedelta | None]:
    """Units (relations, for SQL) per second since extraction began, and the time left at that pace."""
    took = elapsed(snap, now)
    if took is None or snap.units_done == 0 or took <= timedelta(0):
        return None, None
    rate = snap.units_done / took.total_seconds()
    if not snap.units_total:
        return rate, None
    return rate, timedelta(seconds=round(max(snap.units_total - snap.units_done, 0) / rate))


def describe(snap: RunProgress, now: datetime) -> str:
    """The snapshot as one line, for logs and non-interactive terminals."""
    words = snap.words
    if snap.stage in ("starting", "planning"):  # nothing planned yet, so nothing to count
        return snap.stage
    return (f"{snap.stage}: {words.groups} {snap.groups_done}/{snap.groups_total}, "
            f"{words.units} {snap.units_done}/{'?' if snap.units_total is None else snap.units_total}, "
            f"slices {snap.slices_done}/{snap.slices_total}"
            f"{pace_text(snap, now, lead=', ', sep=', ')}")


def pace_text(snap: RunProgress, now: datetime, lead: str = "", sep: str = "  ") -> str:
    """``12.5 relations/s  ETA 0:00:04``, or nothing before the first unit is done."""
    rate, eta = rate_and_eta(snap, now)
    if rate is None:
        return ""
    return f"{lead}{rate:.1f} {snap.words.units}/s" + (f"{sep}ETA {eta}" if eta is not None else "")


class RunElapsedColumn(TimeElapsedColumn):
    """rich's elapsed time, on the run's clock: ``status`` or a late ``follow`` shows the run's time, not ours."""

    def render(self, task: Task) -> Text:
        took: timedelta | None = task.fields.get("elapsed")
        shown = "-:--:--" if took is None else str(timedelta(seconds=int(took.total_seconds())))
        return Text(shown, style="progress.elapsed")


class ProgressView:
    """Bars for groups and units (schemas and relations) with elapsed time, rate and ETA, fed with snapshots."""

    def __init__(self, console: Console) -> None:
        self.bars = Progress(
            TextColumn("{task.description:>9}"), BarColumn(bar_width=None), MofNCompleteColumn(),
            RunElapsedColumn(), TextColumn("{task.fields[detail]}"), console=console, transient=False,
        )
        self._groups = self.bars.add_task("", total=None, detail="", elapsed=None)
        self._units = self.bars.add_task("", total=None, detail="", elapsed=None)

    def update(self, snap: RunProgress, now: datetime) -> None:
        words, took = snap.words, elapsed(snap, now)
        self.bars.update(self._groups, description=words.groups, total=snap.groups_total or None,
                         completed=snap.groups_done, detail=snap.stage, elapsed=took)
        self.bars.update(self._units, description=words.units, total=snap.units_total or None,
                         completed=snap.units_done, detail=pace_text(snap, now), elapsed=took)


async def snapshot(handle: RunHandle) -> RunProgress | None:
    """The run's progress, or ``None`` when no worker answers the query in time."""
    try:
        return await handle.query(ExtractionWorkflow.progress, rpc_timeout=QUERY_TIMEOUT)
    except Exception:  # noqa: BLE001 - progress is best effort; the run's result is what counts
        return None


def unserved_check(client: Client, settings: Settings) -> UnservedCheck:
    """A check for ``follow``: is any worker polling ``settings.task_queue``? A run nobody polls waits forever."""
    request = DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=settings.task_queue),
                                       task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)

    async def check() -> str | None:
        if (await client.workflow_service.describe_task_queue(request)).pollers:
            return None
        return (f"no worker is polling task queue {settings.task_queue!r} (TASK_QUEUE) in namespace "
                f"{client.namespace!r} at {settings.temporal_address}: the run waits until one does; "
                "start one with `worker`, or check TASK_QUEUE and TEMPORAL_ADDRESS on both sides")

    return check


async def warn_if_unserved(check: UnservedCheck, console: Console, after: float = UNSERVED_AFTER_S) -> None:
    await asyncio.sleep(after)
    try:
        message = await check()
    except Exception:  # noqa: BLE001 - a hint only; following goes on whatever happens here
        return
    if message:
        console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)


async def follow(handle: RunHandle, console: Console, every: float = 0.5,
                 unserved: UnservedCheck | None = None) -> ExtractionSummary:
    """Show progress until the run ends; return its summary (or raise its failure).

    On a terminal the bars redraw in place; elsewhere (CI logs, pipes) one line
    is printed per change. With ``unserved``, a run that no worker polls gets a
    warning after a few seconds instead of a bar that never moves.
    """
    hint = asyncio.ensure_future(warn_if_unserved(unserved, console)) if unserved else None
    try:
        return await _follow(handle, console, every)
    finally:
        if hint:
            hint.cancel()


async def _follow(handle: RunHandle, console: Console, every: float) -> ExtractionSummary:
    result = asyncio.ensure_future(handle.result())
    if not console.is_terminal:
        last = ""
        while True:
            snap = await snapshot(handle)
            line = describe(snap, datetime.now(UTC)) if snap else ""
            if line and line != last:
                console.print(line, soft_wrap=True)
                last = line
            if result.done():
                return result.result()
            await asyncio.wait({result}, timeout=every)
    view = ProgressView(console)
    with view.bars:
        while True:
            snap = await snapshot(handle)
            if snap:
                view.update(snap, datetime.now(UTC))
                view.bars.refresh()
            if result.done():
                return result.result()
            await asyncio.wait({result}, timeout=every)


# --- status and cancel --------------------------------------------------------


async def status(handle: RunHandle, console: Console) -> WorkflowExecutionStatus | None:
    """Print the run's state, its progress snapshot and, once done, its summary."""
    desc = await handle.describe()
    state = desc.status
    name = state.name if state else "UNKNOWN"
    started = f"{desc.start_time:%Y-%m-%d %H:%M:%S %Z}"
    console.print(f"workflow {handle.id}: [bold]{name}[/bold] (run {desc.run_id}, started {started})", soft_wrap=True)
    snap = await snapshot(handle)
    if snap is None:
        console.print(f"progress unavailable: no worker answered on task queue {desc.task_queue!r}")
    else:
        now = datetime.now(UTC)
        view = ProgressView(console)
        view.update(snap, now)
        console.print(view.bars)
        console.print(describe(snap, now), soft_wrap=True)
    if state == WorkflowExecutionStatus.COMPLETED:
        render_summary(await handle.result(), console)
    return state


async def cancel(handle: RunHandle, wait: timedelta | None) -> tuple[WorkflowExecutionStatus | None, bool]:
    """Request cancellation; with ``wait``, the state once the run has closed (or time is up).

    Returns ``(state, requested)``: a run that had already ended is left
    alone (``requested`` is false). Activities learn of a cancellation at their
    next heartbeat, stop, and keep their checkpoints; the workflow waits for
    them (WAIT_CANCELLATION_COMPLETED).
    """
    state = (await handle.describe()).status
    if state != WorkflowExecutionStatus.RUNNING:
        return state, False
    await handle.cancel()
    deadline = asyncio.get_running_loop().time() + (wait.total_seconds() if wait else 0)
    while True:
        state = (await handle.describe()).status
        if state != WorkflowExecutionStatus.RUNNING or asyncio.get_running_loop().time() >= deadline:
            return state, True
        await asyncio.sleep(0.2)


def render_summary(summary: ExtractionSummary, console: Console) -> None:
    # A heading line rather than the table's title, which rich wraps to the (narrow) table's width.
    console.print(f"[bold]{escape(summary.dialect)} {escape(repr(summary.database))}[/bold]", soft_wrap=True)
    table = Table()
    table.add_column("entity")
    table.add_column("count", justify="right")
    order = summary.kinds + sorted(set(summary.counts) - set(summary.kinds))
    for name in order:
        table.add_row(name, str(summary.counts.get(name, 0)))
    console.print(table)
    if summary.resumed_batches:
        console.print(f"resumed: {summary.resumed_batches} batch(es) kept from an earlier run of this workflow id")
    if summary.vanished:
        console.print(f"vanished: {summary.vanished} planned object(s) were gone when read; the manifest lists them")
    console.print(f"manifest: {summary.manifest}", soft_wrap=True)
