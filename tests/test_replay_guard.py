"""The generated replay test catches a non-deterministic workflow edit, and `workflow.patched` fixes it.

Renders an app with non-default names (the checked-in histories must replay
for every rendering), then edits its ``workflows.py`` the way a hurried
developer would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .helpers import assert_pytest_passed, install, render, run

ANCHOR = '        self._progress.stage = "planning"\n'
UNGUARDED = ANCHOR + "        await workflow.sleep(timedelta(seconds=1))\n"
GUARDED = (
    ANCHOR
    + '        if workflow.patched("pause-before-planning"):\n'
    + "            await workflow.sleep(timedelta(seconds=1))\n"
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    project = render(tmp_path_factory.mktemp("replay"), app_name="Replay Guard", task_queue="other-queue",
                     temporal_namespace="elsewhere")
    return project, install(project)


def replay(project: Path, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / "pytest"), "-q", "-p", "no:cacheprovider", "tests/test_replay.py"],
                          check=False, cwd=project, capture_output=True, text=True, timeout=300)


def edit_workflows(project: Path, replacement: str) -> None:
    path = project / "src" / "replay_guard" / "engine" / "workflows.py"
    text = path.read_text()
    assert text.count(ANCHOR) == 1, "the edit's anchor moved; update this test"
    path.write_text(text.replace(ANCHOR, replacement))


def test_histories_replay_on_a_rendering_with_other_names(app: tuple[Path, Path]) -> None:
    project, bin_dir = app
    assert "other-queue" in (project / ".env.example").read_text()
    out = run([str(bin_dir / "pytest"), "-q", "-p", "no:cacheprovider", "tests/test_replay.py"], cwd=project)
    assert_pytest_passed(out)


def test_non_deterministic_edit_fails_with_a_clear_message(app: tuple[Path, Path]) -> None:
    project, bin_dir = app
    original = (project / "src" / "replay_guard" / "engine" / "workflows.py").read_text()
    try:
        edit_workflows(project, UNGUARDED)
        proc = replay(project, bin_dir)
    finally:
        (project / "src" / "replay_guard" / "engine" / "workflows.py").write_text(original)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "NON-DETERMINISTIC WORKFLOW CHANGE" in proc.stdout, proc.stdout
    assert "NondeterminismError" in proc.stdout
    assert "workflow.patched" in proc.stdout and "make histories" in proc.stdout


def test_the_same_edit_behind_workflow_patched_replays(app: tuple[Path, Path]) -> None:
    project, bin_dir = app
    original = (project / "src" / "replay_guard" / "engine" / "workflows.py").read_text()
    try:
        edit_workflows(project, GUARDED)
        proc = replay(project, bin_dir)
    finally:
        (project / "src" / "replay_guard" / "engine" / "workflows.py").write_text(original)
    assert proc.returncode == 0, proc.stdout + proc.stderr
