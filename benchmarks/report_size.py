"""Measure the offline report on a large run: HTML size, write time, time to first render in Chromium.

Run with a rendered app's Python (it has the app, obstore and playwright), on a
machine with Debian's ``chromium``:

    .venv/bin/python /path/to/template/benchmarks/report_size.py --tables 20000 [--package catalog_extractor]

``--manifest URL`` measures a real run instead. Otherwise the run is synthetic but real output:
``catalog_model.generate`` (the catalog ``seed.py`` creates) turned into records by the app's own builders
(``sources/records.py``) and written by its own sink as parts of 200 tables
and a manifest, in a temporary folder that is removed afterwards. No database
is touched. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from catalog_model import Schema, generate

BATCH = 200
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def table_records(records: Any, db: str, schema: Schema) -> list[list[dict[str, Any]]]:
    """One list of records per table (and view) of ``schema``."""
    out = []
    for t in schema.tables:
        rows = [records.table(db, t.schema, t.name, "table", t.comment, None)]
        rows += [records.column(db, t.schema, t.name, n, c.name, c.type.upper(), c.nullable, c.default, c.comment)
                 for n, c in enumerate(t.columns, 1)]
        if t.primary_key:
            rows.append(records.primary_key(db, t.schema, t.name, f"{t.name}_pkey", t.primary_key))
        rows += [records.foreign_key(db, t.schema, t.name, {
            "name": fk.name, "constrained_columns": [fk.column], "referred_schema": fk.schema,
            "referred_table": fk.table, "referred_columns": ["id"], "options": {"ondelete": fk.on_delete}},
            t.schema) for fk in t.foreign_keys]
        rows += [records.index(db, t.schema, t.name, {"name": ix.name, "column_names": ix.columns,
                                                      "unique": ix.unique}) for ix in t.indexes]
        rows += [records.unique_constraint(db, t.schema, t.name, u.name, u.columns) for u in t.uniques]
        out.append(rows)
    for v in schema.views:
        definition = f"SELECT {', '.join(v.columns)} FROM {v.schema}.{v.table}"
        rows = [records.table(db, v.schema, v.name, "view", None, definition)]
        rows += [records.column(db, v.schema, v.name, n, c, "TEXT", True, None, None)
                 for n, c in enumerate(v.columns, 1)]
        out.append(rows)
    return out


async def write_run(package: str, folder: Path, tables: int) -> str:
    """Write a synthetic run of ``tables`` tables under ``folder``; return its manifest URL."""
    records = importlib.import_module(f"{package}.sources.records")
    sink_module = importlib.import_module(f"{package}.engine.sink")
    output = sink_module.Sink.from_setting(str(folder)).run("bench", "report-benchmark")
    db, schemas = "bench", generate(tables)
    everything = [rows for schema in schemas for rows in table_records(records, db, schema)]
    parts = [await output.write_part("parts/_source.jsonl", [records.database(db, "postgresql", "17")])]
    head = [records.schema(db, s.name, None) for s in schemas]
    for n in range(0, len(everything), BATCH):
        batch = [r for rows in everything[n:n + BATCH] for r in rows] + (head if n == 0 else [])
        parts.append(await output.write_part(sink_module.part_name(0, n // BATCH), batch))
    counts: dict[str, int] = {}
    for rows in everything:
        for r in rows:
            kind = "views" if r.get("table_type") == "view" else r["kind"] + "s"
            counts[kind] = counts.get(kind, 0) + 1
    counts["schemas"] = len(schemas)
    manifest = {"format_version": 2, "workflow_id": "report-benchmark", "source": "bench", "database": db,
                "dialect": "postgresql", "server_version": "17", "schema_pattern": None, "counts": counts,
                "plan_fingerprint": "synthetic", "resumed_batches": 0, "vanished": {},
                "parts": sorted((p.model_dump() for p in parts), key=lambda p: p["path"])}
    return str(await output.write_manifest(manifest))


async def first_render(html: Path, last: int) -> dict[str, float]:
    """Milliseconds from navigation start to the tree drawn (the page's ``reportReadyAt``), then to a table view."""
    from playwright.async_api import async_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("no chromium on PATH: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(profile, executable_path=chromium, args=ARGS,
                                                                  headless=True)
            page = await context.new_page()
            await page.goto(html.as_uri())
            await page.wait_for_selector("html[data-ready='1']", timeout=120_000)
            ready = float(await page.evaluate("window.reportReadyAt"))
            started = time.perf_counter()
            await page.goto(html.as_uri() + f"#t{last}")
            await page.locator("#table-name").wait_for()
            table_ms = (time.perf_counter() - started) * 1000
            await context.close()
    return {"first_render_ms": round(ready), "open_last_table_ms": round(table_ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=20_000)
    parser.add_argument("--package", default="catalog_extractor", help="the rendered app's import package")
    parser.add_argument("--keep", type=Path, help="also copy the report here")
    parser.add_argument("--manifest", help="measure this real run's manifest instead of a synthetic run")
    args = parser.parse_args()
    report = importlib.import_module(f"{args.package}.runtime.report")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        manifest = args.manifest or asyncio.run(write_run(args.package, Path(tmp) / "out", args.tables))
        synth_s = 0.0 if args.manifest else time.perf_counter() - started
        started = time.perf_counter()
        facts = report.write_report(manifest, Path(tmp) / "report.html")
        write_s = time.perf_counter() - started
        browser = asyncio.run(first_render(facts.path, facts.tables - 1))
        if args.keep:
            shutil.copy(facts.path, args.keep)
        folder = Path(manifest.removeprefix("file://")).parent if args.manifest else Path(tmp) / "out"
        raw = sum(p.stat().st_size for p in folder.rglob("*.jsonl"))
    print(json.dumps({"tables": facts.tables, "schemas": facts.schemas, "chunks": facts.chunks,
                      "jsonl_mb": round(raw / 1e6, 1), "html_mb": round(facts.size / 1e6, 2),
                      "synthesize_s": round(synth_s, 1), "write_report_s": round(write_s, 2), **browser}, indent=2))


if __name__ == "__main__":
    main()
