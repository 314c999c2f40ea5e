"""PostgreSQL fast path: bulk ``pg_catalog`` reads straight through asyncpg.

The generic reader goes through SQLAlchemy reflection: several queries per
entity kind (type, collation and opclass look-ups included), result mapping
and regex parsing of constraint definitions. This reader asks four bulk
queries per batch of tables (relations, columns, constraints with checks, indexes), however
many schemas the batch spans, on the pooled asyncpg connection and builds the
very same records with ``records.py``. ``tests/test_source_equivalence.py`` holds both readers to
the same output, field for field, on the fixture catalogs (enums, domains,
arrays, identity, generated and serial columns, expression, partial and
covering indexes, composite and cross-schema foreign keys).

Where the two could still differ, the fast path is the more exact one: it
reads a foreign key's referenced schema from ``pg_constraint.confrelid``,
where SQLAlchemy parses it out of ``pg_get_constraintdef()`` text, which
leaves the schema out whenever the table is visible on ``search_path``.

Batches of PostgreSQL 11 and older (no ``pg_attribute.attgenerated``) go
through the generic reader.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.types import NullType
from sqlalchemy.util import strip_outer_parens

from . import records
from .sql import (
    _PG_KINDS,
    CatalogReader,
    SchemaTables,
    TableRef,
    read_groups,
    tables_by_name,
    type_name,
)

# PostgreSQL's own schemas (pg_*, information_schema; sql.SYSTEM_SCHEMAS) are left out here.
_SCHEMAS = """
SELECT nspname FROM pg_catalog.pg_namespace
WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
"""

# Each query is driven by an index, so its cost follows the batch, not the catalog:
# relations of a schema come through pg_depend's namespace dependencies (pg_class has
# no index on relnamespace), per-table kinds are joined to ``unnest($1::oid[])``, each
# key or index column name is one (attrelid, attnum) probe (a join there hashes every
# column of the table per key), and column comments come per table in one range scan.
# A seq scan here would make the whole extraction quadratic in the catalog size:
# ``EXPLAIN`` every change on a catalog of some 10,000 tables.
_TABLES = """
SELECT n.nspname, c.relname, c.relkind::text
FROM pg_catalog.pg_namespace n
JOIN pg_catalog.pg_depend dep ON dep.refobjid = n.oid
JOIN pg_catalog.pg_class c ON c.oid = dep.objid
WHERE n.nspname = ANY($1::text[])
  AND dep.refclassid = 'pg_catalog.pg_namespace'::regclass AND dep.classid = 'pg_catalog.pg_class'::regclass
  AND dep.objsubid = 0 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND c.relnamespace = n.oid
"""

# $1/$2: schema and table name of each table of the batch, pairwise.
_RELATIONS = """
SELECT c.oid, n.nspname, c.relname,
       (SELECT d.description FROM pg_catalog.pg_description d
        WHERE d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0),
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END,
       CASE WHEN c.relispartition THEN
           (SELECT ARRAY[pn.nspname::text, pc.relname::text] FROM pg_catalog.pg_inherits i
            JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent
            JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = c.oid) END,
       pg_catalog.pg_get_expr(c.relpartbound, c.oid),
       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,
       cd.attnums, cd.texts
FROM unnest($1::text[], $2::text[]) AS r(nspname, relname)
JOIN pg_catalog.pg_namespace n ON n.nspname = r.nspname
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = r.relname
-- the column comments of the table in one index range scan, not one probe per column
CROSS JOIN LATERAL (
    SELECT array_agg(d.objsubid) AS attnums, array_agg(d.description) AS texts FROM pg_catalog.pg_description d
    WHERE d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid > 0
) cd
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
       CASE WHEN a.atthasdef AND a.attgenerated = '' THEN
           (SELECT pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) FROM pg_catalog.pg_attrdef ad
            WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum) END,
       a.attnum,
       CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN
           (SELECT ARRAY[co.collname::text,
                         CASE WHEN NOT pg_catalog.pg_collation_is_visible(co.oid) THEN cn.nspname::text END]
            FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
            WHERE co.oid = a.attcollation) END
