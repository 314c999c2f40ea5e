"""Render the template and run commands inside a rendered project.

Each rendered project gets its own virtualenv built by ``uv`` from a shared
wheel cache, so after the first install a new one takes a second or two.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
UV = str(Path(sys.executable).with_name("uv"))
LEFTOVER_MARKERS = ("{{ cookiecutter.", "{{cookiecutter.", "{%", "%}")


def render(output_dir: Path, **answers: Any) -> Path:
    """Render with ``answers`` over the defaults; return the project folder."""
    project = cookiecutter(
        str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir)
    )
    return Path(project)


def leftovers(project: Path) -> list[str]:
    """Files that still contain cookiecutter or Jinja syntax after rendering."""
    found = []
    for path in project.rglob("*"):
        if not path.is_file() or ".venv" in path.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if any(marker in text for marker in LEFTOVER_MARKERS):
            found.append(str(path.relative_to(project)))
    return found


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 900) -> str:
    """Run ``cmd``; fail the test with its output if it exits non-zero."""
    proc = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode} in {cwd}\n"
            f"--- stdout ---\n{proc.stdout[-8000:]}\n--- stderr ---\n{proc.stderr[-8000:]}"
        )
    return proc.stdout


def install(project: Path, python: str | None = None) -> Path:
    """Create ``project/.venv`` and install the project with its dev extra; return its bin dir."""
    venv = project / ".venv"
    run([UV, "venv", "-q", "--python", python or sys.executable, str(venv)], cwd=project)
    run([UV, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "-e", ".[dev]"], cwd=project)
    return venv / "bin"
