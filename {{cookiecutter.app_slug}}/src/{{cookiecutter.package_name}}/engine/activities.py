"""Activities: the only code that touches the source, the sink and the state store.

Each activity is idempotent. ``extract_slice`` reads its tables in batches
(``batches.py``); after each batch it writes one part (deterministic name,
written whole or not at all, see ``sink.py``) and then records ``next_batch``
in the state store, so a retried attempt resumes after the last finished
batch and at most one batch is redone. Output goes to this worker's own
``OUTPUT_URL``; with several workers it must be a store they all share.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ..runtime import metrics
from ..runtime.config import Settings
from ..runtime.logs import log_context
from ..runtime.secrets import SourceConfigError, resolve_source_url
from ..sources import records
from ..sources.readers import select_reader
from ..sources.sql import CatalogReader
from . import sink
from .batches import Batch, plan_batches
from .errors import permanent, sink_errors, source_errors
from .heartbeat import auto_heartbeater, record_progress
from .models import (
    EXTRACT_SLICE,
    FINALIZE,
    PREFLIGHT,
    BatchCheckpoint,
    Counts,
    ExtractionRequest,
    ExtractionSummary,
    FinalizeInput,
    PreflightResult,
    SliceResult,
    SliceTask,
)
from .sink import RunOutput, Sink
from .state import StateStore

T = TypeVar("T")


class ExtractorActivities:
    """Activity implementations sharing one worker's engines and state store."""

    def __init__(
        self, settings: Settings, state: StateStore, env: Mapping[str, str] | None = None,
        sink: Sink | None = None,
    ) -> None:
        self._settings = settings
        self._state = state
        self._env = os.environ if env is None else env
        self._sink = sink or Sink.from_setting(settings.output_url, settings.secrets_dir)
        self._engines: dict[str, AsyncEngine] = {}

    def output(self, source: str, workflow_id: str) -> RunOutput:
        """Where this run's objects go, under this worker's ``OUTPUT_URL``."""
        return self._sink.run(source, workflow_id)

    async def close(self) -> None:
        for engine in self._engines.values():
            await engine.dispose()
        self._engines.clear()

    def reader(self, source: str) -> CatalogReader:
        """Catalog reader for ``source``; engines are pooled per worker."""
        try:
            url = resolve_source_url(source, self._env, self._settings.secrets_dir)
        except SourceConfigError as exc:
            raise permanent("SourceConfigError", str(exc)) from None
        cache_key = url.render_as_string(hide_password=False)
        engine = self._engines.get(cache_key)
        if engine is None:
            engine = create_async_engine(url, pool_pre_ping=True)
            self._engines[cache_key] = engine
        return select_reader(engine, database_label(url), self._settings.catalog_reader)

    @activity.defn(name=PREFLIGHT)
    @auto_heartbeater
    @metrics.count_errors
    async def preflight(self, request: ExtractionRequest) -> PreflightResult:
        """Check reachability and permissions, then list the schemas to extract."""
        pattern = compile_pattern(request.schema_pattern)
        reader = self.reader(request.source)
        with source_errors(request.source):
            schemas = await reader.list_schemas(pattern)
            version = await reader.server_version()
            await check_schema_usage(reader, request.source, [s.name for s in schemas])
        with sink_errors():  # a missing bucket or bad credentials fail the run now, not after the reading
            info = activity.info()
            await self.output(request.source, info.workflow_id or info.activity_id).check_writable()
        activity.logger.info("preflight found %d schemas", len(schemas))
        return checked_size(PreflightResult(
            database=reader.database, dialect=reader.dialect, server_version=version, schemas=schemas
        ))

    @activity.defn(name=EXTRACT_SLICE)
    @auto_heartbeater
    @metrics.count_errors
    async def extract_slice(self, task: SliceTask) -> SliceResult:
        """Extract one slice (tables of one or more schemas), resuming from its checkpoint."""
        with log_context(schema=task.slice.schemas[0], slice=task.slice.index):
            try:
                return await self._extract_slice(task)
            except asyncio.CancelledError:
                activity.logger.warning("slice cancelled (run cancelled or worker draining); checkpoint kept")
                raise

    async def _extract_slice(self, task: SliceTask) -> SliceResult:
        request, ref = task.run.request, task.slice
        key = checkpoint_key(task.run.run_key, ref.index)
        entry = await self._state.get(key)
        checkpoint = BatchCheckpoint.model_validate(entry.value) if entry else BatchCheckpoint()
        version = entry.version if entry else 0
        resumed_from = checkpoint.next_batch
        reader = self.reader(request.source)
        with source_errors(request.source):
            listing = await reader.tables_by_schema(ref.schemas)
        batches = plan_batches(ref, listing, request.batch_size)
        total = sum(b.tables for b in batches)
        output = self.output(request.source, task.run.workflow_id)
        if checkpoint.next_batch < len(batches):
            # Count each start before reading, so a batch a dead worker was on shows up as redone.
            checkpoint = checkpoint.started(checkpoint.next_batch, len(batches))
            version = await self._state.put(key, checkpoint.model_dump(), version)
        batches_read = read_ahead(lambda n: self._read_batch(reader, task, n, batches[n]),
                                  range(checkpoint.next_batch, len(batches)))
        async with contextlib.aclosing(batches_read):
            async for number, found in batches_read:
                with sink_errors():
                    part = await output.write_part(sink.part_name(ref.index, number), found)
                counts = sink.count(found)
                checkpoint = checkpoint.finished(part, counts)
                if number + 1 < len(batches):  # one write records this batch done and the next one started
                    checkpoint = checkpoint.started(number + 1, len(batches))
                version = await self._state.put(key, checkpoint.model_dump(), version)
                metrics.record_batch(counts)
                done = checkpoint.counts.tables + checkpoint.counts.views
                record_progress(progress_details(ref.index, batches[number].label, number + 1, len(batches),
                                                 done, total))
                activity.logger.debug("batch %d/%d written: %s", number + 1, len(batches), part.path)
        activity.logger.info("slice done: %d tables of %d schema(s) in %d batches (resumed at batch %d)",
                             checkpoint.counts.tables + checkpoint.counts.views, len(ref.schemas),
                             len(batches), resumed_from)
        return SliceResult(slice=ref, counts=checkpoint.counts, batches=len(batches),
                           resumed_from_batch=resumed_from, redone_batches=checkpoint.redone)

    async def _read_batch(
        self, reader: CatalogReader, task: SliceTask, number: int, batch: Batch
    ) -> list[records.Record]:
        """The batch's records, plus the records of the schemas it starts."""
        with log_context(schema=batch.label), source_errors(task.run.request.source):
            found = await reader.read_batch(batch.groups)
        found.extend(records.schema(reader.database, name) for name in batch.new_schemas)
        return found

    @activity.defn(name=FINALIZE)
    @auto_heartbeater
    @metrics.count_errors
    async def finalize(self, inp: FinalizeInput) -> ExtractionSummary:
        """Check every slice finished, then write the manifest (counts + checksums)."""
        run, pre = inp.run, inp.preflight
        entries = await self._state.scan(run.run_key + "|")
        checkpoints = [BatchCheckpoint.model_validate(e.value) for e in entries.values()]
        unfinished = [k for k, c in zip(entries, checkpoints, strict=True) if c.next_batch < c.batches]
        if len(checkpoints) != inp.expected_slices or unfinished:
            raise ApplicationError(
                f"{len(checkpoints)}/{inp.expected_slices} slices checkpointed, "
                f"{len(unfinished)} unfinished; refusing to write an incomplete manifest"
            )
        output = self.output(run.request.source, run.workflow_id)
        with sink_errors():
            db_part = await output.write_part(f"{sink.PARTS_DIR}/_database.jsonl",
                                              [records.database(pre.database, pre.dialect, pre.server_version)])
        parts = [db_part, *(p for c in checkpoints for p in c.parts)]
        counts = sum((c.counts for c in checkpoints), Counts())
        manifest = {
            "format_version": 1, "workflow_id": run.workflow_id, "source": run.request.source,
            "database": pre.database, "dialect": pre.dialect, "server_version": pre.server_version,
            "schema_pattern": run.request.schema_pattern, "counts": counts.model_dump(),
            "parts": sorted((p.model_dump() for p in parts), key=lambda p: p["path"]),
        }
        with sink_errors():
            pruned = await output.prune({p.path for p in parts})
            url = await output.write_manifest(manifest)
        if pruned:
            activity.logger.info("removed %d stray object(s) from %s, e.g. %s", len(pruned), output.url(), pruned[0])
        return ExtractionSummary(workflow_id=run.workflow_id, database=pre.database,
                                 dialect=pre.dialect, manifest=url, counts=counts,
                                 parts=len(parts))


