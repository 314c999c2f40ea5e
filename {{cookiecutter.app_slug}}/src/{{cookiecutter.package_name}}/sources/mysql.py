"""MySQL/MariaDB fast path: bulk ``information_schema`` reads through aiomysql.

SQLAlchemy reflects MySQL by running ``SHOW CREATE TABLE`` for every table
and parsing it with regular expressions: one round trip and a lot of Python
per table. This reader asks six ``information_schema`` queries per batch
(tables, columns, key columns, key rules, indexes, checks) plus ``SHOW CREATE VIEW`` for views,
and builds the records with ``records.py``. Each query reads one table of
``information_schema`` and names the schema with ``=``, so MariaDB opens that
schema's tables only; joined in SQL, the inner table is filled from every
schema of the server, which makes the extraction quadratic in the catalog
(``EXPLAIN`` says ``Scanned all databases``). Column types go through the
same SQLAlchemy column parser the generic reader uses (memoized per type).

``tests/test_source_equivalence.py`` holds it to the generic reader's
output on the fixture catalogs. Where the two differ, the fast path is the
more exact one (documented there by field):

* ``column.nullable`` of a *view* column: the generic reader reflects views
  through ``DESCRIBE`` and reports every view column as nullable; this
  reader reports ``information_schema.COLUMNS.IS_NULLABLE``.
* ``column.comment`` of a view column: ``DESCRIBE`` has none, so the generic
  reader gives ``None``; this reader gives the comment MySQL reports for it
  (the underlying column's).
* ``column.default`` of a view column: the generic reader turns every
  ``DESCRIBE`` default into a string literal (``'0'``,
  ``'current_timestamp()'``); this reader keeps MySQL's spelling, as for
  table columns (``0``, ``current_timestamp()``).
* ``index.method`` of a ``USING HASH`` index (MEMORY tables): SQLAlchemy's
  reflection drops ``USING``, so the generic reader says ``btree``; this
  reader reports ``STATISTICS.INDEX_TYPE`` (``hash``). FULLTEXT and SPATIAL
  agree. MySQL has no partial indexes: ``predicate`` is always ``None``.

Defaults follow MariaDB's ``information_schema`` spelling (quoted literals,
``current_timestamp()``); the equivalence test runs on MariaDB.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.dialects.mysql.base import MySQLDialect
from sqlalchemy.dialects.mysql.reflection import ReflectedState
from sqlalchemy.types import NullType

from . import records
from .sql import (
    CatalogReader,
    SchemaTables,
    TableRef,
    is_system_schema,
    tables_by_name,
    type_name,
)

_KINDS = {"BASE TABLE": "table", "SYSTEM VERSIONED": "table", "VIEW": "view"}
_FK_ACTIONS = frozenset({"CASCADE", "SET NULL", "SET DEFAULT"})  # RESTRICT / NO ACTION: the default

_SCHEMAS = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"
# A schema's tables and views by name, sequences left out (MariaDB lists them here too). SHOW
# reads each kind from the head of the definition file; information_schema.TABLES.TABLE_TYPE
# loads every definition whole (MariaDB 10.11, 5,000 tables: 0.03 s of server CPU against 0.10 s,
# and a table definition cache flushed of the batch being read).
_SHOW_TABLES = "SHOW FULL TABLES FROM {schema}"
_RELATIONS = """
SELECT TABLE_NAME, TABLE_COMMENT, TABLE_COLLATION FROM information_schema.TABLES
WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({names})
"""
# One row per table, its columns one JSON array in ordinal order: the driver is pure Python,
# and decoding nine fields per column was the fast path's largest cost. Grouped by the binary
# name, since names compare case-insensitively here (`Users` and `users` stay apart).
_COLUMNS = """
SELECT MIN(TABLE_NAME), CONCAT('[', GROUP_CONCAT(
           JSON_ARRAY(COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT, EXTRA,
                      CHARACTER_SET_NAME, COLLATION_NAME)
           ORDER BY ORDINAL_POSITION SEPARATOR ','), ']')
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({names})
GROUP BY CAST(TABLE_NAME AS BINARY)
"""
# GROUP_CONCAT cuts its result at group_concat_max_len bytes (MySQL's default: 1,024). 1 GiB is
# MariaDB's ceiling; a table's at most 4,096 columns stay far inside it and max_allowed_packet.
_SESSION = "SET SESSION group_concat_max_len = 1073741824"
# MariaDB's STATISTICS also loads each table's engine-independent statistics (mysql.*_stats) for a
# CARDINALITY this reader never asks for; without them its queries cost about 8 % less server CPU.
_MARIADB_SESSION = _SESSION + ", use_stat_tables = 'NEVER'"
_FOREIGN_KEYS = """
SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME,
       REFERENCED_COLUMN_NAME
