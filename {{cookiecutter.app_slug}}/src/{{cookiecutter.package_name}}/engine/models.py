"""Payload models: everything that crosses Temporal is defined here.

Keep them small. Only names, counts and references travel through Temporal;
catalog records go to the sink, credentials stay on the worker.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from ..sources.base import Page, SourceInfo, Vocabulary

PLAN = "plan"
EXTRACT_SLICE = "extract_slice"
FINALIZE = "finalize"

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
    batch_size: int = Field(default=500, ge=1)
    slice_size: int = Field(default=2000, ge=1)
    max_parallel_slices: int = Field(default=4, ge=1)
    max_parallel_children: int = Field(default=2, ge=1)
    slices_per_child: int = Field(default=200, ge=1, le=1000)
    # Children report finished slices to the parent at most this often, so the
    # parent's history grows with run time, not with the number of slices.
    progress_every_s: float = Field(default=1.0, ge=0)
    tuning: ActivityTuning = ActivityTuning()


class RunContext(BaseModel):
    """Identity of one workflow run and of its plan; activities derive keys and paths from it.

    Checkpoints are keyed by the workflow id and the plan's fingerprint, not by
    the run id: a rerun of a failed, terminated or cancelled run with the same
    workflow id and an unchanged plan resumes from what is already written.
    """

    workflow_id: str
    run_id: str
    request: ExtractionRequest
    fingerprint: str = ""

    @property
    def run_key(self) -> str:
        return workflow_key(self.workflow_id)

    @property
    def plan_key(self) -> str:
        """Prefix of this plan's entries: ``<run_key>|<fingerprint>``."""
        return f"{self.run_key}|{self.fingerprint[:16]}"


def workflow_key(workflow_id: str) -> str:
    """State-store key segment of a workflow id: fixed length, any id is safe in it."""
    return hashlib.sha256(workflow_id.encode()).hexdigest()[:16]


class SliceRef(BaseModel):
    """One slice, as the workflows see it: its number, what it covers, and how big it is.

    Its ``Work`` (the exact names to read) sits in the state store under the
    plan's key, so payloads stay small however many names a slice holds.
    """

    index: int
    groups: list[str]
    units: int


class PlanResult(BaseModel):
    """What ``plan`` decided: the source, the slices, and whether this resumes an earlier run."""

    info: SourceInfo
    fingerprint: str
    slices: list[SliceRef]
    groups: int
    units: int | None  # None: some groups are read whole, their size unknown until read
    words: Vocabulary
    resumed: bool = False
    replanned: bool = False  # an earlier run of this workflow id had another plan; started clean


class SliceTask(BaseModel):
    run: RunContext
    slice: SliceRef


Counts = dict[str, int]


def add_counts(*counts: Counts) -> Counts:
    """Sum per-kind counts, keeping every key of any of them."""
    total: Counts = {}
    for one in counts:
        for kind, n in one.items():
            total[kind] = total.get(kind, 0) + n
    return total


class SlicesReport(BaseModel):
    """A child's batched progress report to its parent: slices finished, and per group."""

    slices: int = 0
    slices_by_group: dict[str, int] = {}
    units: int = 0

    def add(self, result: SliceResult) -> None:
        self.slices += 1
        for group in result.slice.groups:
            self.slices_by_group[group] = self.slices_by_group.get(group, 0) + 1
        self.units += result.units


class SliceResult(BaseModel):
    slice: SliceRef
    counts: Counts
    units: int
    pages: int
    resumed_from_page: int = 0
    redone_pages: int = 0


class SlicesInput(BaseModel):
    """Input of one child workflow: a bounded group of slices."""

    run: RunContext
    parent_workflow_id: str
    slices: list[SliceRef]


class FinalizeInput(BaseModel):
    run: RunContext
    plan: PlanResult


class ExtractionSummary(BaseModel):
    workflow_id: str
    database: str
    dialect: str
    manifest: str  # its URL: file:///... or s3://bucket/...
    counts: Counts
    kinds: list[str] = []  # display order of ``counts``
    parts: int
    resumed_batches: int = 0
    vanished: int = 0


class Progress(BaseModel):
    """Snapshot returned by the workflow's ``progress`` query.

    ``started_at`` is when extraction (after planning) began and ``updated_at``
    the last change, both workflow time; clients derive rate and ETA from them.
    ``words`` name the groups and units (schemas and relations for SQL).
    """

    stage: str = "starting"
    words: Vocabulary = Vocabulary(group="schema", groups="schemas", unit="relation", units="relations")
    groups_total: int = 0
    groups_done: int = 0
    slices_total: int = 0
    slices_done: int = 0
    units_total: int | None = 0  # None: unknown until read (a REST endpoint)
    units_done: int = 0
    started_at: datetime | None = None
    updated_at: datetime | None = None


class Checkpoint(BaseModel):
    """State-store value for one slice: where to resume and what was written.

    ``cursor`` is the source's resume point after the last written page
    (``done`` once the last page is written). ``starts[n]`` counts how often
    page ``n`` was started; above 1, a worker died (or was cut off) while
    reading it and it was redone. ``run_id`` is the run that last wrote it:
    a later run that finds pages here resumes them, and counts them in
    ``resumed``.
    """

    cursor: Any = None
    done: bool = False
    counts: Counts = {}
    units: int = 0
    parts: list[PartRef] = []
    starts: list[int] = []
    vanished: list[tuple[str, str]] = []
    run_id: str = ""
    resumed: int = 0

    def started(self, number: int) -> Checkpoint:
        """Checkpoint recording that page ``number`` is being read (again)."""
        starts = [*self.starts, *[0] * (number + 1 - len(self.starts))]
        starts[number] += 1
        return self.model_copy(update={"starts": starts})

    def finished(self, part: PartRef, page: Page, counts: Counts) -> Checkpoint:
        """Checkpoint after a page was written as ``part``."""
        return self.model_copy(update={
            "cursor": page.cursor, "done": page.cursor is None, "counts": add_counts(self.counts, counts),
            "units": self.units + page.units, "parts": [*self.parts, part],
            "vanished": [*self.vanished, *page.vanished],
        })

    def taken_over(self, run_id: str) -> Checkpoint:
        """This checkpoint as found by run ``run_id``: pages of an earlier run count as resumed."""
        if self.run_id == run_id:
            return self
        return self.model_copy(update={"run_id": run_id, "resumed": self.resumed + len(self.parts)})

    @property
    def redone(self) -> int:
        """Pages read more than once."""
        return sum(1 for n in self.starts if n > 1)


class PartRef(BaseModel):
    path: str
    records: int
    sha256: str


Checkpoint.model_rebuild()
PlanResult.model_rebuild()
