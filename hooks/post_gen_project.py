"""Wire the rendered project to the answers: variants, .env, answers file, git.

Runs inside the new project folder. Steps, each a small function:

1. ``strip_variants``: keep or drop lines tagged for one answer, e.g.
   ``# >>> variant: source=mysql`` ... ``# <<< variant`` blocks, or a
   trailing ``# variant: source=mysql`` on one line. The tags go away
   in every rendering, so the generated code reads as if written by hand.
2. ``remove_unselected``: delete files of features that were not chosen
   (HPA / KEDA templates, ``.github/``). Missing files are fine.
3. ``dotenv_text``: ``.env`` for local runs, from ``.env.example``; never a secret.
4. ``recorded_answers``: ``.cookiecutter.json`` with the public answers.
5. ``lock_dependencies``: ``uv lock``, so the first install gets exact, hashed versions.
6. ``init_git``: ``git init`` and a first commit, when asked and possible.

Like the pre-generation hook, answers are read as data (``tojson``), and the
rest is plain Python that the template tests import without rendering.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# A tag names an answer and the values that keep the tagged lines: key=value[,value...]
_TAG = r"variant:\s*(?P<key>\w+)=(?P<values>[\w.-]+(?:,[\w.-]+)*)"
_BLOCK_START = re.compile(r"^\s*#\s*>>>\s*" + _TAG + r"\s*$")
_BLOCK_END = re.compile(r"^\s*#\s*<<<\s*variant\s*$")
_LINE_TAG = re.compile(r"\s+#\s*" + _TAG + r"\s*$")

#: Files that belong to one choice of an answer (or to any of ``a|b|c``); removed when another value is chosen.
OPTIONAL_PATHS: dict[str, dict[str, tuple[str, ...]]] = {
    "autoscaling": {
        "hpa": ("deploy/helm/*/templates/hpa.yaml",),
        "keda": ("deploy/helm/*/templates/keda-scaledobject.yaml",),
    },
    "ci_provider": {"github": (".github",)},
    "source": {
        "mysql": ("src/*/sources/mysql.py",),
        "rest": ("src/*/sources/rest.py", "src/*/sources/demo_api.py", "tests/test_rest_source.py",
                 "tests/test_rest_faults.py"),
        # `report` and `show` draw schemas and tables: SQL catalogs only.
        "postgresql|mysql|sqlite": ("src/*/runtime/output.py", "src/*/runtime/report.py", "src/*/runtime/report.html",
                                    "src/*/runtime/show.py", "tests/test_report.py", "docs"),
    },
}

#: Commented DSN examples for .env: user and host only; the password goes in a secret file.
DSN_EXAMPLES = {
    "postgresql": "postgresql://extractor@localhost:5432/analytics",
    "mysql": "mysql://extractor@localhost:3306/analytics",
    "sqlite": "sqlite:///data/catalog.db",
    "rest": "https://api.example.com/v1?auth=bearer&rate=10",
}

#: Public answers are everything without a leading underscore, plus where they came from.
#: Not ``_commit``: cruft keeps it in .cruft.json, and in a replay it would read as "under cruft".
RECORDED_PRIVATE = ("_template",)


class VariantError(ValueError):
    """A variant tag is malformed or names an unknown answer: a template bug, fail loudly."""


def rendered_answers() -> dict[str, Any]:
    """The answers as cookiecutter rendered them into this file (only valid once rendered)."""
    return json.loads(r'''{{ cookiecutter | tojson }}''')  # type: ignore[no-any-return]


def _keeps(key: str, values: str, answers: Mapping[str, Any], where: str) -> bool:
    if key not in answers:
        raise VariantError(f"{where}: variant tag names unknown answer {key!r}")
    return str(answers[key]) in values.split(",")


def strip_variants(text: str, answers: Mapping[str, Any], where: str = "<text>") -> str:
    """Drop lines tagged for other answers and remove every tag; blocks may nest.

    Where lines were dropped, runs of blank lines are capped at two and the
    file ends with one newline, so linters see what a person would have written.
    """
    out: list[str] = []
    stack: list[bool] = []
    dropped = False
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        here = f"{where}:{number}"
        if start := _BLOCK_START.match(line):
            stack.append(_keeps(start["key"], start["values"], answers, here))
            dropped = True
            continue
        if _BLOCK_END.match(line):
            if not stack:
                raise VariantError(f"{here}: '<<< variant' without an opening '>>> variant'")
            stack.pop()
            dropped = True
            continue
        if not all(stack):
            continue
        if tag := _LINE_TAG.search(line):
            if not _keeps(tag["key"], tag["values"], answers, here):
                dropped = True
                continue
            line = line[: tag.start()] + line[len(line.rstrip("\r\n")):]
        if not line.strip():
            if dropped and len(out) >= 2 and not out[-1].strip() and not out[-2].strip():
                continue
        else:
            dropped = False
        out.append(line)
    if stack:
        raise VariantError(f"{where}: {len(stack)} '>>> variant' block(s) left open")
    result = "".join(out)
    if dropped and result.endswith("\n"):
        result = result.rstrip("\r\n") + "\n"
    return result


def strip_variants_in_tree(project: Path, answers: Mapping[str, Any]) -> list[Path]:
    """Apply ``strip_variants`` to every text file that has a tag; return the files changed."""
    changed = []
    for path in sorted(project.rglob("*")):
        if not path.is_file() or ".git" in path.relative_to(project).parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if "variant" not in text:
            continue
        new = strip_variants(text, answers, str(path.relative_to(project)))
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def unselected_paths(project: Path, answers: Mapping[str, Any]) -> list[Path]:
    """Existing files and folders that belong to answer values not chosen."""
    found = []
    for key, by_value in OPTIONAL_PATHS.items():
        for value, patterns in by_value.items():
            if str(answers[key]) in value.split("|"):
                continue
            for pattern in patterns:
                found.extend(sorted(project.glob(pattern)))
    return found


def remove_unselected(project: Path, answers: Mapping[str, Any]) -> list[Path]:
    """Delete what ``unselected_paths`` finds; absent files are simply not there to remove."""
    removed = unselected_paths(project, answers)
    for path in removed:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


def dotenv_text(example: str, answers: Mapping[str, Any]) -> str:
    """Local ``.env``: the example with a header and a DSN hint for the chosen source.

    Only non-secret defaults are written; the DSN example stays commented and
    has no password, because passwords belong in ``SOURCE_<NAME>_PASSWORD`` files.
    """
    header = ("# Local settings, written once by the template from .env.example. Git ignores this file.\n"
              "# Never put a password here: use SOURCE_<NAME>_PASSWORD in SECRETS_DIR.\n")
    dsn = DSN_EXAMPLES[str(answers["source"])]
    lines = []
    for line in example.splitlines():
        if line.startswith("# SOURCE_DEFAULT_DSN="):
            line = f"# SOURCE_DEFAULT_DSN={dsn}"
        lines.append(line)
    return header + "\n".join(lines) + "\n"


def write_dotenv(project: Path, answers: Mapping[str, Any]) -> Path | None:
    """Write ``.env`` unless one exists (re-running must not clobber local edits)."""
    example, target = project / ".env.example", project / ".env"
    if target.exists() or not example.is_file():
        return None
    target.write_text(dotenv_text(example.read_text(encoding="utf-8"), answers), encoding="utf-8")
    return target


def recorded_answers(context: Mapping[str, Any]) -> dict[str, Any]:
    """Public answers plus where they came from; no machine-specific paths like ``_output_dir``."""
    return {key: value for key, value in context.items()
            if (not key.startswith("_") or key in RECORDED_PRIVATE)}


def write_answers(project: Path, context: Mapping[str, Any]) -> Path:
    """``.cookiecutter.json``: one key per line so template updates diff and merge cleanly.

    The ``{"cookiecutter": ...}`` wrapper is cookiecutter's replay format, so
    ``cookiecutter --replay-file .cookiecutter.json <template>`` re-renders with the same answers.
    """
    target = project / ".cookiecutter.json"
    text = json.dumps({"cookiecutter": recorded_answers(context)}, indent=2, sort_keys=True,
                      ensure_ascii=False)
    target.write_text(text + "\n", encoding="utf-8")
    return target


def find_uv() -> str | None:
    """uv on PATH, else next to the Python running this hook (cookiecutter installed in a venv or with uv)."""
    beside = Path(sys.executable).with_name("uv")
    return shutil.which("uv") or (str(beside) if beside.is_file() else None)


def lock_dependencies(project: Path, answers: Mapping[str, Any], uv: str | None) -> str:
    """Write ``uv.lock`` now, so the project's first ``make install`` (and its image and CI) are reproducible.

    Skipped under cruft: its updates render into throwaway folders, and a lock
    resolved there would turn every template update into a lock-file conflict
    (``uv.lock`` is in ``[tool.cruft] skip``). Without uv, or offline, the
    project still works: ``make install`` creates the lock on first use.
    """
    if "_commit" in answers:
        return "NOTICE: no uv.lock under cruft; `make install` creates it"
    if uv is None:
        return "NOTICE: uv not found, so no uv.lock yet; `make install` creates it"
    try:
        done = subprocess.run([uv, "lock", "--quiet"], cwd=project, capture_output=True, text=True,
                              timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return "NOTICE: uv lock took over 5 minutes (no package index?); `make install` retries"
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"NOTICE: uv lock failed ({reason}); `make install` retries"
    return "NOTICE: locked the dependencies in uv.lock"


def git_skip_reason(project: Path, answers: Mapping[str, Any], git: str | None) -> str | None:
    """Why not to ``git init`` now, or None to go ahead."""
    if str(answers.get("init_git", "no")) != "yes":
        return "init_git=no"
    if "_commit" in answers:
        # cruft renders through here too: for create it writes .cruft.json after this hook,
        # and for update it renders into throwaway folders that must not become repositories.
        return "rendered through cruft; run: git init && git add -A && git commit -m 'Initial commit'"
    if git is None:
        return "git is not installed; run git init yourself later"
    inside = subprocess.run([git, "rev-parse", "--is-inside-work-tree"], cwd=project.parent,
                            capture_output=True, text=True, check=False)
    if inside.returncode == 0 and inside.stdout.strip() == "true":
        return "the project is inside another git work tree; not nesting a repository"
    return None


def _git_config(git: str, key: str, cwd: Path) -> str:
    found = subprocess.run([git, "config", "--get", key], cwd=cwd, capture_output=True, text=True,
                           check=False)
    return found.stdout.strip()


def init_git(project: Path, answers: Mapping[str, Any], git: str | None) -> str:
    """``git init`` + first commit; returns a one-line notice of what happened."""
    reason = git_skip_reason(project, answers, git)
    if reason is not None or git is None:
        return f"NOTICE: skipped git init: {reason}"
    branch = _git_config(git, "init.defaultBranch", project) or "main"
    subprocess.run([git, "init", "-q", "-b", branch], cwd=project, check=True)
    subprocess.run([git, "add", "-A"], cwd=project, check=True)
    identity = []
    if not _git_config(git, "user.email", project):
        # No identity configured: commit as the author the answers name, instead of failing.
        identity = ["-c", f"user.name={answers['author_name']}", "-c", f"user.email={answers['author_email']}"]
    message = f"Initial commit from cookiecutter-temporal-extractor ({answers.get('_template', 'template')})"
    commit = subprocess.run([git, *identity, "commit", "-q", "--no-verify", "-m", message],
                            cwd=project, capture_output=True, text=True, check=False)
    if commit.returncode != 0:
        return f"NOTICE: git init done, first commit failed ({commit.stderr.strip()}); commit yourself"
    return f"NOTICE: initialised git on branch {branch} with a first commit"


def main(project: Path, context: Mapping[str, Any]) -> int:
    """Run every wiring step in order and report what it did."""
    strip_variants_in_tree(project, context)
    for path in remove_unselected(project, context):
        print(f"removed {path.relative_to(project)} (not selected)")
    write_dotenv(project, context)
    write_answers(project, context)
    print(lock_dependencies(project, context, find_uv()))
    print(init_git(project, context, shutil.which("git")))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path.cwd(), rendered_answers()))
