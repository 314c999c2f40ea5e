"""Catalog reader: turns one batch of tables (of one or more schemas) into records.

It uses SQLAlchemy 2 bulk reflection (``Inspector.get_multi_*`` with
``filter_names=``), so a batch costs one catalog query per entity kind rather
than one per table. To support a new source, keep the record shapes of
``records.py`` and change how they are read here.

This is the generic reader, used for SQLite and any other dialect.
PostgreSQL and MySQL/MariaDB get bulk-catalog fast paths with the same
output (``source_postgres.py``, ``source_mysql.py``); ``readers.py`` picks.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Dialect, Inspector
from sqlalchemy.engine.reflection import ObjectKind, ObjectScope
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeEngine

from . import records
from .native import Partitioning, native_types, partitions, schema_objects

#: Schemas each dialect keeps for itself, never extracted; PostgreSQL also owns every ``pg_*``.
#: Per dialect: a PostgreSQL schema a user named ``sys`` or ``mysql`` is theirs and comes out.
SYSTEM_SCHEMAS: dict[str, frozenset[str]] = {
    "postgresql": frozenset({"information_schema"}),
    "mysql": frozenset({"information_schema", "mysql", "performance_schema", "sys"}),
    "mariadb": frozenset({"information_schema", "mysql", "performance_schema", "sys"}),
}
_PG_KINDS = {"r": "table", "p": "partitioned_table", "v": "view", "m": "materialized_view", "f": "foreign_table"}
_PG_TABLES = text(
    "SELECT c.relname, c.relkind::text FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
)

_PG_SCHEMA_COMMENTS = text(
    "SELECT nspname, pg_catalog.obj_description(oid, 'pg_namespace') FROM pg_catalog.pg_namespace "
    "WHERE nspname = ANY(:names)"
)


@dataclass(frozen=True, order=True)
class TableRef:
    name: str
    kind: str


@dataclass(frozen=True)
class SchemaTables:
    """Some tables of one schema; a batch is a list of these."""

    schema: str
    tables: Sequence[TableRef]


class CatalogReader:
    """Reads catalog metadata from one source database."""

    def __init__(self, engine: AsyncEngine, database: str) -> None:
        self.engine = engine
        self.database = database

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def server_version(self) -> str:
        async with self.engine.connect():
            info = self.engine.dialect.server_version_info
        return ".".join(str(part) for part in info or ())

    async def list_schemas(self, pattern: re.Pattern[str] | None) -> list[str]:
        """Names of the user schemas matching ``pattern``, sorted; ``tables_by_schema`` lists their tables."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(_list_schemas, pattern)

    async def list_tables(self, schema: str) -> list[TableRef]:
        """Tables and views of ``schema`` in a stable (name) order."""
        return (await self.tables_by_schema([schema]))[schema]

    async def tables_by_schema(self, schemas: Sequence[str]) -> dict[str, list[TableRef]]:
        """Tables and views of several schemas (a plan's, a slice's); fast paths ask in one query."""
        async with self.engine.connect() as conn:
            return {schema: await conn.run_sync(_list_tables, schema) for schema in schemas}

    async def schema_comments(self, schemas: Sequence[str]) -> dict[str, str | None]:
        """Each schema's comment, where the server keeps one (PostgreSQL; MySQL has none)."""
        if self.dialect != "postgresql" or not schemas:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(_PG_SCHEMA_COMMENTS, {"names": list(schemas)})
            return {name: comment for name, comment in rows}

    async def schema_objects(self, schemas: Sequence[str]) -> list[dict[str, Any]]:
        """Records of what lives in ``schemas`` beside their tables (``native.schema_objects``)."""
        if not schemas:
            return []
        async with self.engine.connect() as conn:
            return await conn.run_sync(schema_objects, self.database, schemas)

    async def read_batch(self, batch: Sequence[SchemaTables]) -> list[dict[str, Any]]:
        """All records of the batch's tables, in a deterministic order."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(read_groups, self.database, batch)

    @contextlib.asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[Any]:
        """A pooled connection as the driver's own object (asyncpg, aiomysql), for the fast paths."""
        async with self.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            yield driver


def tables_by_name(schemas: Sequence[str], rows: Iterable[Sequence[str]],
                   kinds: Mapping[str, str]) -> dict[str, list[TableRef]]:
    """``(schema, table, catalog kind)`` rows → each requested schema's tables in name order.

    Rows of schemas not requested exactly (``information_schema`` matches names
    case-insensitively) are dropped.
    """
    found: dict[str, list[TableRef]] = {schema: [] for schema in schemas}
    for schema, name, kind in rows:
        if schema in found:
            found[schema].append(TableRef(name, kinds[kind]))
    return {schema: sorted(tables) for schema, tables in found.items()}


def is_system_schema(dialect: str, name: str) -> bool:
    """A schema the server keeps for itself (SQLite's internal tables are not listed at all)."""
    if dialect == "postgresql" and name.startswith("pg_"):
        return True
    return name in SYSTEM_SCHEMAS.get(dialect, frozenset())


def _list_schemas(conn: Connection, pattern: re.Pattern[str] | None) -> list[str]:
    return sorted(
        name
        for name in inspect(conn).get_schema_names()
        if not is_system_schema(conn.dialect.name, name) and (pattern is None or pattern.search(name))
    )


def _list_tables(conn: Connection, schema: str) -> list[TableRef]:
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_PG_TABLES, {"schema": schema})
        return sorted(TableRef(name, _PG_KINDS[kind]) for name, kind in rows)
    insp = inspect(conn)
    found = {name: "table" for name in insp.get_table_names(schema=schema)}
    found.update({name: "view" for name in insp.get_view_names(schema=schema)})
    return sorted(TableRef(name, kind) for name, kind in found.items())


