"""The update path: a project made with cruft takes a later template commit and keeps local edits.

Offline: the template is a local git repository built from this checkout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import TEMPLATE, UV, run

GIT_ID = ["-c", "user.name=Template Tests", "-c", "user.email=tests@example.com"]


def git(cwd: Path, *args: str) -> str:
    return run(["git", *GIT_ID, *args], cwd=cwd)


@pytest.fixture(scope="module")
def cruft(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The cruft command. Isolated when the test runner's cruft cannot import.

    aiomysql 0.3.2 wheels ship a stray top-level ``examples`` package that
    shadows the ``examples`` library cruft imports, so ``cruft`` fails to start
    in any environment that also has aiomysql (the README says: use ``uvx cruft``).
    """
    probe = subprocess.run([sys.executable, "-c", "import cruft._cli"], capture_output=True, check=False)
    if probe.returncode == 0:
        return [sys.executable, "-m", "cruft"]
    venv = tmp_path_factory.mktemp("cruft") / "venv"
    run([UV, "venv", "-q", "--python", sys.executable, str(venv)], cwd=venv.parent)
    run([UV, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "cruft>=2.15"], cwd=venv.parent)
    return [str(venv / "bin" / "cruft")]


def template_repo(dest: Path) -> Path:
    """A git repository holding this checkout's template files (tracked and new, not ignored)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=TEMPLATE, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (TEMPLATE / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE / name, dest / name)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "A")
    return dest


def test_cruft_update_applies_template_change_and_keeps_local_change(tmp_path: Path, cruft: list[str]) -> None:
    template = template_repo(tmp_path / "template")
    commit_a = git(template, "rev-parse", "HEAD").strip()

    # 1. Render from commit A. init_git=yes is the default: under cruft the hook must skip it.
    out = tmp_path / "out"
    created = run([*cruft, "create", str(template), "--no-input", "--output-dir", str(out),
                   "--extra-context", json.dumps({"source": "sqlite"})], cwd=tmp_path)
    project = out / "catalog-extractor"
    assert not (project / ".git").exists(), created
    state = json.loads((project / ".cruft.json").read_text())
    assert state["commit"] == commit_a and state["context"]["cookiecutter"]["source"] == "sqlite"
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Rendered from the template")

    # 2. A local change to the generated app.
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\n## Our team notes\n\nRuns nightly.\n")
    git(project, "commit", "-q", "-am", "Local notes")
    dotenv = project / ".env"  # per machine and git-ignored: an update must leave it alone
    dotenv.write_text(dotenv.read_text() + "LOG_LEVEL=DEBUG\n")
    dotenv_before = dotenv.read_text()

    # 3. Template change B in other files: one the project did not touch, and .env.example,
    #    whose derived .env must stay out of the update (tool.cruft.skip).
    app = template / "{{cookiecutter.app_slug}}"
    with (app / ".gitignore").open("a") as f:
        f.write("local-cache/\n")
    with (app / ".env.example").open("a") as f:
        f.write("# NEW_SETTING=1\n")
    git(template, "commit", "-q", "-am", "B")
    commit_b = git(template, "rev-parse", "HEAD").strip()

    # 4. Update without prompts.
    log = run([*cruft, "update", "-y"], cwd=project)
    assert "Good work" in log, log
    assert "local-cache/" in (project / ".gitignore").read_text()
    assert "# NEW_SETTING=1" in (project / ".env.example").read_text()
    assert "## Our team notes" in readme.read_text()
    assert dotenv.read_text() == dotenv_before
    assert json.loads((project / ".cruft.json").read_text())["commit"] == commit_b
    changed = git(project, "status", "--porcelain").split()
    assert sorted(c for c in changed if len(c) > 2) == [".cruft.json", ".env.example", ".gitignore"]
    assert list(project.rglob("*.rej")) == []  # without tool.cruft.skip, the edited .env gets a .env.rej
    git(project, "commit", "-q", "-am", "Template update B")
    run([*cruft, "check"], cwd=project)
