"""The template's own Python (hooks, these tests, the benchmarks) holds the bar every rendering does.

ruff and ``mypy --strict`` run with the root ``pyproject.toml``; each test also checks that the
tool looked at every ``.py`` file of those folders, so a config change cannot quietly narrow it.
The generated app is linted per rendering (``tests/test_render.py``), not here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("hooks", "tests", "benchmarks")


def own_python() -> set[Path]:
    return {path for folder in FOLDERS for path in (ROOT / folder).rglob("*.py")}


def tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_passes_on_every_file_of_the_template() -> None:
    listed = tool("ruff", "check", "--show-files", ".")
    assert listed.returncode == 0, listed.stderr
    checked = {Path(line) for line in listed.stdout.splitlines() if line.endswith(".py")}
    assert checked >= own_python(), sorted(map(str, own_python() - checked))
    assert not any("{{" in str(p) for p in checked), "the app's Jinja sources are linted per rendering"
    proc = tool("ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_passes_on_every_file_of_the_template() -> None:
    proc = tool("mypy")  # files, strictness and overrides: pyproject.toml
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = re.search(r"no issues found in (\d+) source files", proc.stdout)
    assert found, proc.stdout
    assert int(found.group(1)) == len(own_python()), proc.stdout


