"""Activities: the only code that touches the source, the sink and the state store.

ENGINE. Each activity is idempotent:

- ``plan`` asks the source what there is, cuts it into slices of stable
  names (``plan.py``) and stores each slice's ``Work`` in the state store
  under the plan's fingerprint; a rerun of the same workflow id with the same
  plan resumes, a changed plan starts clean;
- ``extract_slice`` reads its work page by page (``Source.read``); after each
  page it writes one part (deterministic name, written whole or not at all,
  see ``sink.py``) and then checkpoints the source's cursor, so a retried
  attempt resumes after the last written page and at most one page is redone;
- ``finalize`` checks every slice finished and writes the manifest last.

Output goes to this worker's own ``OUTPUT_URL``; with several workers it must
be a store they all share.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ..runtime import metrics
from ..runtime.config import Settings
from ..runtime.logs import log_context
from ..runtime.secrets import SourceConfigError, resolve_source_dsn
from ..sources.base import Group, NoMatch, Page, Source, Work
from ..sources.registry import open_source
from . import sink
from .errors import permanent, sink_errors, source_call
from .heartbeat import auto_heartbeater, record_progress
from .models import (
    EXTRACT_SLICE,
    FINALIZE,
    PLAN,
    Checkpoint,
    ExtractionRequest,
    ExtractionSummary,
    FinalizeInput,
    PlanResult,
    RunContext,
    SliceResult,
    SliceTask,
    add_counts,
)
from .plan import fingerprint, plan_slices, slice_refs
from .sink import RunOutput, Sink
from .state import StateStore, VersionConflict

T = TypeVar("T")


class ExtractorActivities:
    """Activity implementations sharing one worker's sources and state store."""

    def __init__(
        self, settings: Settings, state: StateStore, env: Mapping[str, str] | None = None,
        sink: Sink | None = None,
    ) -> None:
        self._settings = settings
        self._state = state
        self._env = os.environ if env is None else env
        self._sink = sink or Sink.from_setting(settings.output_url, settings.secrets_dir)
        self._sources: dict[tuple[str, str, str | None], Source] = {}

    def output(self, source: str, workflow_id: str) -> RunOutput:
        """Where this run's objects go, under this worker's ``OUTPUT_URL``."""
        return self._sink.run(source, workflow_id)

    async def close(self) -> None:
        for source in self._sources.values():
            await source.close()
        self._sources.clear()

    def source(self, name: str) -> Source:
        """The source called ``name``; built once per DSN, so its connections are pooled per worker."""
        try:
            dsn, password = resolve_source_dsn(name, self._env, self._settings.secrets_dir)
            key = (name, dsn, password)
            if key not in self._sources:
                self._sources[key] = open_source(name, dsn, password, self._settings)
        except SourceConfigError as exc:
            raise permanent("SourceConfigError", str(exc)) from None
        return self._sources[key]

    @activity.defn(name=PLAN)
    @auto_heartbeater
    @metrics.count_errors
    async def plan(self, run: RunContext) -> PlanResult:
        """Check the source and the output, list what to read, and store the slices by name."""
        request = run.request
        pattern = compile_pattern(request.schema_pattern)
        source = self.source(request.source)
        # The hello is small: a server that has not answered it within the connect timeout is not there.
        async with source_call(request.source, self._settings, first_contact=True,
                               limit="source_connect_timeout_seconds"):
            info = await source.describe()
        async with source_call(request.source, self._settings, first_contact=True):
            groups = await matching_groups(source, pattern, request)
        with sink_errors():  # a missing bucket or bad credentials fail the run now, not after the reading
            await self.output(request.source, run.workflow_id).check_writable()
        works = plan_slices(groups, request.slice_size)
        planned = run.model_copy(update={"fingerprint": fingerprint(request, works)})
        resumed, replanned = await self._adopt_plan(planned, works)
        words = source.vocabulary
        result = checked_size(PlanResult(
            info=info, fingerprint=planned.fingerprint, slices=slice_refs(works), groups=len(groups),
            units=None if any(g.whole for g in groups) else sum(len(g.items) for g in groups),
            resumed=resumed, replanned=replanned, words=words,
        ))
        level = logging.WARNING if replanned else logging.INFO
        activity.logger.log(level, "planned %d %s, %s %s in %d slices%s", result.groups, words.groups,
                            "?" if result.units is None else result.units, words.units, len(works),
                            plan_note(resumed, replanned))
        return result

    async def _adopt_plan(self, run: RunContext, works: list[Work]) -> tuple[bool, bool]:
        """Store the plan's slices; keep an earlier run's checkpoints only if its plan was the same.

        Returns ``(resumed, replanned)``: an unfinished earlier run with this
        plan is resumed; one with another plan, or a finished one, is wiped.
        """
        key = run_record_key(run)
        entry = await self._state.get(key)
        before = entry.value if entry else None
        same = before is not None and before["fingerprint"] == run.fingerprint and not before.get("finished")
        if before is not None and not same:
            await self._state.delete_prefix(f"plan|{run.run_key}|")
            await self._state.delete_prefix(f"ckpt|{run.run_key}|")
        for number, work in enumerate(works):
            with contextlib.suppress(VersionConflict):  # a retried plan, or the same plan again: same bytes
                await self._state.put(slice_key("plan", run, number), work.model_dump(mode="json"), 0)
        record = {"workflow_id": run.workflow_id, "fingerprint": run.fingerprint, "finished": False}
        if before != record:
            await self._state.put(key, record, entry.version if entry else 0)
        resumed = same and bool(await self._state.scan(slices_prefix("ckpt", run)))
        return resumed, before is not None and before["fingerprint"] != run.fingerprint

    @activity.defn(name=EXTRACT_SLICE)
    @auto_heartbeater
    @metrics.count_errors
    async def extract_slice(self, task: SliceTask) -> SliceResult:
        """Extract one slice, resuming from its checkpoint."""
        with log_context(schema=task.slice.groups[0] if task.slice.groups else "", slice=task.slice.index):
            try:
                return await self._extract_slice(task)
            except asyncio.CancelledError:
                activity.logger.warning("slice cancelled (run cancelled or worker draining); checkpoint kept")
                raise

    async def _extract_slice(self, task: SliceTask) -> SliceResult:
        run, ref = task.run, task.slice
        planned = await self._state.get(slice_key("plan", run, ref.index))
        if planned is None:
            raise ApplicationError(f"slice {ref.index} of plan {run.fingerprint[:16]} is not in the state store")
        work = Work.model_validate(planned.value)
        key = slice_key("ckpt", run, ref.index)
        entry = await self._state.get(key)
        checkpoint = Checkpoint.model_validate(entry.value) if entry else Checkpoint(run_id=run.run_id)
        version = entry.version if entry else 0
        if entry is not None and checkpoint.run_id != run.run_id:  # an earlier run wrote it: keep, and say so
            checkpoint = checkpoint.taken_over(run.run_id)
            version = await self._state.put(key, checkpoint.model_dump(mode="json"), version)
        resumed_from = len(checkpoint.parts)
        source = self.source(run.request.source)
        words = source.vocabulary
        output = self.output(run.request.source, run.workflow_id)
        if not checkpoint.done:
            # Count each start before reading, so a page a dead worker was on shows up as redone.
            checkpoint = checkpoint.started(len(checkpoint.parts))
            version = await self._state.put(key, checkpoint.model_dump(mode="json"), version)
            pages = read_ahead(source.read(work, checkpoint.cursor, run.request.batch_size))
            async with contextlib.aclosing(pages):
                while True:
                    async with source_call(run.request.source, self._settings):
                        page = await anext(pages, None)
                    if page is None:
                        break
                    number = len(checkpoint.parts)
                    with sink_errors():
                        part = await output.write_part(sink.part_name(ref.index, number), page.records)
                    counts = source.tally(page.records)
                    checkpoint = checkpoint.finished(part, page, counts)
                    if not checkpoint.done:  # one write records this page done and the next one started
                        checkpoint = checkpoint.started(number + 1)
                    version = await self._state.put(key, checkpoint.model_dump(mode="json"), version)
                    metrics.record_page(counts, page.units)
                    record_progress(progress_details(ref.index, page, number + 1, checkpoint.units, ref.units,
                                                     words.units))
                    activity.logger.debug("page %d written: %s", number + 1, part.path)
            if not checkpoint.done:  # a source whose read() yields nothing at all
                checkpoint = checkpoint.model_copy(update={"done": True})
                version = await self._state.put(key, checkpoint.model_dump(mode="json"), version)
        activity.logger.info("slice done: %d %s in %d pages (resumed at page %d)", checkpoint.units, words.units,
                             len(checkpoint.parts), resumed_from)
        return SliceResult(slice=ref, counts=checkpoint.counts, units=checkpoint.units, pages=len(checkpoint.parts),
                           resumed_from_page=resumed_from, redone_pages=checkpoint.redone)

    @activity.defn(name=FINALIZE)
    @auto_heartbeater
    @metrics.count_errors
    async def finalize(self, inp: FinalizeInput) -> ExtractionSummary:
        """Check every slice finished, then write the manifest (counts, checksums, vanished names)."""
        run, plan = inp.run, inp.plan
        entries = await self._state.scan(slices_prefix("ckpt", run))
        checkpoints = [Checkpoint.model_validate(e.value) for e in entries.values()]
        unfinished = [k for k, c in zip(entries, checkpoints, strict=True) if not c.done]
        if len(checkpoints) != len(plan.slices) or unfinished:
            raise ApplicationError(
                f"{len(checkpoints)}/{len(plan.slices)} slices checkpointed, "
                f"{len(unfinished)} unfinished; refusing to write an incomplete manifest"
            )
        output = self.output(run.request.source, run.workflow_id)
        info = plan.info
        with sink_errors():
            head = await output.write_part(f"{sink.PARTS_DIR}/_source.jsonl", info.records)
        parts = [head, *(p for c in checkpoints for p in c.parts)]
        counts = {kind: 0 for kind in plan.words.kinds} | add_counts(*(c.counts for c in checkpoints))
        vanished: dict[str, list[str]] = {}
        for group, item in sorted({tuple(v) for c in checkpoints for v in c.vanished}):
            vanished.setdefault(group, []).append(item)
        vanished_count = sum(map(len, vanished.values()))
        resumed = sum(c.resumed for c in checkpoints)
        manifest = {
            "format_version": 2, "workflow_id": run.workflow_id, "source": run.request.source,
            "database": info.name, "dialect": info.system, "server_version": info.version,
            "schema_pattern": run.request.schema_pattern, "counts": counts,
            "plan_fingerprint": plan.fingerprint, "resumed_batches": resumed, "vanished": vanished,
            "parts": sorted((p.model_dump() for p in parts), key=lambda p: p["path"]),
        }
        with sink_errors():
            pruned = await output.prune({p.path for p in parts})
            url = await output.write_manifest(manifest)
        if pruned:
            activity.logger.info("removed %d stray object(s) from %s, e.g. %s", len(pruned), output.url(), pruned[0])
        if vanished:
            activity.logger.warning("%d planned %s vanished before they were read; the manifest lists them",
                                    vanished_count, plan.words.units)
        await self._finish(run)
        return ExtractionSummary(workflow_id=run.workflow_id, database=info.name, dialect=info.system,
                                 manifest=url, counts=counts, kinds=plan.words.kinds, parts=len(parts),
                                 resumed_batches=resumed, vanished=vanished_count)

    async def _finish(self, run: RunContext) -> None:
        """Mark the run finished: a rerun of this workflow id extracts afresh instead of resuming."""
        key = run_record_key(run)
        entry = await self._state.get(key)
        if entry is not None and entry.value["fingerprint"] == run.fingerprint and not entry.value.get("finished"):
            await self._state.put(key, {**entry.value, "finished": True}, entry.version)


