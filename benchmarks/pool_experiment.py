"""Is a process pool worth it for the CPU-bound transform + encode step? (measurement behind the decision)

Reads every schema of a seeded PostgreSQL catalog once with the fast-path
queries, then turns the rows into records and JSON Lines (what one batch
does after its queries) twice: inline, and in a 2-process pool (spawn).
Prints wall time and the calling process's CPU for each. Run it with the
rendered app's Python against a database made by ``seed.py``:

    python benchmarks/pool_experiment.py postgresql://postgres@127.0.0.1:5432/bench_pg5000
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from catalog_extractor import sink
from catalog_extractor.sources import postgres as pg_source
from catalog_extractor.sources.sql import SchemaTables
from sqlalchemy.ext.asyncio import create_async_engine


def transform(batch: tuple[Any, ...]) -> tuple[int, str]:
    schema, tables, relations, columns, constraints, indexes = batch
    groups = [SchemaTables(schema, tables)]
    found = pg_source.build_records("db", groups, relations, columns, constraints, indexes)
    return len(found), hashlib.sha256(sink.encode(found)).hexdigest()


async def read_all(url: str) -> list[tuple[Any, ...]]:
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    reader = pg_source.PostgresCatalogReader(engine, "db")
    batches = []
    for schema in await reader.list_schemas(None):
        tables = await reader.list_tables(schema)
        async with engine.connect() as conn:
            pg = (await conn.get_raw_connection()).driver_connection
            assert pg is not None
            names = [t.name for t in tables]
            relations = [tuple(r) for r in await pg.fetch(pg_source._RELATIONS, [schema] * len(names), names)]
            oids = [r[0] for r in relations]
            rest = [[tuple(r) for r in await pg.fetch(q, oids)]
                    for q in (pg_source._COLUMNS, pg_source._CONSTRAINTS, pg_source._INDEXES)]
        batches.append((schema, tables, relations, *rest))
    await engine.dispose()
    return batches


async def main(url: str) -> None:
    batches = await read_all(url)
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(transform, batches[:2]))  # start and warm the processes
        for _ in range(3):
            wall, cpu = time.perf_counter(), time.process_time()
            for batch in batches:
                transform(batch)
            print(f"inline : wall {time.perf_counter() - wall:.3f} s, caller CPU {time.process_time() - cpu:.3f} s")
            wall, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(loop.run_in_executor(pool, transform, b) for b in batches))
            print(f"pool(2): wall {time.perf_counter() - wall:.3f} s, caller CPU {time.process_time() - cpu:.3f} s")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
