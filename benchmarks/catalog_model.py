"""A realistic synthetic catalog, described once and rendered per dialect.

Deterministic for a given size and seed. At 5,000 tables the defaults give
about 50 schemas, ~22 columns per table, a primary key on ~96% of tables,
~1.1 foreign keys and ~2 secondary indexes per table, a view per 20 tables,
and comments on half the tables and a tenth of the columns, close to the
peer benchmark the project compares itself with.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

TABLES_PER_SCHEMA = 100
# Logical column types; each dialect renders them (see seed.py).
TYPES = ("int", "bigint", "smallint", "text", "varchar", "char", "numeric", "bool", "date", "timestamp",
         "timestamptz", "json", "uuid", "float", "real", "bytes", "interval", "time")
TYPE_WEIGHTS = (10, 8, 2, 12, 14, 2, 6, 5, 4, 5, 5, 3, 2, 3, 1, 1, 1, 1)


@dataclass
class Column:
    name: str
    type: str
    length: int = 0
    nullable: bool = True
    default: str | None = None  # logical: "zero", "now", "text", "true"
    comment: str | None = None


@dataclass
class ForeignKey:
    name: str
    column: str
    schema: str
    table: str
    on_delete: str | None = None


@dataclass
class Index:
    name: str
    columns: list[str]
    unique: bool = False
    expression: bool = False  # index on lower(first column), a text column


@dataclass
class Table:
    schema: str
    name: str
    columns: list[Column]
    primary_key: list[str]
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    uniques: list[Index] = field(default_factory=list)
    comment: str | None = None


@dataclass
class View:
    schema: str
    name: str
    table: str
    columns: list[str]


@dataclass
class Schema:
    name: str
    tables: list[Table] = field(default_factory=list)
    views: list[View] = field(default_factory=list)


def schema_count(tables: int, per_schema: int = TABLES_PER_SCHEMA) -> int:
    return max(1, round(tables / per_schema))


def schema_names(count: int, prefix: str = "s") -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(count)]


def generate(tables: int, prefix: str = "s", seed: int = 42, per_schema: int = TABLES_PER_SCHEMA) -> list[Schema]:
    """``tables`` tables spread evenly over ``schema_count(tables, per_schema)`` schemas."""
    rng = random.Random(seed)
    schemas = [Schema(name) for name in schema_names(schema_count(tables, per_schema), prefix)]
    for number in range(tables):
        schema = schemas[number % len(schemas)]
        schema.tables.append(_table(rng, schema, f"t{len(schema.tables):04d}", schemas))
    for schema in schemas:
        for number, table in enumerate(schema.tables[::20]):
            cols = [c.name for c in table.columns[: rng.randint(2, 6)]]
            schema.views.append(View(schema.name, f"v{number:04d}", table.name, cols))
    return schemas


def _table(rng: random.Random, schema: Schema, name: str, schemas: list[Schema]) -> Table:
    columns = [Column("id", "bigint", nullable=False)]
    for i in range(max(1, int(rng.gauss(21, 8)))):
        kind = rng.choices(TYPES, TYPE_WEIGHTS)[0]
        col = Column(f"c{i:02d}_{kind}", kind, length=rng.choice((20, 50, 100, 255)),
                     nullable=rng.random() < 0.7)
        if rng.random() < 0.1:
            col.default = {"int": "zero", "bigint": "zero", "numeric": "zero", "text": "text",
                           "varchar": "text", "bool": "true", "timestamp": "now",
                           "timestamptz": "now"}.get(kind)
        if rng.random() < 0.1:
            col.comment = f"{kind} value number {i}"
        columns.append(col)
    table = Table(schema.name, name, columns, primary_key=["id"] if rng.random() < 0.96 else [])
    if rng.random() < 0.5:
        table.comment = f"Synthetic table {schema.name}.{name}"
    for k in range(_poisson(rng, 1.14)):
        target = _fk_target(rng, schema, schemas)
        if target is None:
            break
        column = Column(f"ref{k}_id", "bigint", nullable=rng.random() < 0.5)
        columns.append(column)
        action = rng.choice((None, None, "CASCADE", "SET NULL" if column.nullable else "RESTRICT"))
        table.foreign_keys.append(ForeignKey(f"fk_{name}_{k}", column.name, target.schema, target.name, action))
    plain = [c.name for c in columns[1:] if c.type not in ("json", "bytes")]
    for k in range(_poisson(rng, 1.9)):
        if not plain:
            break
        cols = rng.sample(plain, min(len(plain), rng.choice((1, 1, 2, 3))))
        texts = [c.name for c in columns if c.type in ("text", "varchar")]
        expression = bool(texts) and rng.random() < 0.05
        table.indexes.append(Index(f"ix_{name}_{k}", texts[:1] if expression else cols,
                                   unique=rng.random() < 0.1, expression=expression))
    if plain and rng.random() < 0.1:
        table.uniques.append(Index(f"uq_{name}", rng.sample(plain, min(2, len(plain)))))
    return table


def _fk_target(rng: random.Random, schema: Schema, schemas: list[Schema]) -> Table | None:
    """An earlier table with a primary key: mostly in the same schema, sometimes in another."""
    pool = schema.tables
    if rng.random() < 0.1:
        pool = rng.choice(schemas).tables or pool
    candidates = [t for t in pool[-50:] if t.primary_key]
    return rng.choice(candidates) if candidates else None


def _poisson(rng: random.Random, mean: float) -> int:
    count, limit, product = 0, pow(2.718281828, -mean), rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def expected_counts(schemas: list[Schema]) -> dict[str, int]:
    """What a complete extraction must report (indexes exclude primary-key indexes)."""
    tables = [t for s in schemas for t in s.tables]
    views = [v for s in schemas for v in s.views]
    return {
        "schemas": len(schemas),
        "tables": len(tables),
        "views": len(views),
        "columns": sum(len(t.columns) for t in tables) + sum(len(v.columns) for v in views),
        "primary_keys": sum(1 for t in tables if t.primary_key),
        "foreign_keys": sum(len(t.foreign_keys) for t in tables),
        "unique_constraints": sum(len(t.uniques) for t in tables),
        "indexes": sum(len(t.indexes) + len(t.uniques) for t in tables),
        "check_constraints": 0,  # the bench catalogs have no CHECK, serial or identity columns,
        "sequences": 0,  # enums or domains
        "types": 0,
    }