_PG_NO_USAGE = text(
    "SELECT current_user, coalesce(array_agg(nspname ORDER BY nspname), '{}') FROM pg_catalog.pg_namespace "
    "WHERE nspname = ANY(:names) AND NOT has_schema_privilege(oid, 'USAGE')"
)


async def check_schema_usage(reader: CatalogReader, source: str, schemas: list[str]) -> None:
    """Fail fast on PostgreSQL schemas the user may not use.

    PostgreSQL lists every schema, but ``information_schema`` and every
    consumer of the output hide objects without USAGE; extracting them
    would silently disagree with what the user can see.
    """
    if reader.dialect != "postgresql" or not schemas:
        return
    async with reader.engine.connect() as conn:
        user, denied = (await conn.execute(_PG_NO_USAGE, {"names": schemas})).one()
    if denied:
        grants = "; ".join(f'GRANT USAGE ON SCHEMA "{name}" TO "{user}"' for name in denied[:3])
        raise permanent(
            "SourcePermissionError",
            f"source {source!r}: user {user!r} lacks USAGE on schema(s) {', '.join(map(repr, denied))}; "
            f"run {grants}, or exclude them with --schemas",
        )


MAX_PREFLIGHT_BYTES = 150_000  # Temporal warns at 256 KB per payload; the parent carries this twice


