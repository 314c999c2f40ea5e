"""Structured logs: the fields every activity and workflow line must carry."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.runtime.logs import build_handler, log_context

from .catalogs import sqlite_catalog
from .harness import extract, logs_to

ACTIVITY_FIELDS = {"workflow_id", "run_id", "activity", "attempt"}


@pytest.fixture
def captured() -> Iterator[StringIO]:
    with logs_to("json") as out:
        yield out


def records(out: StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


async def test_every_activity_and_workflow_line_of_a_real_run_carries_its_context(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore, captured: StringIO
) -> None:
    with sqlite_catalog(tmp_path) as cat:
        run = await extract(temporal.client, cat.url, tmp_path / "out", state, schemas=cat.schema_pattern,
                            batch_size=2, slice_size=2)
    lines = records(captured)
    in_activity = [r for r in lines if "activity" in r]
    by_activity = {r["activity"] for r in in_activity}
    assert {"plan", "extract_slice", "finalize"} <= by_activity, lines
    for r in in_activity:
        assert r.keys() >= ACTIVITY_FIELDS, r
        assert r["workflow_id"].startswith(run.summary.workflow_id)
        assert isinstance(r["attempt"], int) and r["attempt"] >= 1
        if r["activity"] == "extract_slice" and r["level"] != "debug":  # the SDK's own debug lines have no schema
            assert r.get("schema") in cat.schema_names, r
    slice_done = [r for r in in_activity if r["message"].startswith("slice done")]
    assert slice_done and all("schema" in r for r in slice_done)

    from_workflow = [r for r in lines if r["logger"] == "temporalio.workflow"]
    assert any(r["message"].startswith("extracting ") for r in from_workflow), lines
    assert any(r["message"].startswith("schema ") and "schema" in r for r in from_workflow), lines
    for r in from_workflow:
        assert r.keys() >= {"workflow_id", "run_id", "workflow_type"}, r
        assert "({" not in r["message"], "the Temporal context must be fields, not appended to the message"


async def test_any_logger_inside_an_activity_gets_the_fields(captured: StringIO) -> None:
    @activity.defn
    async def some_activity() -> None:
        with log_context(schema="sales"):
            logging.getLogger("some.library").warning("connect to postgresql://u:secret@db/x failed")

    await ActivityEnvironment().run(some_activity)
    (line,) = [r for r in records(captured) if r["logger"] == "some.library"]
    assert line["logger"] == "some.library" and line["level"] == "warning"
    assert line.keys() >= ACTIVITY_FIELDS | {"schema"}
    assert line["schema"] == "sales"
    assert "secret" not in line["message"] and "u:***@db" in line["message"]


def test_console_format_is_one_readable_line() -> None:
    with logs_to("console", "INFO") as out, log_context(schema="hr"):
        logging.getLogger("app").info("hello %s", "world")
    line = out.getvalue().strip()
    assert line.endswith("INFO    app: hello world [schema=hr]"), line


CREATED = 1795440032  # 2026-11-23 13:20:32 UTC


def made_at(seconds: int, ms: int) -> logging.LogRecord:
    record = logging.LogRecord("some.library", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.created, record.msecs = seconds + ms / 1000, float(ms)
    return record


def test_json_lines_have_millisecond_utc_timestamps_and_the_logger_name() -> None:
    line = json.loads(build_handler("json").format(made_at(CREATED, 187)))
    assert line["ts"] == "2026-11-23T13:20:32.187Z", line
    assert list(line)[:4] == ["ts", "level", "logger", "message"], line
    assert (line["level"], line["logger"], line["message"]) == ("info", "some.library", "hello world")


def test_console_lines_have_millisecond_timestamps_and_the_logger_name() -> None:
    line = build_handler("console").format(made_at(CREATED, 7))
    clock = time.strftime("%H:%M:%S", time.localtime(CREATED))  # the console shows local time
    assert line == f"{clock}.007 INFO    some.library: hello world", line


def test_json_puts_the_context_in_its_order_and_the_traceback_in_the_same_line() -> None:
    with logs_to("json", "INFO") as out, log_context(slice=2, schema="hr"):
        try:
            raise LookupError("gone")
        except LookupError:
            logging.getLogger("app").exception("slice failed")
    (text,) = out.getvalue().splitlines()
    line = json.loads(text)
    assert list(line) == ["ts", "level", "logger", "message", "schema", "slice", "exception"], line
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"]), line
    assert line["exception"].startswith("Traceback") and "LookupError: gone" in line["exception"], line


FORGED = "x\n12:00:00 ERROR   app: forged\r\x1b[2K\u2028"


def test_console_lines_survive_hostile_names() -> None:
    """A name with newlines, ANSI codes or line separators stays inside its record's one line."""
    with logs_to("console", "INFO") as out, log_context(schema=FORGED):
        logging.getLogger("app").info("table %s done", FORGED)
        try:
            raise LookupError(f"relation {FORGED} does not exist")
        except LookupError:
            logging.getLogger("app").exception("slice failed")
    lines = out.getvalue().splitlines()
    escaped = "x\\n12:00:00 ERROR   app: forged\\r\\x1b[2K\\u2028"
    assert lines[0].endswith(f"INFO    app: table {escaped} done [schema={escaped}]"), lines
    assert lines[1].endswith("ERROR   app: slice failed [schema=" + escaped + "]"), lines
    starts = [n for n, line in enumerate(lines) if not line.startswith("    ")]
    assert starts == [0, 1], "only a record's first line starts at column 0; its traceback is indented"
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()