FROM unnest($1::oid[]) AS r(oid)
JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_CONSTRAINTS = """
SELECT con.conrelid, con.contype::text, con.conname, con.conindid,
       ARRAY(SELECT (SELECT a.attname::text FROM pg_catalog.pg_attribute a
                     WHERE a.attrelid = con.conrelid AND a.attnum = k.num)
             FROM unnest(con.conkey) WITH ORDINALITY k(num, pos) ORDER BY k.pos),
       rn.nspname,
       rc.relname,
       ARRAY(SELECT (SELECT a.attname::text FROM pg_catalog.pg_attribute a
                     WHERE a.attrelid = con.confrelid AND a.attnum = k.num)
             FROM unnest(con.confkey) WITH ORDINALITY k(num, pos) ORDER BY k.pos),
       con.confdeltype::text, con.confupdtype::text,
       CASE WHEN con.contype = 'c' THEN pg_catalog.pg_get_constraintdef(con.oid, true) END
FROM unnest($1::oid[]) AS r(oid)
CROSS JOIN LATERAL (
    -- OFFSET 0 keeps this a per-table index probe; flattened, the planner prefers a seq scan
    SELECT * FROM pg_catalog.pg_constraint c
    WHERE c.conrelid = r.oid AND c.contype IN ('p', 'u', 'f', 'x', 'c') OFFSET 0
) con
LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
"""

_INDEXES = """
SELECT i.indrelid, i.indexrelid, ic.relname, i.indisunique, i.indnkeyatts, am.amname,
       CASE WHEN i.indpred IS NOT NULL THEN pg_catalog.pg_get_expr(i.indpred, i.indrelid) END,
       ARRAY(SELECT CASE WHEN k.num = 0 THEN pg_catalog.pg_get_indexdef(i.indexrelid, k.pos::int, true)
                         ELSE (SELECT a.attname::text FROM pg_catalog.pg_attribute a
                               WHERE a.attrelid = i.indrelid AND a.attnum = k.num) END
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, pos) ORDER BY k.pos),
       ARRAY(SELECT k.num = 0 FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, pos) ORDER BY k.pos)
FROM unnest($1::oid[]) AS r(oid)
CROSS JOIN LATERAL (  -- OFFSET 0: as for constraints; joined flat, pg_index is read whole for every batch
    SELECT * FROM pg_catalog.pg_index x WHERE x.indrelid = r.oid AND NOT x.indisprimary OFFSET 0
) i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_am am ON am.oid = ic.relam
"""

