"""Render the template and run commands inside a rendered project.

Each rendered project gets its own virtualenv built by ``uv`` from a shared
wheel cache, so after the first install a new one takes a second or two.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
UV = str(Path(sys.executable).with_name("uv"))
COOKIECUTTER = str(Path(sys.executable).with_name("cookiecutter"))
CRUFT = str(Path(sys.executable).with_name("cruft"))
# Template syntax, and the post-generation hook's variant tags, must never reach a generated project.
LEFTOVER_MARKERS = ("{{ cookiecutter.", "{{cookiecutter.", "{%", "%}", "# >>> variant", "# <<< variant", "# variant:")
#: Interpreters for python_version answers (pyenv on the CI machine); others fall back to this one.
PYTHONS = {
    "3.11": sys.executable,
    "3.12": "/root/.pyenv/versions/3.12.1/bin/python3.12",
    "3.13": "/root/.pyenv/versions/3.13.0/bin/python3.13",
}


def render(output_dir: Path, **answers: Any) -> Path:
    """Render with ``answers`` over the defaults; return the project folder.

    The post-generation hook locks the dependencies with uv, which needs an
    interpreter that satisfies ``requires-python``: ``UV_PYTHON`` names the
    one this machine has for the chosen ``python_version`` (pyenv's shims
    are not found by uv's discovery).
    """
    with environ(UV_PYTHON=python_for(str(answers.get("python_version", "3.11")))):
        project = cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir))
    return Path(project)


@contextmanager
def environ(**values: str) -> Iterator[None]:
    """Set environment variables for the block (the hooks cookiecutter runs inherit them), then restore them."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def leftovers(project: Path) -> list[str]:
    """Files that still contain cookiecutter or Jinja syntax after rendering."""
    found = []
    for path in project.rglob("*"):
        if not path.is_file() or ".venv" in path.parts or ".git" in path.parts:
            continue
        data = path.read_bytes()
        if b"\0" in data:  # a binary file (the README's screenshot): its bytes are not syntax
            continue
        text = data.decode("utf-8", errors="replace")
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


def assert_pytest_passed(out: str) -> None:
    """``pytest -q`` output ends in a summary with passes and neither failures nor errors.

    Reads the summary line only: a test id may well contain "failed" (``[replay-failed]``), and
    ``PYTEST_ADDOPTS`` (say ``--durations``) reaches the inner run and prints test ids.
    """
    summary = next((line for line in reversed(out.splitlines()) if re.search(r"\b\d+ passed\b", line)), "")
    assert summary, out
    assert not re.search(r"\b\d+ (failed|errors?)\b", summary), out


def helm_binary() -> str:
    """The real helm: ``$HELM``, else PATH, else fetched once by ``scripts/fetch-helm.sh`` (cached)."""
    found = os.environ.get("HELM") or shutil.which("helm")
    if found:
        return found
    proc = subprocess.run(["bash", str(TEMPLATE / "scripts" / "fetch-helm.sh")],
                          capture_output=True, text=True, check=True)
    return proc.stdout.strip().splitlines()[-1]


def install(project: Path, python: str | None = None) -> Path:
    """``project/.venv`` exactly as ``make install`` makes it (``uv sync --locked``); return its bin dir.

    The versions come from the rendering's own uv.lock, so a warm uv cache
    installs without asking the package index anything.
    """
    run([UV, "sync", "-q", "--locked", "--all-extras", "--python", python or sys.executable], cwd=project,
        env={"UV_PROJECT_ENVIRONMENT": str(project / ".venv")})
    return project / ".venv" / "bin"


def python_for(version: str) -> str:
    """An interpreter for ``python_version``: the pyenv one if present, else the test runner's."""
    candidate = PYTHONS.get(version, sys.executable)
    return candidate if Path(candidate).exists() else sys.executable


def load_module(path: Path, name: str) -> ModuleType:
    """Import the script at ``path`` as module ``name`` (registered: dataclasses look their module up)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def hook_module(name: str) -> ModuleType:
    """Import ``hooks/<name>.py`` unrendered: everything but ``rendered_answers()`` is plain Python."""
    return load_module(TEMPLATE / "hooks" / f"{name}.py", f"hooks_{name}")


def reject(output_dir: Path, **answers: str) -> str:
    """Run the cookiecutter CLI with ``answers``; assert it fails and return what it printed."""
    cmd = [COOKIECUTTER, "--no-input", "-o", str(output_dir), str(TEMPLATE)]
    cmd += [f"{key}={value}" for key, value in answers.items()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode != 0, f"expected a rejection for {answers}\n{proc.stdout}{proc.stderr}"
    return proc.stdout + proc.stderr