def run_record_key(run: RunContext) -> str:
    """State-store key of what the last run of this workflow id planned, and whether it finished."""
    return f"run|{run.run_key}"


def slices_prefix(kind: str, run: RunContext) -> str:
    """Prefix of this plan's slice entries: planned work (``plan``) or checkpoints (``ckpt``)."""
    return f"{kind}|{run.plan_key}|"


def slice_key(kind: str, run: RunContext, index: int) -> str:
    """State-store key of one slice's planned work or checkpoint."""
    return f"{slices_prefix(kind, run)}{index:05d}"


def plan_note(resumed: bool, replanned: bool) -> str:
    if resumed:
        return "; resuming an earlier run of this workflow id with the same plan"
    if replanned:
        return "; an earlier run of this workflow id had another plan: starting clean"
    return ""


MAX_PREFLIGHT_BYTES = 150_000  # Temporal warns at 256 KB per payload; the parent carries this twice


def checked_size(result: PlanResult) -> PlanResult:
    """Refuse a plan too large to travel through Temporal, with the fix in the message."""
    size = len(result.model_dump_json())
    if size > MAX_PREFLIGHT_BYTES:
        raise permanent(
            "InvalidRequest",
            f"{result.groups} {result.words.groups} match: the plan is {size // 1024} KB, over the "
            f"{MAX_PREFLIGHT_BYTES // 1000} KB payload budget; narrow --schemas and split the catalog "
            "into several runs (e.g. one per schema-name prefix)",
        )
    return result


