"""Load one run's output (its manifest and JSON Lines parts) into a small typed index, for tools.

RUNTIME. ``report`` and ``show`` read a run through this module; add here what a
new tool needs to look up. Every part is read through the manifest and checked
against its sha256, on any store ``engine/sink.py`` reads (``file://``, ``s3://``,
``gs://``, ``az://``). Nothing here writes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from ..engine.sink import OutputError, modified_at, normalize_url, read_url
from ..sources.records import Record

#: Record kinds that belong to one table, keyed by their ``table`` field.
TABLE_PARTS = ("column", "primary_key", "foreign_key", "unique_constraint", "check_constraint", "index")


class BadOutput(Exception):
    """The output cannot be read as a run: no manifest there, not a manifest, or a corrupt part (exit 2)."""


class ChecksumMismatch(BadOutput):
    """A part's bytes are not those the manifest lists; the message names the part."""


@dataclass
class Table:
    """One table (or view, partition...) and everything the run recorded about it."""

    record: Record
    columns: list[Record] = field(default_factory=list)
    primary_key: Record | None = None
    foreign_keys: list[Record] = field(default_factory=list)
    unique_constraints: list[Record] = field(default_factory=list)
    check_constraints: list[Record] = field(default_factory=list)
    indexes: list[Record] = field(default_factory=list)
    referenced_by: list[Record] = field(default_factory=list)  # foreign keys of other tables pointing here
    partitions: list[str] = field(default_factory=list)  # qualified names of this table's partitions

    @property
    def qualified_name(self) -> str:
        return str(self.record["qualified_name"])

    @property
    def schema(self) -> str:
        return str(self.record["schema"])

    @property
    def name(self) -> str:
        return str(self.record["name"])


@dataclass
class RunIndex:
    """A run's manifest, and its records by schema and table (both in name order)."""

    url: str
    manifest: dict[str, Any]
    written_at: datetime | None
    database: Record | None
    schemas: dict[str, Record]
    tables: dict[str, Table]  # by qualified name
    by_schema: dict[str, list[Table]]
    others: dict[str, list[Record]]  # sequences and types, by schema

    def tables_of(self, schema: str) -> list[Table]:
        return self.by_schema.get(schema, [])


def load_run(manifest_url: str, secrets_dir: Path | None = None) -> RunIndex:
    """Read the manifest at ``manifest_url`` and every part it lists; ``BadOutput`` if that is not a run."""
    try:
        url = normalize_url(manifest_url)  # a bare path as file://, an object-store URL in canonical form
    except ValueError as exc:
        raise BadOutput(f"{manifest_url!r} is not a path or an output URL: {_cause(exc)}") from None
    manifest = _manifest(url, secrets_dir)
    folder = url.rpartition("/")[0]
    records: list[Record] = []
    for part in manifest["parts"]:
        records.extend(_part(f"{folder}/{part['path']}", part, secrets_dir))
    try:
        written: datetime | None = modified_at(url, secrets_dir)
    except (OutputError, OSError):
        written = None
    return index(url, manifest, written, records)


def _manifest(url: str, secrets_dir: Path | None) -> dict[str, Any]:
    try:
        data = orjson.loads(read_url(url, secrets_dir))
    except OutputError as exc:
        raise BadOutput(f"cannot read the manifest {url}: {_cause(exc)}") from None
    except orjson.JSONDecodeError as exc:
        raise BadOutput(f"{url} is not a manifest: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("parts"), list):
        raise BadOutput(f"{url} is not a manifest: it lists no parts")
    return data


def _part(url: str, entry: dict[str, Any], secrets_dir: Path | None) -> list[Record]:
    try:
        data = read_url(url, secrets_dir)
    except OutputError as exc:
        raise BadOutput(f"part {entry['path']} listed in the manifest cannot be read: {_cause(exc)}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.get("sha256"):
        raise ChecksumMismatch(f"part {entry['path']} is corrupt: its sha256 is {digest}, "
                               f"the manifest says {entry.get('sha256')}")
    return [orjson.loads(line) for line in data.splitlines() if line]


def index(url: str, manifest: dict[str, Any], written_at: datetime | None, records: Iterable[Record]) -> RunIndex:
    """Group ``records`` by table; foreign keys are filed both ways, partitions under their parent."""
    by_kind: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_kind[record["kind"]].append(record)
    tables = {r["qualified_name"]: Table(r) for r in sorted(by_kind["table"], key=_name_key)}
    for kind in TABLE_PARTS:
        for record in sorted(by_kind[kind], key=lambda r: (r.get("ordinal") or 0, r["qualified_name"])):
            owner = tables.get(record["table"])
            if owner is not None:
                _file(owner, kind, record)
    for fk in by_kind["foreign_key"]:
        referred = tables.get(fk["referred_table"])
        if referred is not None:
            referred.referenced_by.append(fk)
    by_schema: dict[str, list[Table]] = defaultdict(list)
    for table in tables.values():
        by_schema[table.schema].append(table)
        parent = tables.get(table.record.get("partition_of") or "")
        if parent is not None:
            parent.partitions.append(table.qualified_name)
    others: dict[str, list[Record]] = defaultdict(list)
    for record in sorted(by_kind["sequence"] + by_kind["type"], key=_name_key):
        others[record["schema"]].append(record)
    schemas = {r["name"]: r for r in sorted(by_kind["schema"], key=lambda r: r["name"])}
    for name in by_schema:
        schemas.setdefault(name, {"kind": "schema", "name": name, "comment": None})
    database = by_kind["database"][0] if by_kind["database"] else None
    return RunIndex(url, manifest, written_at, database, dict(sorted(schemas.items())), tables,
                    dict(by_schema), dict(others))


def _file(table: Table, kind: str, record: Record) -> None:
    if kind == "column":
        table.columns.append(record)
    elif kind == "primary_key":
        table.primary_key = record
    elif kind == "foreign_key":
        table.foreign_keys.append(record)
    elif kind == "unique_constraint":
        table.unique_constraints.append(record)
    elif kind == "check_constraint":
        table.check_constraints.append(record)
    else:
        table.indexes.append(record)


def _cause(exc: Exception) -> str:
    """An ``OUTPUT_URL x: why`` (or ``url: why``) message without the URL we name ourselves."""
    return str(exc).partition(": ")[2] or str(exc)


def _name_key(record: Record) -> tuple[str, str]:
    return str(record.get("schema")), str(record["name"])
