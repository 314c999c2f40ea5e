"""What SQLAlchemy's reflection leaves out, read per dialect for the generic reader.

YOUR ROOM, rarely touched. Reflection gives a portable type (``VARCHAR(200)``)
but not the server's own spelling (``character varying(200)``, ``int(11)
unsigned``), and nothing about PostgreSQL partitions. The fast paths read both
in their bulk queries; the generic reader asks here, one query per schema of a
batch, so both readers write the same records (``tests/test_source_equivalence.py``).
Dialects not listed get ``None``: unknown, never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

_PG_TYPES = text(
    "SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) "
    "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :schema AND c.relname = ANY(:names) AND a.attnum > 0 AND NOT a.attisdropped"
)
_MYSQL_TYPES = text(
    "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA = :schema AND TABLE_NAME IN :names"
).bindparams(bindparam("names", expanding=True))
# relispartition and pg_get_partkeydef: PostgreSQL 10 and later.
_PG_PARTITIONS = text(
    "SELECT c.relname, pn.nspname, pc.relname, pg_catalog.pg_get_expr(c.relpartbound, c.oid), "
    "       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid AND c.relispartition "
    "LEFT JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent "
    "LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace "
    "WHERE n.nspname = :schema AND c.relname = ANY(:names) AND (c.relispartition OR c.relkind = 'p')"
)


@dataclass(frozen=True)
class Partitioning:
    """A partition's parent (schema, table) and bound, or a partitioned table's key."""

    parent: tuple[str, str] | None = None
    bound: str | None = None
    key: str | None = None


def native_types(conn: Connection, schema: str, names: Sequence[str]) -> dict[tuple[str, str], str]:
    """``(table, column)`` → the type as the server spells it, for the tables ``names`` of ``schema``."""
    dialect = conn.dialect.name
    rows: Sequence[Any]
    if dialect == "postgresql":
        rows = list(conn.execute(_PG_TYPES, {"schema": schema, "names": list(names)}))
    elif dialect in ("mysql", "mariadb"):
        rows = list(conn.execute(_MYSQL_TYPES, {"schema": schema, "names": list(names)}))
    elif dialect == "sqlite":
        rows = [(table, row[1], row[2]) for table in names
                for row in conn.exec_driver_sql(f"PRAGMA {_quote(schema)}.table_info({_quote(table)})")]
    else:
        return {}
    wanted = set(names)  # MySQL compares names case-insensitively
    return {(table, column): spelled for table, column, spelled in rows if table in wanted and spelled}


def partitions(conn: Connection, schema: str, names: Sequence[str]) -> dict[str, Partitioning]:
    """Table name → its partitioning, for the partitions and partitioned tables among ``names``."""
    if conn.dialect.name != "postgresql" or (conn.dialect.server_version_info or (10,)) < (10,):
        return {}
    rows = conn.execute(_PG_PARTITIONS, {"schema": schema, "names": list(names)})
    return {name: Partitioning((p_schema, p_name) if p_name else None, bound, key)
            for name, p_schema, p_name, bound, key in rows}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