# pg_constraint.confdeltype / confupdtype codes; "a" (NO ACTION) is the default and left out.
_FK_ACTIONS = {"r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
_NEXTVAL = re.compile(r"(nextval\(')([^']+)('.*$)")
# pg_get_constraintdef() of a CHECK → its expression, as SQLAlchemy's reflection spells it
_CHECK = re.compile(r"^CHECK *\((.+)\)( NO INHERIT)?( NOT VALID)?$", re.DOTALL)


class PostgresCatalogReader(CatalogReader):
    """Same contract as ``CatalogReader``; a handful of bulk queries per batch."""

    async def list_schemas(self, pattern: re.Pattern[str] | None) -> list[str]:
        """One query instead of SQLAlchemy's schema reflection."""
        return sorted(name for (name,) in await self._fetch(_SCHEMAS) if pattern is None or pattern.search(name))

    async def tables_by_schema(self, schemas: Sequence[str]) -> dict[str, list[TableRef]]:
        """Every schema of a plan or a slice in one query."""
        return tables_by_name(schemas, await self._fetch(_TABLES, list(schemas)), _PG_KINDS)

    async def read_batch(self, batch: Sequence[SchemaTables]) -> list[dict[str, Any]]:
        """Four queries for the whole batch, whatever the number of schemas in it."""
        batch = [group for group in batch if group.tables]
        if not batch:
            return []
        # Not driver_connection(): servers before PostgreSQL 12 (no pg_attribute.attgenerated)
        # need this SQLAlchemy connection for the generic reader, and the version is only
        # known once connected.
        async with self.engine.connect() as conn:
            if (self.engine.dialect.server_version_info or (12,)) < (12,):
                return await conn.run_sync(read_groups, self.database, batch)
            pg = (await conn.get_raw_connection()).driver_connection
            assert pg is not None
            relations = await pg.fetch(_RELATIONS, [g.schema for g in batch for _ in g.tables],
                                       [t.name for g in batch for t in g.tables])
            oids = [row[0] for row in relations]
            columns = await pg.fetch(_COLUMNS, oids)
            constraints = await pg.fetch(_CONSTRAINTS, oids)
            indexes = await pg.fetch(_INDEXES, oids)
        return build_records(self.database, batch, relations, columns, constraints, indexes)

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        async with self.driver_connection() as pg:
            return list(await pg.fetch(query, *args))


def build_records(
    db: str, batch: Sequence[SchemaTables], relations: Sequence[Any], columns: Sequence[Any],
    constraints: Sequence[Any], indexes: Sequence[Any],
) -> list[dict[str, Any]]:
    """Rows of the four bulk queries → records, in the generic reader's order."""
    names: dict[int, tuple[str, str]] = {}  # oid -> (schema, table)
    out: list[dict[str, Any]] = []
    kinds = {(g.schema, t.name): t.kind for g in batch for t in g.tables}
    comments: dict[int, dict[int, str]] = {}  # oid -> attnum -> column comment
    for oid, schema, name, comment, view_sql, parent, bound, key, attnums, texts in relations:
        names[oid] = (schema, name)
        if attnums:
            comments[oid] = dict(zip(attnums, texts, strict=True))
        kind = kinds[(schema, name)]
        view = view_sql.strip() if view_sql and kind in ("view", "materialized_view") else None
        out.append(records.table(db, schema, name, kind, comment, view or None,
                                 partition_of=tuple(parent) if parent else None, partition_bound=bound,
                                 partition_key=key))
    ordinal, last, schema, table = 0, None, "", ""
    described: dict[int, str] = {}
    for oid, name, fmt, not_null, default, attnum, collation in columns:
        if oid != last:
            ordinal, last = 0, oid
            schema, table = names[oid]
            described = comments.get(oid, {})
        ordinal += 1
        data_type = pg_type_name(fmt, *collation) if collation else pg_type_name(fmt, None, None)
        out.append(records.column(db, schema, table, ordinal, name, data_type, not not_null,
                                  qualify_sequence(default, schema), described.get(attnum), fmt))
    backing: set[int] = set()
    for (oid, contype, conname, index_oid, cols, ref_schema, ref_table, ref_cols, on_delete, on_update,
         check) in constraints:
        schema, table = names[oid]
        if contype in ("p", "u", "x"):
            backing.add(index_oid)
        if contype == "p":
            out.append(records.primary_key(db, schema, table, conname, cols))
        elif contype == "u":
            out.append(records.unique_constraint(db, schema, table, conname, cols))
        elif contype == "f":
            fk = {"name": conname, "constrained_columns": cols, "referred_schema": ref_schema,
                  "referred_table": ref_table, "referred_columns": ref_cols,
                  "options": {"ondelete": _FK_ACTIONS.get(on_delete), "onupdate": _FK_ACTIONS.get(on_update)}}
            out.append(records.foreign_key(db, schema, table, fk, schema))
        elif contype == "c" and (match := _CHECK.match(check)):
            cc = {"name": conname, "sqltext": strip_outer_parens(match.group(1))}
            out.append(records.check_constraint(db, schema, table, cc))
    for oid, index_oid, name, unique, key_count, method, predicate, elements, is_expr in indexes:
        keys, exprs = elements[:key_count], is_expr[:key_count]
        ix: dict[str, Any] = {"name": name, "unique": unique, "method": method, "predicate": predicate,
                              "column_names": [None if e else k for k, e in zip(keys, exprs, strict=True)]}
        if any(exprs):
            ix["expressions"] = keys
        if index_oid in backing:
            ix["duplicates_constraint"] = name
        schema, table = names[oid]
        out.append(records.index(db, schema, table, ix))
    return out


def qualify_sequence(default: str | None, schema: str) -> str | None:
    """Schema-qualify a ``nextval('seq')`` default, as SQLAlchemy reflection does."""
    if default is None or "nextval('" not in default:
        return default
    match = _NEXTVAL.search(default)
    if match is None or "." in match.group(2):
        return default
    return f'{match.group(1)}"{schema}".{match.group(2)}{match.group(3)}'


@functools.lru_cache(maxsize=4096)
def pg_type_name(format_type: str, collation: str | None, collation_schema: str | None) -> str:
    """``format_type()`` output → the name the generic reader gives (memoized: few distinct types).

    It goes through the same SQLAlchemy type mapping the generic reader uses,
    then compiles the type. Enums, domains and extension types are unknown to
    that mapping without extra queries, so they keep PostgreSQL's spelling.
    """
    dialect = _dialect()
    no_named_types: Any = SimpleNamespace(enums={}, domains={})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reflected = dialect._reflect_type(format_type, no_named_types, "column", collation, collation_schema)
        except Exception:  # noqa: BLE001 - private SQLAlchemy hook; any change means "keep the PG name"
            return format_type
    if isinstance(reflected, NullType):  # SQLAlchemy does not know it
        return format_type
    return type_name(dialect, reflected)


@functools.lru_cache(maxsize=1)
def _dialect() -> PGDialect:
    return PGDialect()  # type: ignore[no-untyped-call]