def checked_size(result: PreflightResult) -> PreflightResult:
    """Refuse a schema list too large to travel through Temporal, with the fix in the message."""
    size = len(result.model_dump_json())
    if size > MAX_PREFLIGHT_BYTES:
        raise permanent(
            "InvalidRequest",
            f"{len(result.schemas)} schemas match: their list is {size // 1024} KB, over the "
            f"{MAX_PREFLIGHT_BYTES // 1000} KB payload budget; narrow --schemas and split the catalog "
            "into several runs (e.g. one per schema-name prefix)",
        )
    return result


async def read_ahead(
    read: Callable[[int], Awaitable[T]], numbers: range
) -> AsyncGenerator[tuple[int, T], None]:
    """Yield ``(n, read(n))`` in order while ``read(n + 1)`` already runs.

    The source answers the next batch's queries while this one is written
    and checkpointed. Reading has no side effects, so a read-ahead lost to a
    crash or cancellation costs nothing; close the generator to stop it.
    """
    pending: asyncio.Future[T] | None = None
    try:
        for n in numbers:
            current, pending = pending or asyncio.ensure_future(read(n)), None
            result = await current
            if n + 1 in numbers:
                pending = asyncio.ensure_future(read(n + 1))
            yield n, result
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.wait([pending])


def progress_details(slice_index: int, label: str, batch: int, batches: int, done: int, total: int) -> dict[str, Any]:
    """Heartbeat details: a readable status for the Temporal UI, and the same as fields."""
    return {"status": f"slice {slice_index} ({label}): batch {batch}/{batches}, {done}/{total} tables",
            "schema": label, "slice": slice_index, "batch": batch, "batches": batches,
            "tables": done, "tables_in_slice": total}


def checkpoint_key(run_key: str, slice_index: int) -> str:
    return f"{run_key}|{slice_index:05d}"


def compile_pattern(pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        message = f"--schemas pattern {pattern!r} is not a valid regular expression: {exc}"
        raise permanent("InvalidRequest", message) from None


def database_label(url: URL) -> str:
    """Name used as the first part of every qualified name."""
    if url.get_backend_name() == "sqlite":
        return Path(url.database or "memory").stem or "memory"
    return url.database or url.host or "default"