async def read_ahead(items: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """Yield what ``items`` yields, while its next item is already being read.

    The source answers the next page's queries while this one is written and
    checkpointed. Reading has no side effects, so a read-ahead lost to a
    crash or cancellation costs nothing; close the generator to stop it.
    """
    done = object()
    pending: asyncio.Future[Any] = asyncio.ensure_future(anext(items, done))
    try:
        while (item := await pending) is not done:
            pending = asyncio.ensure_future(anext(items, done))
            yield item
    finally:
        if not pending.done():
            pending.cancel()
            await asyncio.wait([pending])
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()


def progress_details(slice_index: int, page: Page, number: int, done: int, total: int, units: str) -> dict[str, Any]:
    """Heartbeat details: a readable status for the Temporal UI, and the same as fields."""
    # A source that knows its pages (SQL) also knows its units; a paged API knows neither up front.
    of, of_units = (f"/{page.pages}", f"/{total}") if page.pages else ("", "")
    return {"status": f"slice {slice_index} ({page.label}): page {number}{of}, {done}{of_units} {units}",
            "schema": page.label, "slice": slice_index, "batch": number, "batches": page.pages,
            "units": done, "units_in_slice": total}


async def matching_groups(source: Source, pattern: re.Pattern[str] | None, request: ExtractionRequest) -> list[Group]:
    """The source's groups for ``--schemas``: a pattern that matches nothing is a mistake, not an empty run."""
    existing: list[str] | None = None
    try:
        groups = await source.plan(pattern)
    except NoMatch as exc:
        groups, existing = [], exc.existing
    if pattern is None or groups:
        return groups
    what = f"--schemas {request.schema_pattern!r} matches no {source.vocabulary.groups} of source {request.source!r}"
    if existing:
        shown = ", ".join(map(repr, existing[:5])) + (", ..." if len(existing) > 5 else "")
        what += f"; it has {len(existing)}: {shown}"
    elif existing == []:
        what += f"; it has no {source.vocabulary.groups} at all"
    raise permanent("InvalidRequest", what)


def compile_pattern(pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        message = f"--schemas pattern {pattern!r} is not a valid regular expression: {exc}"
        raise permanent("InvalidRequest", message) from None