FROM information_schema.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({names}) AND REFERENCED_TABLE_NAME IS NOT NULL
ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION
"""
_FOREIGN_KEY_RULES = """
SELECT TABLE_NAME, CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE
FROM information_schema.REFERENTIAL_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME IN ({names})
"""
_INDEXES = """
SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, INDEX_TYPE
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({names})
ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX
"""
_CHECKS = """
SELECT tc.TABLE_NAME, tc.CONSTRAINT_NAME, cc.CHECK_CLAUSE FROM information_schema.TABLE_CONSTRAINTS tc
JOIN information_schema.CHECK_CONSTRAINTS cc USING (CONSTRAINT_SCHEMA, CONSTRAINT_NAME)
WHERE tc.TABLE_SCHEMA = %s AND tc.TABLE_NAME IN ({names}) AND tc.CONSTRAINT_TYPE = 'CHECK'
ORDER BY tc.TABLE_NAME, tc.CONSTRAINT_NAME
"""
# MariaDB names checks per table, not per schema, and lists column-level ones, which SHOW CREATE
# TABLE (so the generic reader) shows inside the column definition, not as constraints.
_MARIADB_CHECKS = """
SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME IN ({names}) AND LEVEL = 'Table'
ORDER BY TABLE_NAME, CONSTRAINT_NAME
"""


class MySQLCatalogReader(CatalogReader):
    """Same contract as ``CatalogReader``; a handful of bulk queries per batch."""

    async def list_schemas(self, pattern: re.Pattern[str] | None) -> list[str]:
        return sorted(
            name for (name,) in await self._fetch(_SCHEMAS)
            if not is_system_schema("mysql", name) and (pattern is None or pattern.search(name))
        )

    async def tables_by_schema(self, schemas: Sequence[str]) -> dict[str, list[TableRef]]:
        """One ``SHOW FULL TABLES`` per schema that still exists; a dropped one has no tables."""
        rows: list[tuple[str, str, str]] = []
        async with self.driver_connection() as raw:
            existing = {name for (name,) in await _query(raw, _SCHEMAS, ())}
            for schema in (s for s in schemas if s in existing):
                shown = await _query(raw, _SHOW_TABLES.format(schema=_quote(schema)), ())
                rows += [(schema, name, kind) for name, kind in shown if kind in _KINDS]
        return tables_by_name(schemas, rows, _KINDS)

    async def read_batch(self, batch: Sequence[SchemaTables]) -> list[dict[str, Any]]:
        """One connection per batch; ``information_schema`` is asked schema by schema."""
        async with self.driver_connection() as raw:
            await _query(raw, _MARIADB_SESSION if self._mariadb else _SESSION, ())
            return [record for group in batch if group.tables
                    for record in await self._read_schema(raw, group.schema, group.tables)]

    async def _read_schema(self, raw: Any, schema: str, tables: Sequence[TableRef]) -> list[dict[str, Any]]:
        names = [t.name for t in tables]
        wanted = set(names)
        args = (schema, *names)
        rows = {}
        checks = _MARIADB_CHECKS if self._mariadb else _CHECKS
        for label, query in (("relations", _RELATIONS), ("columns", _COLUMNS),
                             ("foreign_keys", _FOREIGN_KEYS), ("key_rules", _FOREIGN_KEY_RULES),
                             ("indexes", _INDEXES), ("checks", checks)):
            found = await _query(raw, query.format(names=_marks(names)), args)
            # information_schema compares names case-insensitively: `Users` also matches
            # `users`, which belongs to another batch. Keep exact matches only.
            rows[label] = [row for row in found if row[0] in wanted]
        views = {t.name: await _show_create_view(raw, schema, t.name) for t in tables if t.kind == "view"}
        return build_records(self.database, schema, tables, views, **rows)

    @property
    def _mariadb(self) -> bool:
        return bool(getattr(self.engine.dialect, "is_mariadb", False))

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        async with self.driver_connection() as raw:
            return await _query(raw, query, args)


async def _query(raw: Any, query: str, args: Sequence[Any]) -> list[Any]:
    async with raw.cursor() as cur:
        await cur.execute(query, tuple(args))
        return list(await cur.fetchall())


async def _show_create_view(raw: Any, schema: str, name: str) -> str:
    """The generic reader's view definition: the full ``SHOW CREATE`` statement."""
    rows = await _query(raw, f"SHOW CREATE TABLE {_quote(schema)}.{_quote(name)}", ())
    return str(rows[0][1])


