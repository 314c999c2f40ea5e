"""The contract between a source and the engine: the one interface you implement.

YOUR ROOM. A source answers four questions, and the engine does the rest
(slicing, fan-out, checkpoints, retries, heartbeats, the sink, the manifest):

1. ``describe()``: what is this source? Its name (the first part of every
   qualified name), its system and version, and the records written once per
   run (a SQL source's ``database`` record).
2. ``plan(pattern)``: what is there to read? A list of ``Group``s (a schema
   and its table names; an API endpoint), fixed when the run is planned. The
   engine packs and splits them into slices, stores each slice's ``Work`` in
   the state store, and every attempt of that slice reads exactly that work.
3. ``read(work, cursor, page_size)``: read it, one ``Page`` at a time. Each
   page carries the cursor to resume *after* it. The engine writes the page's
   records as one part, then checkpoints that cursor, so a killed worker's
   replacement calls ``read`` again with the last checkpointed cursor. A cursor
   is yours: any JSON value (a batch number, a next-page URL, a token).
4. ``tally(records)``: how are records counted? Per kind, in the words of
   ``vocabulary``, which progress, logs, metrics and the summary use.

Names a source planned but cannot find when it reads them go in
``Page.vanished``; the manifest lists them, so nothing is silently skipped.
A ``pattern`` that matches nothing fails the run; raise ``NoMatch`` with
some names that do exist, so the message can suggest them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

Record = dict[str, Any]
#: Where a read resumes: any JSON value the source understands; ``None`` is the start.
Cursor = Any


class Vocabulary(BaseModel, frozen=True):
    """The words the engine uses for this source's things; travels with the plan to progress and summary.

    ``kinds`` are the count keys ``tally`` returns, in display order: the
    summary lists each (zero included) and metrics are labelled with them.
    """

    group: str
    groups: str
    unit: str
    units: str
    kinds: tuple[str, ...] = ()


class SourceInfo(BaseModel):
    """What ``describe()`` found; travels through Temporal, so keep it small."""

    name: str
    system: str
    version: str
    records: list[Record] = []


class Group(BaseModel):
    """Something to read, as planned: a schema and some of its table names, or an endpoint.

    ``items`` are stable names, never positions; ``first`` is set by the engine
    on the slice holding the group's first item, which writes the group's own
    record. ``whole`` groups (an endpoint: its size is unknown until read) get
    a slice of their own instead of being split by ``items``.
    """

    name: str
    items: list[str] = []
    first: bool = True
    whole: bool = False


class Work(BaseModel):
    """One slice's groups: what one ``extract_slice`` activity reads, fixed at planning."""

    groups: list[Group]


@dataclass
class Page:
    """One read: records to write as one part, and where to resume after them.

    ``cursor`` is ``None`` on the last page. ``units`` are the units this page
    completed (tables; records) and ``pages`` the expected number of pages of
    the work, when known, for progress. ``label`` names what was read, for
    progress and logs.
    """

    records: list[Record]
    cursor: Cursor
    units: int
    label: str = ""
    pages: int | None = None
    vanished: list[tuple[str, str]] = field(default_factory=list)  # (group, item) planned but gone


class NoMatch(Exception):
    """``plan(pattern)`` matched nothing; ``existing`` are the group names there are, for the message."""

    def __init__(self, existing: Sequence[str]) -> None:
        super().__init__(f"nothing matches; {len(existing)} exist")
        self.existing = list(existing)


class Source(Protocol):
    """What the engine needs from a source; see the module docstring."""

    vocabulary: ClassVar[Vocabulary]

    async def describe(self) -> SourceInfo: ...

    async def plan(self, pattern: re.Pattern[str] | None) -> list[Group]: ...

    def read(self, work: Work, cursor: Cursor, page_size: int) -> AsyncIterator[Page]: ...

    def tally(self, records: Sequence[Record]) -> dict[str, int]: ...

    async def close(self) -> None: ...


def tally_kinds(records: Iterable[Record], plural: dict[str, str]) -> dict[str, int]:
    """Count records by ``kind``, keyed by the plural words of ``plural`` (``table`` → ``tables``)."""
    found = Counter(map(itemgetter("kind"), records))  # C speed: a page holds thousands of records
    return {plural.get(kind, kind): n for kind, n in found.items()}
