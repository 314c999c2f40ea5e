"""Replay checked-in histories of real runs against today's workflow code.

If this fails, a change to ``workflows.py`` would break runs that are open
while you deploy it: a worker replaying their history would hit a
non-determinism error and the run would stall. Guard the change with
``workflow.patched(...)`` (README, "Changing workflow code safely"), then
refresh the histories with ``make histories``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from {{ cookiecutter.package_name }}.engine.workflows import (
    ExtractionWorkflow,
    ExtractSlicesWorkflow,
)

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    """A history file is named after its url-quoted workflow id (children's ids contain '/')."""
    return WorkflowHistory.from_json(unquote(path.stem), path.read_text())


def test_there_are_histories_of_each_outcome() -> None:
    names = {unquote(p.stem) for p in HISTORIES}
    assert {"replay-completed", "replay-failed", "replay-cancelled"} <= names, "run `make histories`"
    assert any("/slices-" in n for n in names), "child workflow histories are missing"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: unquote(p.stem))
async def test_history_replays_on_current_workflow_code(path: Path) -> None:
    history = load(path)
    workflow_id = history.workflow_id
    replayer = Replayer(workflows=[ExtractionWorkflow, ExtractSlicesWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    if result.replay_failure is not None:
        pytest.fail(
            f"NON-DETERMINISTIC WORKFLOW CHANGE: the recorded run {workflow_id!r} ({path.name}) no longer replays "
            f"on the current workflow code.\n  {type(result.replay_failure).__name__}: {result.replay_failure}\n"
            "Runs that are open when this code is deployed would get stuck. Guard the change with "
            "workflow.patched('<change-id>') (see README, 'Changing workflow code safely'), "
            "then run `make histories` to record new histories.",
            pytrace=False,
        )
