"""A SQL catalog as a ``Source``: schemas are the groups, tables the units.

YOUR ROOM. ``plan`` lists every table name of the matching schemas once, when
the run is planned. ``read`` cuts a slice's planned names into batches of
``page_size`` tables (the cursor is the next batch number) and reads each
batch with the dialect's reader (``readers.py``): a fast path for
PostgreSQL and MySQL/MariaDB, SQLAlchemy reflection for the rest.

Tables created after planning are left out of the run (the next run sees
them); planned tables that are gone when their batch is read are reported as
vanished. To add an entity kind, add its record builder to ``records.py``,
read it in every reader, and add its count word to ``KINDS`` below.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter
from typing import ClassVar

from sqlalchemy import text

from ..engine.errors import permanent
from . import records
from .base import Cursor, Group, NoMatch, Page, Record, SourceInfo, Vocabulary, Work, tally_kinds
from .sql import CatalogReader, SchemaTables, TableRef

VIEW_KINDS = frozenset({"view", "materialized_view"})
_TABLE, _KIND = "table", itemgetter("kind")
#: Count words, in summary order; ``tally`` maps each record kind to one of them.
KINDS = ("schemas", "tables", "views", "columns", "primary_keys", "foreign_keys", "unique_constraints", "indexes",
         "check_constraints", "sequences", "types")
_PLURAL = {"schema": "schemas", "table": "tables", "column": "columns", "primary_key": "primary_keys",
           "foreign_key": "foreign_keys", "unique_constraint": "unique_constraints", "index": "indexes",
           "check_constraint": "check_constraints", "sequence": "sequences", "type": "types"}


@dataclass
class Batch:
    """At most ``page_size`` tables of one slice, possibly of several schemas."""

    groups: list[tuple[str, list[str]]] = field(default_factory=list)  # (schema, table names)
    # Schemas whose record this batch writes: those whose first table it holds
    # (or that have no tables at all), so each schema record is written once.
    new_schemas: list[str] = field(default_factory=list)

    @property
    def tables(self) -> int:
        return sum(len(names) for _, names in self.groups)

    @property
    def label(self) -> str:
        """The schema(s) it reads, for progress and logs."""
        names = [schema for schema, _ in self.groups] or self.new_schemas
        if not names:
            return ""
        return names[0] if names[0] == names[-1] else f"{names[0]}..{names[-1]}"


def plan_batches(work: Work, size: int) -> list[Batch]:
    """Cut the work's planned tables, in order, into batches of ``size``; there is always one.

    Batches come from the names fixed at planning, so every attempt over the
    same work gets the same batches: that is what makes a checkpointed batch
    number a valid cursor.
    """
    batches: list[Batch] = []
    current = Batch()
    for group in work.groups:
        tables = list(group.items)
        if group.first:
            current.new_schemas.append(group.name)
        while tables:
            room = size - current.tables
            current.groups.append((group.name, tables[:room]))
            tables = tables[room:]
            if current.tables == size:
                batches.append(current)
                current = Batch()
    if current.groups or current.new_schemas or not batches:
        batches.append(current)
    return batches


class CatalogSource:
    """The ``Source`` of one SQL database, over a pooled SQLAlchemy engine."""

    vocabulary: ClassVar[Vocabulary] = Vocabulary(
        # Progress counts every planned relation, views too; the summary counts tables and views apart.
        group="schema", groups="schemas", unit="relation", units="relations",
        kinds=KINDS,
    )

    def __init__(self, reader: CatalogReader, label: str) -> None:
        self.reader = reader
        self._label = label  # the source's name, for error messages

    async def describe(self) -> SourceInfo:
        version = await self.reader.server_version()
        db, dialect = self.reader.database, self.reader.dialect
        return SourceInfo(name=db, system=dialect, version=version,
                          records=[records.database(db, dialect, version)])

    async def plan(self, pattern: re.Pattern[str] | None) -> list[Group]:
        """Every matching schema with its table names, read once, in name order."""
        schemas = await self.reader.list_schemas(pattern)
        if pattern is not None and not schemas:
            raise NoMatch(await self.reader.list_schemas(None))
        await check_schema_usage(self.reader, self._label, schemas)
        listing = await self.reader.tables_by_schema(schemas) if schemas else {}
        return [Group(name=name, items=[t.name for t in listing.get(name, [])]) for name in schemas]

    async def read(self, work: Work, cursor: Cursor, page_size: int) -> AsyncIterator[Page]:
        """Batches ``cursor`` (a batch number) onwards; each page is one batch."""
        batches = plan_batches(work, page_size)
        start = int(cursor or 0)
        if start >= len(batches):
            return
        # What the remaining batches write per schema, asked once for the slice, not once per batch.
        pending = [name for batch in batches[start:] for name in batch.new_schemas]
        comments = await self.reader.schema_comments(pending) if pending else {}
        in_schema: dict[str, list[Record]] = {}
        for record in await self.reader.schema_objects(pending):
            in_schema.setdefault(record["schema"], []).append(record)
        # Kinds as the catalog has them now: a planned name that is missing is gone.
        listing = await self.reader.tables_by_schema([g.name for g in work.groups if g.items])
        kinds = {(schema, t.name): t.kind for schema, tables in listing.items() for t in tables}
        for number in range(start, len(batches)):
            batch = batches[number]
            present = [SchemaTables(schema, [TableRef(n, kinds[(schema, n)]) for n in names if (schema, n) in kinds])
                       for schema, names in batch.groups]
            found = await self.reader.read_batch(present)
            read = {(r["schema"], r["name"]) for r in table_records(found)}
            vanished = [(schema, n) for schema, names in batch.groups for n in names if (schema, n) not in read]
            for name in batch.new_schemas:
                found += [records.schema(self.reader.database, name, comments.get(name)), *in_schema.get(name, [])]
            yield Page(records=found, cursor=number + 1 if number + 1 < len(batches) else None,
                       units=len(read), label=batch.label, pages=len(batches), vanished=vanished)

    def tally(self, found: Sequence[Record]) -> dict[str, int]:
        return tally(found)

    async def close(self) -> None:
        await self.reader.engine.dispose()


def tally(found: Sequence[Record]) -> dict[str, int]:
    """Counts per kind; views and materialized views count as views, not tables."""
    counts = tally_kinds(found, _PLURAL)
    views = sum(1 for r in table_records(found) if r["table_type"] in VIEW_KINDS)
    if views:
        counts["tables"] -= views
        counts["views"] = views
    return counts


def table_records(found: Sequence[Record]) -> Iterator[Record]:
    """The ``table`` records among ``found``, picked at C speed (a batch holds thousands of columns)."""
    return compress(found, map(_TABLE.__eq__, map(_KIND, found)))


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
