"""The plans PostgreSQL runs for the fast path's batch queries, from the reader's own connection.

Reads every table of a database batch by batch through the app's
``PostgresCatalogReader`` (asyncpg, prepared statements, as a slice does) with
``auto_explain`` loaded into its connections, each sending every plan back as a
notice. Prints, per query, how many plan shapes its executions had, at which
executions each shape ran, the tables each reads and how (index or seq scan),
and the executions' durations. asyncpg prepares every statement, so after five
executions PostgreSQL may switch to a generic plan: a second shape from
execution 5 on is that switch. Needs a superuser (``session_preload_libraries``).
Run it with the rendered app's Python:

    plans_postgres.py postgresql://postgres@127.0.0.1:5432/bench_pg20000_x
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
from collections import defaultdict
from typing import Any

from catalog_extractor.sources import postgres
from catalog_extractor.sources.readers import select_reader
from catalog_extractor.sources.sql import SchemaTables
from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine

QUERIES = {"relations": postgres._RELATIONS, "columns": postgres._COLUMNS,
           "constraints": postgres._CONSTRAINTS, "indexes": postgres._INDEXES}
# Session settings sent at connect: each query's plan comes back as a notice on the same connection.
EXPLAIN_EVERYTHING = {"session_preload_libraries": "auto_explain", "auto_explain.log_min_duration": "0",
                      "auto_explain.log_level": "notice", "auto_explain.log_format": "json"}


def parse(message: str) -> tuple[float, dict[str, Any]]:
    """``duration: 2.1 ms  plan: {...}`` → (2.1, the plan)."""
    head, plan = message.split("plan:", 1)
    return float(head.split()[1]), json.loads(plan)


def scans(node: dict[str, Any]) -> list[str]:
    """``Index Scan pg_class (pg_class_oid_index)``, for every node of a plan that reads a table."""
    index = f" ({node['Index Name']})" if "Index Name" in node else ""
    found = [f"{node['Node Type']} {node['Relation Name']}{index}"] if "Relation Name" in node else []
    return found + [scan for child in node.get("Plans", []) for scan in scans(child)]


async def main(url: str, batch_size: int = 200) -> None:
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1),
                                 connect_args={"server_settings": EXPLAIN_EVERYTHING})
    plans: list[tuple[float, dict[str, Any]]] = []  # (duration ms, plan)

    def listen(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_log_listener(lambda _conn, notice: plans.append(parse(notice.message)))

    event.listen(engine.sync_engine, "connect", listen)

    reader = select_reader(engine, "bench")
    schemas = await reader.list_schemas(None)
    tables = [(schema, t) for schema, refs in (await reader.tables_by_schema(schemas)).items() for t in refs]
    for start in range(0, len(tables), batch_size):
        groups: dict[str, list[Any]] = defaultdict(list)
        for schema, table in tables[start:start + batch_size]:
            groups[schema].append(table)
        await reader.read_batch([SchemaTables(schema=s, tables=ts) for s, ts in groups.items()])
    await engine.dispose()
    print(f"{len(tables)} tables and views, {len(schemas)} schemas, batches of {batch_size}")
    for label, query in QUERIES.items():
        runs = [(ms, plan) for ms, plan in plans if plan.get("Query Text", "").strip() == query.strip()]
        shapes: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for i, (_, plan) in enumerate(runs):
            shapes[tuple(sorted(set(scans(plan["Plan"]))))].append(i)
        ms = [duration for duration, _ in runs]
        print(f"\n{label}: {len(runs)} executions, {len(shapes)} plan shape(s), "
              f"median {statistics.median(ms) if ms else 0:.1f} ms (first 5: {', '.join(f'{x:.1f}' for x in ms[:5])})")
        for shape, seen in shapes.items():
            print(f"  executions {seen[0]}–{seen[-1]} ({len(seen)}): " + "; ".join(shape))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
