"""Workflows: deterministic orchestration only, no I/O.

ENGINE. ``ExtractionWorkflow`` (parent) runs ``plan`` (which stores the
slices' names in the state store), fans the slices out to
``ExtractSlicesWorkflow`` children of at most ``slices_per_child`` activities
each (so no history grows past ~1,000 activities), then runs ``finalize``.
Only names, counts and references cross Temporal; the records themselves go
to the sink. Changing these classes changes their histories: the replay
tests (``tests/test_replay.py``) tell you when a change needs versioning.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import is_cancelled_exception
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from .errors import NON_RETRYABLE_TYPES
    from .models import (
        EXTRACT_SLICE,
        FINALIZE,
        PLAN,
        ActivityTuning,
        Counts,
        ExtractionRequest,
        ExtractionSummary,
        FinalizeInput,
        PlanResult,
        Progress,
        RunContext,
        SliceRef,
        SliceResult,
        SlicesInput,
        SlicesReport,
        SliceTask,
        add_counts,
    )

SLICES_DONE_SIGNAL = "slices_done"
T = TypeVar("T")


def activity_options(tuning: ActivityTuning) -> dict[str, Any]:
    """Timeouts and retry policy shared by every activity of a run."""
    return {
        "start_to_close_timeout": tuning.start_to_close,
        "heartbeat_timeout": tuning.heartbeat_timeout,
        # A cancelled run ends only after its activities have seen the cancellation.
        "cancellation_type": ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(seconds=tuning.initial_retry_s),
            maximum_interval=timedelta(seconds=tuning.max_retry_s),
            maximum_attempts=tuning.max_attempts,
            non_retryable_error_types=list(NON_RETRYABLE_TYPES),
        ),
    }


async def gather_all(aws: list[Awaitable[T]]) -> list[T]:
    """``asyncio.gather`` that, when cancelled, first lets every task finish.

    Plain gather gives up as soon as one task is cancelled (say, a slice still
    waiting for the semaphore), so the run would close while activities are
    still running and they would never see the cancellation.
    """
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return await asyncio.gather(*tasks)
    except BaseException as exc:
        if is_cancelled_exception(exc):  # also a child's or activity's cancellation error
            await workflow.wait(tasks)
        raise


@workflow.defn
class ExtractionWorkflow:
    """Parent: plan → children over slices → finalize."""

    def __init__(self) -> None:
        self._progress = Progress()
        self._open_slices: Counter[str] = Counter()  # group -> slices not yet reported

    @workflow.run
    async def run(self, request: ExtractionRequest) -> ExtractionSummary:
        info = workflow.info()
        run = RunContext(workflow_id=info.workflow_id, run_id=info.run_id, request=request)
        options = activity_options(request.tuning)
        self._progress.stage = "planning"
        plan: PlanResult = await workflow.execute_activity(PLAN, run, result_type=PlanResult, **options)
        run = run.model_copy(update={"fingerprint": plan.fingerprint})
        slices = plan.slices
        self._open_slices = Counter(name for s in slices for name in s.groups)
        self._progress = Progress(
            stage="extracting", words=plan.words, groups_total=plan.groups, slices_total=len(slices),
            units_total=plan.units, started_at=workflow.now(), updated_at=workflow.now(),
        )
        workflow.logger.info("extracting %d %s, %s %s in %d slices", plan.groups, plan.words.groups,
                             "?" if plan.units is None else plan.units, plan.words.units, len(slices))
        size = request.slices_per_child
        groups = [slices[i : i + size] for i in range(0, len(slices), size)]
        gate = asyncio.Semaphore(request.max_parallel_children)

        async def child(number: int, group: list[SliceRef]) -> Counts:
            async with gate:
                counts: Counts = await workflow.execute_child_workflow(
                    ExtractSlicesWorkflow.run,
                    SlicesInput(run=run, parent_workflow_id=info.workflow_id, slices=group),
                    id=f"{info.workflow_id}/slices-{number:04d}",
                )
                return counts

        try:
            await gather_all([child(n, g) for n, g in enumerate(groups)])
        except BaseException as exc:
            if is_cancelled_exception(exc):
                self._progress.stage = "cancelled"
                workflow.logger.info("extraction cancelled; every activity has stopped")
            raise
        self._progress.stage = "finalizing"
        summary: ExtractionSummary = await workflow.execute_activity(
            FINALIZE,
            FinalizeInput(run=run, plan=plan),
            result_type=ExtractionSummary,
            **options,
        )
        self._progress.stage = "done"
        self._progress.updated_at = workflow.now()
        workflow.logger.info("extraction done: manifest %s", summary.manifest)
        return summary

    @workflow.signal(name=SLICES_DONE_SIGNAL)
    def slices_done(self, report: SlicesReport) -> None:
        """Children report finished slices (batched) so progress is live."""
        self._progress.slices_done += report.slices
        self._progress.units_done += report.units
        self._progress.updated_at = workflow.now()
        for group, done in report.slices_by_group.items():
            self._open_slices[group] -= done
            if self._open_slices[group] <= 0:
                del self._open_slices[group]
                self._progress.groups_done += 1
                workflow.logger.info("%s %s done", self._progress.words.group, group, extra={"schema": group})

    @workflow.query
    def progress(self) -> Progress:
        return self._progress


@workflow.defn
class ExtractSlicesWorkflow:
    """Child: extract a bounded group of slices with bounded parallelism."""

    def __init__(self) -> None:
        self._unreported = SlicesReport()
        self._last_report = workflow.now()

    @workflow.run
    async def run(self, inp: SlicesInput) -> Counts:
        request = inp.run.request
        options = activity_options(request.tuning)
        parent = workflow.get_external_workflow_handle(inp.parent_workflow_id)
        gate = asyncio.Semaphore(request.max_parallel_slices)
        every = timedelta(seconds=request.progress_every_s)

        async def one(ref: SliceRef) -> Counts:
            async with gate:
                result: SliceResult = await workflow.execute_activity(
                    EXTRACT_SLICE, SliceTask(run=inp.run, slice=ref),
                    result_type=SliceResult, **options,
                )
            self._unreported.add(result)
            if workflow.now() - self._last_report >= every:
                await self._report(parent)
            return result.counts

        counts = await gather_all([one(ref) for ref in inp.slices])
        await self._report(parent)
        return add_counts(*counts)

    async def _report(self, parent: workflow.ExternalWorkflowHandle[Any]) -> None:
        """Send what finished since the last report, if anything, in one signal."""
        if not self._unreported.slices:
            return
        report, self._unreported = self._unreported, SlicesReport()
        self._last_report = workflow.now()
        await parent.signal(SLICES_DONE_SIGNAL, report)
