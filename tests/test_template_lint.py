"""The template's own Python (hooks, these tests, the benchmarks) holds the bar every rendering does.

ruff and ``mypy --strict`` run with the root ``pyproject.toml``; each test also checks that the
tool looked at every ``.py`` file of those folders, so a config change cannot quietly narrow it.
The test venv installs ``requirements-dev.lock``, which must pin every requirement. The generated
app is linted per rendering (``tests/test_matrix.py``), not here.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .helpers import TEMPLATE, run

FOLDERS = ("hooks", "tests", "benchmarks")


def own_python() -> set[Path]:
    return {path for folder in FOLDERS for path in (TEMPLATE / folder).rglob("*.py")}


def tool(*args: str) -> str:
    """The tool's output; fails the test with it if the tool reports anything (non-zero exit)."""
    return run([sys.executable, "-m", *args], cwd=TEMPLATE, timeout=600)


def test_ruff_passes_on_every_file_of_the_template() -> None:
    listed = tool("ruff", "check", "--show-files", ".")
    checked = {Path(line) for line in listed.splitlines() if line.endswith(".py")}
    assert checked >= own_python(), sorted(map(str, own_python() - checked))
    assert not any("{{" in str(p) for p in checked), "the app's Jinja sources are linted per rendering"
    tool("ruff", "check", ".")


def test_mypy_strict_passes_on_every_file_of_the_template() -> None:
    out = tool("mypy")  # files, strictness and overrides: pyproject.toml
    found = re.search(r"no issues found in (\d+) source files", out)
    assert found, out
    assert int(found.group(1)) == len(own_python()), out


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def required(text: str) -> set[str]:
    """The distributions a requirements file names (extras, bounds, markers and comments dropped)."""
    lines = (line.split("#", 1)[0] for line in text.splitlines())
    return {normalised(m.group(1)) for line in lines if (m := re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line))}


def pinned(lock: str) -> set[str]:
    return {normalised(m.group(1)) for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", lock, re.MULTILINE)}


def test_the_lock_pins_every_dev_requirement() -> None:
    """``make test`` installs requirements-dev.lock; a requirement added without ``make lock`` would be missing."""
    wanted = required((TEMPLATE / "requirements-dev.txt").read_text())
    missing = wanted - pinned((TEMPLATE / "requirements-dev.lock").read_text())
    assert not missing, f"not pinned in requirements-dev.lock (run `make lock`): {sorted(missing)}"
    assert {"ruff", "mypy", "pytest", "moto", "types-pyyaml"} <= wanted  # the parser reads names, extras cut
