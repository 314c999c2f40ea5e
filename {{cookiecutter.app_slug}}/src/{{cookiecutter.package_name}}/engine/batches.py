"""How one slice becomes batches: the unit of reading, writing and checkpointing.

A batch holds at most ``batch_size`` tables, possibly of several schemas
(a reader asks for a whole batch at once). Batches are cut from the sorted
table listing, so the same slice over the same catalog always gives the
same batches, which is what makes a checkpoint's ``next_batch`` meaningful.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..sources.sql import SchemaTables, TableRef
from .models import SliceRef


@dataclass
class Batch:
    groups: list[SchemaTables] = field(default_factory=list)
    # Schemas whose record this batch writes: those whose first table it holds
    # (or that have no tables at all), so each schema record is written once.
    new_schemas: list[str] = field(default_factory=list)

    @property
    def tables(self) -> int:
        return sum(len(group.tables) for group in self.groups)

    @property
    def label(self) -> str:
        """The schema(s) it reads, for progress and logs."""
        names = [g.schema for g in self.groups] or self.new_schemas
        if not names:
            return ""
        return names[0] if names[0] == names[-1] else f"{names[0]}..{names[-1]}"


def plan_batches(ref: SliceRef, listing: Mapping[str, list[TableRef]], size: int) -> list[Batch]:
    """Cut the slice's tables, in order, into batches of ``size``; there is always at least one."""
    batches: list[Batch] = []
    current = Batch()
    for schema, start, stop in ref.ranges():
        tables = listing.get(schema, [])[start:stop]
        if start == 0:
            current.new_schemas.append(schema)
        while tables:
            room = size - current.tables
            current.groups.append(SchemaTables(schema, tables[:room]))
            tables = tables[room:]
            if current.tables == size:
                batches.append(current)
                current = Batch()
    if current.groups or current.new_schemas or not batches:
        batches.append(current)
    return batches
