"""Output writer: JSON Lines part files plus a manifest, written atomically.

File names are derived from what they contain (slice and batch), never
from time or randomness, so re-running a batch overwrites the same file with
the same bytes. Each file is written to a temporary name in the same folder
and renamed into place, so readers never see half a file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from .models import VIEW_KINDS, Counts, PartRef

PARTS_DIR = "parts"
MANIFEST = "manifest.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_KIND = itemgetter("kind")
_KIND_ORDER = {"database": 0, "schema": 1, "table": 2, "column": 3, "primary_key": 4,
               "foreign_key": 5, "unique_constraint": 6, "index": 7}


def run_dir(output: str | Path, source: str, run_key: str) -> Path:
    """Folder of one run: ``<output>/<source>/<run_key>/``."""
    return Path(output) / _safe(source) / _safe(run_key)


def part_name(slice_index: int, batch: int) -> str:
    return f"{PARTS_DIR}/{slice_index:05d}-{batch:05d}.jsonl"


def encode(records: Iterable[dict[str, Any]]) -> bytes:
    """Deterministic JSON Lines: records sorted by kind then name, keys sorted."""
    ordered = sorted(records, key=lambda r: (_KIND_ORDER.get(r["kind"], 99), r["qualified_name"]))
    return b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n" for r in ordered)


def write_part(root: Path, name: str, records: list[dict[str, Any]]) -> PartRef:
    """Atomically write one part file; return its reference."""
    data = encode(records)
    atomic_write(root / name, data)
    return PartRef(path=name, records=len(records), sha256=hashlib.sha256(data).hexdigest())


def count(records: Sequence[dict[str, Any]]) -> Counts:
    """Per-kind counts; views and materialized views count as views."""
    kinds = Counter(map(_KIND, records))
    views = sum(1 for r in records if r["kind"] == "table" and r["table_type"] in VIEW_KINDS)
    return Counts(schemas=kinds["schema"], tables=kinds["table"] - views, views=views, columns=kinds["column"],
                  primary_keys=kinds["primary_key"], foreign_keys=kinds["foreign_key"],
                  unique_constraints=kinds["unique_constraint"], indexes=kinds["index"])


def write_manifest(root: Path, manifest: dict[str, Any]) -> Path:
    path = root / MANIFEST
    atomic_write(path, orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))
    return path


def prune_strays(root: Path, keep: set[str]) -> list[str]:
    """Delete part files of this run folder that the manifest does not list.

    They can only come from an earlier run of the same workflow id over a
    catalog that has since shrunk; leaving them would mislead readers.
    """
    removed: list[str] = []
    parts = root / PARTS_DIR
    if not parts.is_dir():
        return removed
    for path in sorted(parts.rglob("*.jsonl")):
        rel = path.relative_to(root).as_posix()
        if rel not in keep:
            path.unlink()
            removed.append(rel)
    return removed


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file + rename in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("._") or "_"
