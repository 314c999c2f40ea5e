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
    ProgressView,
    build_request,
    describe,
    follow,
    rate_and_eta,
    start,
)
from {{ cookiecutter.package_name }}.sources.catalog import CatalogSource
from {{ cookiecutter.package_name }}.sources.sample import create_sample

from .live import live_worker

SAMPLE_RELATIONS = 26  # 25 tables and 1 view in sample.py: progress counts both, the summary splits them


async def _follow_sample(temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore, console: Console) -> None:
    url = f"sqlite:///{create_sample(tmp_path / 'sample.db')}"
    async with live_worker(temporal.client, state, url, delay=0.1, batch_size=2, slice_size=4,
                           max_parallel_slices=1, progress_every_seconds=0, output=tmp_path / "out") as (config, _):
        request = build_request(config, "test", None)
        handle = await start(temporal.client, config, request, f"progress-{uuid.uuid4().hex}")
        summary = await follow(handle, console, every=0.05)
    assert (summary.counts["tables"], summary.counts["views"]) == (25, 1)


async def test_follow_on_a_terminal_draws_bars_that_move(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    out = StringIO()
    await _follow_sample(temporal, tmp_path, state, Console(file=out, force_terminal=True, width=120))
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())  # drop colours and cursor moves
    seen = {int(n) for n in re.findall(rf"(\d+)/{SAMPLE_RELATIONS}\b", text)}
    assert len(seen - {0, SAMPLE_RELATIONS}) >= 2, f"progress did not move: {sorted(seen)}\n{text}"
    assert SAMPLE_RELATIONS in seen
    assert "schemas" in text and "1/1" in text
    assert re.search(rf"relations \S+ {SAMPLE_RELATIONS}/{SAMPLE_RELATIONS} \d:\d\d:\d\d \d+\.\d relations/s  "
                     r"ETA \d+:\d\d:\d\d", text), text
    assert " tables" not in text, "progress counts tables and views: it must not call them tables"


async def test_follow_elsewhere_prints_one_line_per_change(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    out = StringIO()
    await _follow_sample(temporal, tmp_path, state, Console(file=out, force_terminal=False, width=200))
    lines = out.getvalue().splitlines()
    done = [int(m.group(1)) for line in lines if (m := re.search(rf"relations (\d+)/{SAMPLE_RELATIONS}", line))]
    assert done == sorted(done), lines
    assert len(set(done) - {0, SAMPLE_RELATIONS}) >= 2, lines
    total = f"{SAMPLE_RELATIONS}/{SAMPLE_RELATIONS}"
    assert lines[-1].startswith(f"done: schemas 1/1, relations {total}, slices 7/7"), lines
    assert len(lines) == len(set(lines)), "an unchanged snapshot was printed twice"


def test_rate_and_eta_come_from_workflow_time() -> None:
    start_ = datetime(2026, 1, 1, tzinfo=UTC)
    snap = Progress(stage="extracting", groups_total=2, units_total=100, units_done=25, started_at=start_,
                    updated_at=start_ + timedelta(seconds=5))
    rate, eta = rate_and_eta(snap, now=start_ + timedelta(seconds=10))
    assert rate == 2.5 and eta == timedelta(seconds=30)
    assert describe(snap, start_ + timedelta(seconds=10)) == (
        "extracting: schemas 0/2, relations 25/100, slices 0/0, 2.5 relations/s, ETA 0:00:30"
    )
    finished = snap.model_copy(update={"stage": "done", "units_done": 100})
    assert rate_and_eta(finished, now=start_ + timedelta(hours=1)) == (20.0, timedelta(0))
    assert rate_and_eta(Progress(), now=start_) == (None, None)


def test_sql_progress_does_not_count_views_as_tables() -> None:
    """The summary's ``tables`` exclude views; progress counts every planned relation, so it says so."""
    words = CatalogSource.vocabulary
    assert words.units not in words.kinds, f"progress would count {words.units} that the summary counts otherwise"
    assert {"tables", "views"} <= set(words.kinds)


def bars(snap: Progress, now: datetime, width: int = 80) -> list[str]:
    """The bars as ``status`` prints them, on a terminal ``width`` columns wide."""
    out = StringIO()
    view = ProgressView(Console(file=out, width=width, color_system=None))
    view.update(snap, now)
    view.bars.console.print(view.bars)
    return [line.rstrip() for line in out.getvalue().splitlines()]


def test_bars_show_the_run_s_elapsed_time_on_one_line_each_at_80_columns() -> None:
    start_ = datetime(2026, 1, 1, tzinfo=UTC)
    snap = Progress(stage="extracting", words=CatalogSource.vocabulary, groups_total=12, units_total=2000,
                    units_done=1250, started_at=start_, updated_at=start_ + timedelta(seconds=30))
    lines = bars(snap, start_ + timedelta(minutes=1, seconds=40))
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines), lines
    assert re.search(r"schemas .* 0/12 +0:01:40 extracting$", lines[0]), lines
    assert re.search(r"relations .* 1250/2000 0:01:40 12\.5 relations/s  ETA 0:01:00$", lines[1]), lines
    done = snap.model_copy(update={"stage": "done", "units_done": 2000, "groups_done": 12})
    assert "0:00:30" in bars(done, start_ + timedelta(hours=1))[1], "a finished run's time stops at its end"
    assert "-:--:--" in bars(Progress(stage="planning"), start_)[0], "no time before extraction begins"
