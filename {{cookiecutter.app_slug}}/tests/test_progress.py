"""Live progress of a real run on the sample catalog, captured from the console."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

from rich.console import Console
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.models import Progress
from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.runtime.runs import (
    build_request,
    describe,
    follow,
    rate_and_eta,
    start,
)
from {{ cookiecutter.package_name }}.sources.sample import create_sample

from .live import live_worker

SAMPLE_TABLES = 26  # 25 tables and 1 view in sample.py


async def _follow_sample(temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore, console: Console) -> None:
    url = f"sqlite:///{create_sample(tmp_path / 'sample.db')}"
    async with live_worker(temporal.client, state, url, delay=0.1, batch_size=2, slice_size=4,
                           max_parallel_slices=1, progress_every_seconds=0, output=tmp_path / "out") as (config, _):
        request = build_request(config, "test", None)
        handle = await start(temporal.client, config, request, f"progress-{uuid.uuid4().hex}")
        summary = await follow(handle, console, every=0.05)
    assert summary.counts["tables"] + summary.counts["views"] == SAMPLE_TABLES


async def test_follow_on_a_terminal_draws_bars_that_move(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    out = StringIO()
    await _follow_sample(temporal, tmp_path, state, Console(file=out, force_terminal=True, width=120))
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())  # drop colours and cursor moves
    tables_seen = {int(n) for n in re.findall(rf"(\d+)/{SAMPLE_TABLES}\b", text)}
    assert len(tables_seen - {0, SAMPLE_TABLES}) >= 2, f"progress did not move: {sorted(tables_seen)}\n{text}"
    assert SAMPLE_TABLES in tables_seen
    assert "schemas" in text and "1/1" in text
    assert re.search(r"\d+\.\d tables/s  ETA \d+:\d\d:\d\d", text), text


async def test_follow_elsewhere_prints_one_line_per_change(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    out = StringIO()
    await _follow_sample(temporal, tmp_path, state, Console(file=out, force_terminal=False, width=200))
    lines = out.getvalue().splitlines()
    done = [int(m.group(1)) for line in lines if (m := re.search(rf"tables (\d+)/{SAMPLE_TABLES}", line))]
    assert done == sorted(done), lines
    assert len(set(done) - {0, SAMPLE_TABLES}) >= 2, lines
    assert lines[-1].startswith(f"done: schemas 1/1, tables {SAMPLE_TABLES}/{SAMPLE_TABLES}, slices 7/7"), lines
    assert len(lines) == len(set(lines)), "an unchanged snapshot was printed twice"


def test_rate_and_eta_come_from_workflow_time() -> None:
    start_ = datetime(2026, 1, 1, tzinfo=UTC)
    snap = Progress(stage="extracting", groups_total=2, units_total=100, units_done=25, started_at=start_,
                    updated_at=start_ + timedelta(seconds=5))
    rate, eta = rate_and_eta(snap, now=start_ + timedelta(seconds=10))
    assert rate == 2.5 and eta == timedelta(seconds=30)
    assert describe(snap, start_ + timedelta(seconds=10)) == (
        "extracting: schemas 0/2, tables 25/100, slices 0/0, 2.5 tables/s, ETA 0:00:30"
    )
    finished = snap.model_copy(update={"stage": "done", "units_done": 100})
    assert rate_and_eta(finished, now=start_ + timedelta(hours=1)) == (20.0, timedelta(0))
    assert rate_and_eta(Progress(), now=start_) == (None, None)
