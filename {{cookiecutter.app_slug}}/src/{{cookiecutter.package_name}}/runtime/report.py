"""Write one run's output as a single offline HTML page: tree, search, one view per table.

RUNTIME. The page itself (CSS and JavaScript) is ``report.html`` beside this
module; change the look there. This module only packs the data: an index of
every schema and table (what the tree and the search need), and the details of
up to ``CHUNK_TABLES`` tables per chunk, each gzip-compressed and base64-encoded
in its own ``<script type="text/plain">`` element. The browser inflates the
index at once and a chunk only when one of its tables is opened, so a catalog
of 20,000 tables opens as fast as a small one. Nothing is fetched: the page
works from a laptop's disk or an e-mail attachment.
"""

from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from ..sources.records import Record
from .output import RunIndex, Table, load_run

CHUNK_TABLES = 400  # tables per chunk of details, all of one schema
CHUNK_COLUMNS = 20_000  # ... unless their columns pass this first
MARKER = "<!--REPORT-DATA-->"
_DROP = ("kind", "qualified_name", "table")  # known from where a record sits in the page


@dataclass(frozen=True)
class ReportFacts:
    """What ``write_report`` wrote, for the CLI to print."""

    path: Path
    size: int
    schemas: int
    tables: int
    chunks: int


def write_report(manifest_url: str, out: Path, secrets_dir: Path | None = None) -> ReportFacts:
    """Read the run at ``manifest_url`` (checking every part's sha256) and write its report to ``out``.

    Raises ``output.BadOutput`` (``ChecksumMismatch`` for a corrupt part) when the output is not a readable run.
    """
    return write_index(load_run(manifest_url, secrets_dir), out)


def write_index(run: RunIndex, out: Path) -> ReportFacts:
    """The report of an already loaded run."""
    ids = {table.qualified_name: n for n, table in enumerate(run.tables.values())}
    chunks = _chunks(list(run.tables.values()))
    chunk_of = {qualified: n for n, members in enumerate(chunks) for qualified in members}
    scripts = [_script("report-index", _index(run, ids, chunk_of))]
    for n, members in enumerate(chunks):
        scripts.append(_script(f"chunk-{n}", {ids[q]: _detail(run, run.tables[q], ids) for q in members}))
    page = template().replace(MARKER, "\n".join(scripts), 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return ReportFacts(out, len(page.encode()), len(run.schemas), len(run.tables), len(chunks))


def template() -> str:
    return resources.files(__package__ or __name__).joinpath("report.html").read_text(encoding="utf-8")


def _chunks(tables: list[Table]) -> list[list[str]]:
    """Qualified names in groups: consecutive tables of one schema, bounded in tables and columns."""
    chunks: list[list[str]] = []
    columns, schema = 0, None
    for table in tables:
        if not chunks or table.schema != schema or len(chunks[-1]) >= CHUNK_TABLES or columns >= CHUNK_COLUMNS:
            chunks.append([])
            columns, schema = 0, table.schema
        chunks[-1].append(table.qualified_name)
        columns += len(table.columns)
    return chunks


def _index(run: RunIndex, ids: dict[str, int], chunk_of: dict[str, int]) -> dict[str, Any]:
    schema_ids = {name: n for n, name in enumerate(run.schemas)}
    schemas = [[name, record.get("comment"), len(run.tables_of(name)),
                [_strip(o) | {"kind": o["kind"]} for o in run.others.get(name, [])]]
               for name, record in run.schemas.items()]
    tables = [[schema_ids[t.schema], t.name, t.record["table_type"], ids.get(t.record.get("partition_of") or "", -1),
               t.record.get("comment"), chunk_of[t.qualified_name], len(t.columns)] for t in run.tables.values()]
    return {"meta": _meta(run), "schemas": schemas, "tables": tables}


def _meta(run: RunIndex) -> dict[str, Any]:
    m = run.manifest
    keys = ("workflow_id", "source", "database", "dialect", "server_version", "schema_pattern",
            "plan_fingerprint", "resumed_batches", "counts", "vanished")
    return {key: m.get(key) for key in keys} | {
        "parts": len(m["parts"]), "records": sum(int(p.get("records", 0)) for p in m["parts"]),
        "manifest": run.url, "written_at": _stamp(run.written_at), "generated_at": _stamp(datetime.now(UTC)),
    }


def _detail(run: RunIndex, table: Table, ids: dict[str, int]) -> dict[str, Any]:
    record = table.record
    return {
        "qualified_name": table.qualified_name,
        "view_definition": record.get("view_definition"),
        "partition_bound": record.get("partition_bound"),
        "partition_key": record.get("partition_key"),
        "columns": [_strip(c) for c in table.columns],
        "primary_key": _strip(table.primary_key) if table.primary_key else None,
        "foreign_keys": [_strip(f) | {"ref": ids.get(f["referred_table"])} for f in table.foreign_keys],
        "referenced_by": [_strip(f) | {"table": f["table"], "from": ids.get(f["table"])} for f in table.referenced_by],
        "unique_constraints": [_strip(u) for u in table.unique_constraints],
        "check_constraints": [_strip(c) for c in table.check_constraints],
        "indexes": [_strip(x) for x in table.indexes],
        "partitions": [[ids[child], run.tables[child].record.get("partition_bound")] for child in table.partitions],
    }


def _strip(record: Record) -> Record:
    return {k: v for k, v in record.items() if k not in _DROP}


def _script(element_id: str, data: Any) -> str:
    """``data`` as gzip (fixed mtime: the same run gives the same bytes) in base64, which holds no ``<``."""
    packed = base64.b64encode(gzip.compress(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS), 6, mtime=0))
    return f'<script type="text/plain" id="{element_id}">{packed.decode("ascii")}</script>'


def _stamp(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else None