def _marks(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def build_records(
    db: str, schema: str, tables: Sequence[TableRef], views: dict[str, str], relations: Sequence[Any],
    columns: Sequence[Any], foreign_keys: Sequence[Any], key_rules: Sequence[Any], indexes: Sequence[Any],
    checks: Sequence[Any],
) -> list[dict[str, Any]]:
    """Rows of the bulk queries → records, as the generic reader would build them."""
    kinds = {t.name: t.kind for t in tables}
    out: list[dict[str, Any]] = []
    collations: dict[str, str | None] = {}
    for name, comment, collation in relations:
        collations[name] = collation
        is_view = kinds[name] == "view"
        view_sql = views.get(name, "").strip() or None
        out.append(records.table(db, schema, name, kinds[name], None if is_view else (comment or None), view_sql))
    for table, packed in columns:
        for ordinal, (name, native, nullable, default, comment, extra, charset, collation) in enumerate(
                orjson.loads(packed), 1):
            column_type = native
            if collation and collations.get(table) and collation != collations[table]:
                # SHOW CREATE TABLE, which the generic reader parses, names them only when they differ
                column_type = f"{native} CHARACTER SET {charset} COLLATE {collation}"
            out.append(records.column(db, schema, table, ordinal, name, mysql_type_name(column_type),
                                      nullable == "YES", _default(default, extra), comment or None, native))
    rules = {(table, name): (on_delete, on_update) for table, name, on_delete, on_update in key_rules}
    fks: dict[tuple[str, str], dict[str, Any]] = {}
    for table, name, column, ref_schema, ref_table, ref_column in foreign_keys:
        if (table, name) not in rules:
            continue  # dropped between the two reads: gone, like a table that vanished
        on_delete, on_update = rules[(table, name)]
        fk = fks.setdefault((table, name), {
            "name": name, "constrained_columns": [], "referred_schema": ref_schema, "referred_table": ref_table,
            "referred_columns": [], "options": {"ondelete": on_delete if on_delete in _FK_ACTIONS else None,
                                                "onupdate": on_update if on_update in _FK_ACTIONS else None}})
        fk["constrained_columns"].append(column)
        fk["referred_columns"].append(ref_column)
    out += [records.foreign_key(db, schema, table, fk, schema) for (table, _), fk in fks.items()]
    keys: dict[tuple[str, str], list[str]] = defaultdict(list)
    unique: dict[tuple[str, str], bool] = {}
    methods: dict[tuple[str, str], str] = {}
    for table, name, non_unique, column, method in indexes:
        keys[(table, name)].append(column)
        unique[(table, name)] = not int(non_unique)
        methods[(table, name)] = method.lower()
    for (table, name), cols in keys.items():
        if name == "PRIMARY":
            out.append(records.primary_key(db, schema, table, None, cols))
            continue
        if unique[(table, name)]:
            out.append(records.unique_constraint(db, schema, table, name, cols))
        out.append(records.index(db, schema, table, {"name": name, "column_names": cols,
                                                     "unique": unique[(table, name)],
                                                     "method": methods[(table, name)]}))
    out += [records.check_constraint(db, schema, table, {"name": name, "sqltext": clause})
            for table, name, clause in checks]
    return out


def _default(default: str | None, extra: str) -> str | None:
    """``information_schema`` default → the generic reader's (``NULL`` means none)."""
    if default is None or default == "NULL" or "auto_increment" in extra:
        return None
    return default


@functools.lru_cache(maxsize=4096)
def mysql_type_name(column_type: str) -> str:
    """``COLUMN_TYPE`` (e.g. ``int(11) unsigned``) → the generic reader's type name (memoized).

    It feeds a one-column ``SHOW CREATE TABLE`` line to SQLAlchemy's own MySQL
    parser, then compiles the type, exactly as the generic reader does.
    """
    dialect = _dialect()
    state = ReflectedState()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            dialect._tabledef_parser._parse_column(f"  `c` {column_type},", state)
            reflected = state.columns[0]["type"]
        except Exception:  # noqa: BLE001 - private SQLAlchemy hook; any change means "keep MySQL's name"
            return column_type.upper()
    if isinstance(reflected, NullType):
        return column_type.upper()
    return type_name(dialect, reflected)


@functools.lru_cache(maxsize=1)
def _dialect() -> MySQLDialect:
    return MySQLDialect()
