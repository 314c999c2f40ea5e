"""Payload models: everything that crosses Temporal is defined here.

Keep them small. Only names, counts and references travel through Temporal;
catalog records go to the sink, credentials stay on the worker.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from pydantic import BaseModel, Field

PREFLIGHT = "preflight"
EXTRACT_SLICE = "extract_slice"
FINALIZE = "finalize"

ENTITY_KINDS = (
    "database",
    "schema",
    "table",
    "column",
    "primary_key",
    "foreign_key",
    "unique_constraint",
    "index",
)
VIEW_KINDS = frozenset({"view", "materialized_view"})


class ActivityTuning(BaseModel):
    """Timeouts and retries for every activity of a run."""

    heartbeat_timeout_s: float = 30.0
    start_to_close_s: float = 3600.0
    max_attempts: int = 10
    initial_retry_s: float = 1.0
    max_retry_s: float = 60.0

    @property
    def heartbeat_timeout(self) -> timedelta:
        return timedelta(seconds=self.heartbeat_timeout_s)

    @property
    def start_to_close(self) -> timedelta:
        return timedelta(seconds=self.start_to_close_s)

    @property
    def worst_case_s(self) -> float:
        """Longest one activity can take over all its attempts and back-offs (coefficient 2).

        A workflow execution or run timeout, if ever set, must exceed this,
        or the workflow dies while its activity is still legitimately retrying.
        """
        backoffs = sum(min(self.initial_retry_s * 2.0**n, self.max_retry_s) for n in range(self.max_attempts - 1))
        return self.start_to_close_s * self.max_attempts + backoffs


class ExtractionRequest(BaseModel):
    """Input of ``ExtractionWorkflow``. ``source`` is a name, never a DSN; there is no output path:
    each worker writes to its own ``OUTPUT_URL``, so a client never decides where a pod writes."""

    source: str = "default"
    schema_pattern: str | None = None
    batch_size: int = Field(default=200, ge=1)
    slice_size: int = Field(default=2000, ge=1)
    max_parallel_slices: int = Field(default=4, ge=1)
    max_parallel_children: int = Field(default=2, ge=1)
    slices_per_child: int = Field(default=200, ge=1, le=1000)
    # Children report finished slices to the parent at most this often, so the
    # parent's history grows with run time, not with the number of slices.
    progress_every_s: float = Field(default=1.0, ge=0)
    tuning: ActivityTuning = ActivityTuning()


class SchemaInfo(BaseModel):
    name: str
    tables: int


class PreflightResult(BaseModel):
    database: str
    dialect: str
    server_version: str
    schemas: list[SchemaInfo]


class RunContext(BaseModel):
    """Identity of one workflow run; activities derive keys and paths from it."""

    workflow_id: str
    run_id: str
    request: ExtractionRequest

    @property
    def run_key(self) -> str:
        """State-store prefix: a new run of the same workflow id starts afresh."""
        return f"{self.workflow_id}:{self.run_id}"


class TableRange(NamedTuple):
    """Tables ``[start, stop)`` of one schema in name order; ``stop=None`` runs to its end."""

    schema: str
    start: int
    stop: int | None


class SliceRef(BaseModel):
    """The unit of work of one activity: a run of tables in (schema, table name) order.

    It starts at table ``start`` of ``schemas[0]`` and ends before table ``stop``
    of ``schemas[-1]`` (``None``: at that schema's end); the schemas in between
    are whole. Small schemas share a slice and big ones span several, so the
    number of activities follows the table count, not the schema count. Only
    names travel, which keeps the payload no bigger than the schema list.
    """

    index: int
    schemas: list[str]
    start: int = 0
    stop: int | None = None

    def ranges(self) -> list[TableRange]:
        last = len(self.schemas) - 1
        return [TableRange(name, self.start if n == 0 else 0, self.stop if n == last else None)
                for n, name in enumerate(self.schemas)]


class SliceTask(BaseModel):
    run: RunContext
    slice: SliceRef


class Counts(BaseModel):
    """Record counts per entity kind; views are counted apart from tables."""

    schemas: int = 0
    tables: int = 0
    views: int = 0
    columns: int = 0
    primary_keys: int = 0
    foreign_keys: int = 0
    unique_constraints: int = 0
    indexes: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{k: getattr(self, k) + getattr(other, k) for k in Counts.model_fields})


class SlicesReport(BaseModel):
    """A child's batched progress report to its parent: slices finished, and per schema."""

    slices: int = 0
    slices_by_schema: dict[str, int] = {}
    tables: int = 0

    def add(self, result: SliceResult) -> None:
        self.slices += 1
        for schema in result.slice.schemas:
            self.slices_by_schema[schema] = self.slices_by_schema.get(schema, 0) + 1
        self.tables += result.counts.tables + result.counts.views


class SliceResult(BaseModel):
    slice: SliceRef
    counts: Counts
    batches: int
    resumed_from_batch: int = 0
    redone_batches: int = 0


class SlicesInput(BaseModel):
    """Input of one child workflow: a bounded group of slices."""

    run: RunContext
    parent_workflow_id: str
    slices: list[SliceRef]


class FinalizeInput(BaseModel):
    run: RunContext
    preflight: PreflightResult
    expected_slices: int


class ExtractionSummary(BaseModel):
    workflow_id: str
    database: str
    dialect: str
    manifest: str  # its URL: file:///... or s3://bucket/...
    counts: Counts
    parts: int


class Progress(BaseModel):
    """Snapshot returned by the workflow's ``progress`` query.

    ``started_at`` is when extraction (after preflight) began and ``updated_at``
    the last change, both workflow time; clients derive rate and ETA from them.
    """

    stage: str = "starting"
    schemas_total: int = 0
    schemas_done: int = 0
    slices_total: int = 0
    slices_done: int = 0
    tables_total: int = 0
    tables_done: int = 0
    started_at: datetime | None = None
    updated_at: datetime | None = None


class BatchCheckpoint(BaseModel):
    """State-store value for one slice: where to resume and what was written.

    ``extractions[n]`` counts how often batch ``n`` was started; a value above 1
    means a worker died (or was cut off) while reading it and it was redone.
    """

    next_batch: int = 0
    batches: int = 0
    counts: Counts = Counts()
    parts: list[PartRef] = []
    extractions: list[int] = []

    def started(self, number: int, batches: int) -> BatchCheckpoint:
        """Checkpoint recording that batch ``number`` is being read (again)."""
        extractions = [*self.extractions, *[0] * (batches - len(self.extractions))]
        extractions[number] += 1
        return self.model_copy(update={"batches": batches, "extractions": extractions})

    def finished(self, part: PartRef, counts: Counts) -> BatchCheckpoint:
        """Checkpoint after batch ``next_batch`` was written as ``part``."""
        return self.model_copy(update={"next_batch": self.next_batch + 1, "counts": self.counts + counts,
                                       "parts": [*self.parts, part]})

    @property
    def redone(self) -> int:
        """Batches read more than once."""
        return sum(1 for n in self.extractions if n > 1)


class PartRef(BaseModel):
    path: str
    records: int
    sha256: str


BatchCheckpoint.model_rebuild()