def read_groups(conn: Connection, database: str, batch: Sequence[SchemaTables]) -> list[dict[str, Any]]:
    """The generic read of a batch: SQLAlchemy's bulk reflection, one schema at a time."""
    return [record for group in batch for record in _read_batch(conn, database, group.schema, list(group.tables))]


def _read_batch(
    conn: Connection, database: str, schema: str, tables: list[TableRef]
) -> list[dict[str, Any]]:
    if not tables:
        return []
    insp = inspect(conn)
    names = [t.name for t in tables]
    reflected = _reflect(insp, schema, names)
    spelled, partitioned = native_types(conn, schema, names), partitions(conn, schema, names)
    default_schema = insp.default_schema_name or schema
    out: list[dict[str, Any]] = []
    for table in tables:
        key = (schema, table.name)
        view_sql = _view_definition(insp, schema, table)
        part = partitioned.get(table.name, Partitioning())
        out.append(
            records.table(database, schema, table.name, table.kind,
                          reflected["comments"].get(key, {}).get("text"), view_sql,
                          partition_of=part.parent, partition_bound=part.bound, partition_key=part.key)
        )
        for ordinal, col in enumerate(reflected["columns"].get(key, []), start=1):
            out.append(
                records.column(database, schema, table.name, ordinal, col["name"],
                               type_name(conn.dialect, col["type"]), col.get("nullable", True),
                               col.get("default"), col.get("comment"), spelled.get((table.name, col["name"])))
            )
        pk = reflected["pks"].get(key) or {}
        if pk.get("constrained_columns"):
            out.append(records.primary_key(database, schema, table.name, pk.get("name"),
                                           pk["constrained_columns"]))
        for fk in reflected["fks"].get(key, []):
            out.append(records.foreign_key(database, schema, table.name, fk, default_schema))
        for uc in reflected["uniques"].get(key, []):
            out.append(records.unique_constraint(database, schema, table.name, uc.get("name"),
                                                 uc["column_names"]))
        for ix in reflected["indexes"].get(key, []):
            out.append(records.index(database, schema, table.name, index_access(conn.dialect.name, ix)))
        out += [records.check_constraint(database, schema, table.name, cc) for cc in reflected["checks"].get(key, [])]
    return out


def _reflect(insp: Inspector, schema: str, names: list[str]) -> dict[str, dict[Any, Any]]:
    """One bulk call per entity kind, keyed by ``(schema, table)``."""
    kw: dict[str, Any] = {
        "schema": schema, "filter_names": names, "kind": ObjectKind.ANY, "scope": ObjectScope.ANY,
    }
    calls: dict[str, Callable[..., Any]] = {
        "columns": insp.get_multi_columns,
        "pks": insp.get_multi_pk_constraint,
        "fks": insp.get_multi_foreign_keys,
        "uniques": insp.get_multi_unique_constraints,
        "indexes": insp.get_multi_indexes,
        "comments": insp.get_multi_table_comment,
        "checks": insp.get_multi_check_constraints,
    }
    out: dict[str, dict[Any, Any]] = {}
    for label, call in calls.items():
        try:
            result: dict[tuple[str | None, str], Any] = dict(call(**kw))
        except NotImplementedError:
            result = {}
        out[label] = {(schema, name): value for (_, name), value in result.items()}
    if insp.dialect.name == "sqlite":
        _sqlite_fk_actions(insp.bind, schema, out["fks"])
    return out


def index_access(dialect: str, ix: dict[str, Any]) -> dict[str, Any]:
    """An index's method and partial predicate, which SQLAlchemy keeps among its dialect options."""
    options = ix.get("dialect_options") or {}
    prefix = options.get(f"{dialect}_prefix")  # MySQL/MariaDB FULLTEXT, SPATIAL
    method = options.get(f"{dialect}_using") or (prefix.lower() if prefix else "btree")
    where = options.get(f"{dialect}_where")  # PostgreSQL: pg_get_expr text; SQLite: as written
    return {**ix, "method": method, "predicate": None if where is None else str(where)}


def _sqlite_fk_actions(conn: Any, schema: str, fks: dict[Any, list[dict[str, Any]]]) -> None:
    """SQLAlchemy drops SQLite's ON DELETE/UPDATE; read them from the pragma."""
    for (_, table), found in fks.items():
        rows = conn.exec_driver_sql(
            f"PRAGMA {_sqlite_quote(schema)}.foreign_key_list({_sqlite_quote(table)})"
        ).mappings().all()
        actions: dict[tuple[str, tuple[str, ...]], tuple[str, str]] = {}
        columns: dict[int, list[str]] = {}
        for row in rows:
            columns.setdefault(row["id"], []).append(row["from"])
            actions[(row["table"], tuple(columns[row["id"]]))] = (row["on_delete"], row["on_update"])
        for fk in found:
            on_delete, on_update = actions.get((fk["referred_table"], tuple(fk["constrained_columns"])), ("", ""))
            options = fk.setdefault("options", {})
            if on_delete and on_delete != "NO ACTION":
                options.setdefault("ondelete", on_delete)
            if on_update and on_update != "NO ACTION":
                options.setdefault("onupdate", on_update)


def _sqlite_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _view_definition(insp: Inspector, schema: str, table: TableRef) -> str | None:
    if table.kind not in ("view", "materialized_view"):
        return None
    try:
        definition = insp.get_view_definition(table.name, schema=schema)
    except NotImplementedError:
        return None
    return str(definition).strip() if definition else None


def type_name(dialect: Dialect, type_: TypeEngine[Any]) -> str:
    """Declared type as the source spells it; falls back to the generic name."""
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:  # noqa: BLE001 - unknown/unsupported types still need a name
        return type(type_).__name__.upper()
