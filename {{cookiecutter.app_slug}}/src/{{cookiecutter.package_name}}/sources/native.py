"""What SQLAlchemy's reflection leaves out, read per dialect.

YOUR ROOM, rarely touched. Reflection gives a portable type (``VARCHAR(200)``)
but not the server's own spelling (``character varying(200)``, ``int(11)
unsigned``), and nothing about PostgreSQL partitions. The fast paths read both
in their bulk queries; the generic reader asks here, one query per schema of a
batch, so both readers write the same records (``tests/test_source_equivalence.py``).
Dialects not listed get ``None``: unknown, never guessed.

``schema_objects`` reads what lives in a schema beside its tables (PostgreSQL's
sequences and enum and domain types) for both readers: two queries per batch
that starts a schema, so it costs the same whichever reader runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from . import records

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

# Both start from the schema's pg_depend entries (an index scan), as the fast path's table
# listing does: pg_type and pg_class have no index on the namespace, and a scan of either
# per schema would make a large catalog quadratic. pg_sequence: PostgreSQL 10 and later.
_IN_SCHEMAS = """
FROM pg_catalog.pg_namespace n
JOIN pg_catalog.pg_depend dep ON dep.refobjid = n.oid AND dep.refclassid = 'pg_catalog.pg_namespace'::regclass
 AND dep.classid = 'pg_catalog.{catalog}'::regclass AND dep.objsubid = 0
"""
# A serial or OWNED BY column is an "auto" dependency of its sequence, an identity column an "internal" one.
_PG_SEQUENCES = text("""
SELECT n.nspname, c.relname, pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
       s.seqmin, s.seqmax, s.seqcycle,
       (SELECT ARRAY[tn.nspname::text, tc.relname::text, a.attname::text] FROM pg_catalog.pg_depend d
        JOIN pg_catalog.pg_class tc ON tc.oid = d.refobjid
        JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
        JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')
          AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjsubid > 0 LIMIT 1),
       (SELECT d.description FROM pg_catalog.pg_description d
        WHERE d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0)
""" + _IN_SCHEMAS.format(catalog="pg_class") + """
JOIN pg_catalog.pg_class c ON c.oid = dep.objid AND c.relkind = 'S' AND c.relnamespace = n.oid
JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
WHERE n.nspname = ANY(:names)
ORDER BY n.nspname, c.relname
""")
_PG_NAMED_TYPES = text("""
SELECT n.nspname, t.typname, CASE t.typtype WHEN 'e' THEN 'enum' ELSE 'domain' END,
       CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e
                                            WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END,
       CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END,
       t.typnotnull, t.typdefault,
       ARRAY(SELECT pg_catalog.pg_get_constraintdef(con.oid, true) FROM pg_catalog.pg_constraint con
             WHERE con.contypid = t.oid AND con.contype = 'c' ORDER BY con.conname),
       (SELECT d.description FROM pg_catalog.pg_description d
        WHERE d.objoid = t.oid AND d.classoid = 'pg_catalog.pg_type'::regclass AND d.objsubid = 0)
""" + _IN_SCHEMAS.format(catalog="pg_type") + """
JOIN pg_catalog.pg_type t ON t.oid = dep.objid AND t.typtype IN ('e', 'd') AND t.typnamespace = n.oid
WHERE n.nspname = ANY(:names)
ORDER BY n.nspname, t.typname
""")


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


def schema_objects(conn: Connection, db: str, schemas: Sequence[str]) -> list[records.Record]:
    """Sequence and type records of ``schemas``: PostgreSQL 10 and later; other dialects have none here."""
    if conn.dialect.name != "postgresql" or (conn.dialect.server_version_info or (10,)) < (10,) or not schemas:
        return []
    names = {"names": list(schemas)}
    found = [records.sequence(db, *row) for row in conn.execute(_PG_SEQUENCES, names)]
    return found + [records.named_type(db, *row) for row in conn.execute(_PG_NAMED_TYPES, names)]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
