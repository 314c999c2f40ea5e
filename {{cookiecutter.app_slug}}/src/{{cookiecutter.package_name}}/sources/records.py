"""Record shapes written to the sink, one builder per entity kind.

Every record has ``kind`` and ``qualified_name``; together they are the
record's idempotency key. Qualified names quote each part SQL-style
(``"db"."schema"."table"``) so dots, quotes and spaces in identifiers can
never make two objects collide.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

Record = dict[str, Any]


def quote(part: str) -> str:
    """One name part, double-quoted, inner quotes doubled."""
    return '"' + part.replace('"', '""') + '"'


def qualify(*parts: str) -> str:
    """Unambiguous dotted name: each part double-quoted, inner quotes doubled."""
    return ".".join([quote(part) for part in parts])


@functools.lru_cache(maxsize=8192)
def table_name(db: str, schema: str, table: str) -> str:
    """``qualify(db, schema, table)``, memoized: every column, key and index of a table asks for it."""
    return qualify(db, schema, table)


def database(name: str, dialect: str, server_version: str) -> Record:
    return {"kind": "database", "qualified_name": qualify(name), "name": name,
            "dialect": dialect, "server_version": server_version}


def schema(db: str, name: str, comment: str | None = None) -> Record:
    return {"kind": "schema", "qualified_name": qualify(db, name), "database": db, "name": name,
            "comment": comment}


def table(db: str, schema: str, name: str, table_type: str, comment: str | None,
          view_definition: str | None, *, partition_of: tuple[str, str] | None = None,
          partition_bound: str | None = None, partition_key: str | None = None) -> Record:
    """``partition_of`` is the parent's ``(schema, name)``, written as its qualified name."""
    parent = table_name(db, *partition_of) if partition_of else None
    return {"kind": "table", "qualified_name": table_name(db, schema, name), "database": db,
            "schema": schema, "name": name, "table_type": table_type, "comment": comment,
            "view_definition": view_definition, "partition_of": parent,
            "partition_bound": partition_bound, "partition_key": partition_key}


def column(db: str, schema: str, table: str, ordinal: int, name: str, data_type: str,
           nullable: bool, default: str | None, comment: str | None, native_type: str | None = None) -> Record:
    """``data_type`` is the portable spelling (SQLAlchemy's); ``native_type`` the server's own."""
    parent = table_name(db, schema, table)
    return {"kind": "column", "qualified_name": parent + "." + quote(name),
            "table": parent, "name": name, "ordinal": ordinal,
            "data_type": data_type, "native_type": native_type, "nullable": bool(nullable), "default": default,
            "comment": comment}


def primary_key(db: str, schema: str, table: str, name: str | None,
                columns: Sequence[str]) -> Record:
    parent = table_name(db, schema, table)
    return {"kind": "primary_key", "qualified_name": parent + "." + quote(name or "primary_key"),
            "table": parent, "name": name, "columns": list(columns)}


def foreign_key(db: str, schema: str, table: str, fk: dict[str, Any],
                default_schema: str) -> Record:
    referred_schema = fk.get("referred_schema") or default_schema
    referred = table_name(db, referred_schema, fk["referred_table"])
    columns = list(fk["constrained_columns"])
    label = fk.get("name") or f"fk({','.join(columns)})->{referred}"
    parent = table_name(db, schema, table)
    return {"kind": "foreign_key", "qualified_name": parent + "." + quote(label),
            "table": parent, "name": fk.get("name"), "columns": columns,
            "referred_table": referred, "referred_columns": list(fk["referred_columns"]),
            "on_delete": (fk.get("options") or {}).get("ondelete"),
            "on_update": (fk.get("options") or {}).get("onupdate")}


def unique_constraint(db: str, schema: str, table: str, name: str | None,
                      columns: Sequence[str]) -> Record:
    label = name or f"unique({','.join(columns)})"
    parent = table_name(db, schema, table)
    return {"kind": "unique_constraint", "qualified_name": parent + "." + quote(label),
            "table": parent, "name": name, "columns": list(columns)}


def index(db: str, schema: str, table: str, ix: dict[str, Any]) -> Record:
    """``method``: the access method (``btree``, ``hash``, ``gin``, ``fulltext``...); ``predicate``:
    a partial index's ``WHERE`` condition (``None`` when it covers every row, so ``unique`` holds table-wide)."""
    columns = [c if c is not None else "<expression>" for c in ix.get("column_names", [])]
    expressions = [e for e in ix.get("expressions") or [] if e is not None]
    parent = table_name(db, schema, table)
    return {"kind": "index", "qualified_name": parent + "." + quote(ix["name"]),
            "table": parent, "name": ix["name"], "columns": columns,
            "expressions": expressions, "unique": bool(ix.get("unique")),
            "method": ix.get("method", "btree"), "predicate": ix.get("predicate"),
            "backs_constraint": ix.get("duplicates_constraint")}


def check_constraint(db: str, schema: str, table: str, cc: dict[str, Any]) -> Record:
    """``cc["sqltext"]``: the condition as SQLAlchemy's reflection spells it (outer parentheses cut)."""
    label = cc.get("name") or f"check({cc['sqltext']})"
    parent = table_name(db, schema, table)
    return {"kind": "check_constraint", "qualified_name": parent + "." + quote(label),
            "table": parent, "name": cc.get("name"), "expression": cc["sqltext"]}


def sequence(db: str, schema: str, name: str, data_type: str, start: int, increment: int, minimum: int,
             maximum: int, cycle: bool, owned_by: Sequence[str] | None, comment: str | None) -> Record:
    """``owned_by``: the ``(schema, table, column)`` a serial, identity or ``OWNED BY`` ties it to."""
    owner = table_name(db, owned_by[0], owned_by[1]) + "." + quote(owned_by[2]) if owned_by else None
    return {"kind": "sequence", "qualified_name": qualify(db, schema, name), "database": db, "schema": schema,
            "name": name, "data_type": data_type, "start": start, "increment": increment, "min_value": minimum,
            "max_value": maximum, "cycle": bool(cycle), "owned_by": owner, "comment": comment}


def named_type(db: str, schema: str, name: str, type_kind: str, values: Sequence[str] | None,
               base_type: str | None, not_null: bool, default: str | None, checks: Sequence[str],
               comment: str | None) -> Record:
    """An enum (``values`` in sort order) or a domain (``base_type``, ``nullable``, ``default``, ``checks``)."""
    domain = type_kind == "domain"
    return {"kind": "type", "qualified_name": qualify(db, schema, name), "database": db, "schema": schema,
            "name": name, "type_kind": type_kind, "values": list(values) if values is not None else None,
            "base_type": base_type, "nullable": not not_null if domain else None, "default": default,
            "checks": list(checks), "comment": comment}
