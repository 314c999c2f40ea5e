"""Validate every answer before anything is rendered.

Cookiecutter runs this after creating the project folder and deletes the
folder when we exit non-zero, so a rejected answer leaves nothing on disk.
Each message names the field, the value given, the rule and how to fix it.

The answers are read as data (``tojson`` into a raw string, then
``json.loads``), never pasted into Python source, so quotes, backslashes or
template syntax in an answer cannot change this script. Everything below
``rendered_answers`` is plain Python that the template tests import and
unit-test without rendering.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

#: Choice values; ``tests/test_hooks.py`` checks they equal cookiecutter.json's lists.
CHOICES: dict[str, tuple[str, ...]] = {
    "source": ("postgresql", "mysql", "sqlite", "rest"),
    "python_version": ("3.11", "3.12", "3.13"),
    "ci_provider": ("github", "none"),
    "autoscaling": ("none", "hpa", "keda"),
    "init_git": ("yes", "no"),
}

#: Helm appends suffixes such as ``-worker`` to the release name, and object names stop at 63.
SLUG_MAX = 53
REPLICAS_HA = 3
REPLICAS_MAX = 100
TEXT_LIMITS = {"app_name": 100, "description": 300, "author_name": 100}

_SLUG = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_PACKAGE = re.compile(r"[a-z][a-z0-9_]*")
_TEMPORAL_NAME = re.compile(r"[A-Za-z]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`|~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_REPLICAS = re.compile(r"[1-9][0-9]*")
# Built from halves so that cookiecutter does not read them as template syntax in this file.
_TEMPLATE_DELIMITERS = ("{" + "{", "}" + "}", "{" + "%", "%" + "}", "{" + "#", "#" + "}")
#: Names a generated package must not take: they would shadow a dependency or the tests package.
_TAKEN_NAMES = frozenset({
    "tests", "test", "temporalio", "pydantic", "sqlalchemy", "aiosqlite", "asyncpg", "aiomysql",
    "pymysql", "dotenv", "orjson", "rich", "pytest", "mypy", "ruff", "setuptools",
})


def rendered_answers() -> dict[str, Any]:
    """The answers as cookiecutter rendered them into this file (only valid once rendered)."""
    return json.loads(r'''{{ cookiecutter | tojson }}''')  # type: ignore[no-any-return]


def problem(field: str, value: object, rule: str, fix: str) -> str:
    """One error line in the shape every rule uses: field, value, rule, fix."""
    return f"{field}={value!r}: {rule}. Fix: {fix}."


def check_slug(value: str) -> list[str]:
    """DNS-1123 label: the folder, console script, image and Helm release name."""
    if len(value) > SLUG_MAX or not _SLUG.fullmatch(value):
        return [problem("app_slug", value,
                        f"must be a DNS-1123 label of at most {SLUG_MAX} characters: lowercase a-z, "
                        "digits and '-', starting with a letter and not ending with '-' "
                        "(Helm appends suffixes to the release name)",
                        "pass app_slug=my-extractor, or shorten app_name")]
    return []


def check_package(value: str) -> list[str]:
    """Importable, PEP 8 style, and not shadowing the stdlib, a dependency or ``tests``."""
    if not _PACKAGE.fullmatch(value) or keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return [problem("package_name", value,
                        "must be a non-keyword Python identifier of lowercase ASCII letters, "
                        "digits and '_', starting with a letter",
                        "pass package_name=my_extractor")]
    if value in _TAKEN_NAMES or value in getattr(sys, "stdlib_module_names", ()):  # 3.10+
        return [problem("package_name", value,
                        "would shadow the standard library, a dependency or the tests package",
                        f"pick a distinct name, e.g. package_name={value}_extractor")]
    return []


def check_temporal_name(field: str, value: str, limit: int) -> list[str]:
    """Namespace and task queue reach env files, YAML values and KEDA metadata unquoted-safe."""
    if len(value) > limit or not _TEMPORAL_NAME.fullmatch(value):
        return [problem(field, value,
                        f"must be at most {limit} characters of A-Z, a-z, 0-9, '.', '_', '-', "
                        "starting with a letter and ending with a letter or digit",
                        f"pass {field}=catalog-extractor")]
    return []


def check_replicas(value: str) -> tuple[list[str], list[str]]:
    """Return (errors, warnings): an integer from 1 to REPLICAS_MAX; HA needs REPLICAS_HA."""
    if not _REPLICAS.fullmatch(value) or int(value) > REPLICAS_MAX:
        return [problem("worker_replicas", value,
                        f"must be a whole number from 1 to {REPLICAS_MAX} without leading zeros",
                        f"pass worker_replicas={REPLICAS_HA}")], []
    if int(value) < REPLICAS_HA:
        warning = (f"worker_replicas={value}: fewer than {REPLICAS_HA} workers is not highly "
                   f"available (a drain or a lost node stops extraction); use {REPLICAS_HA} or more "
                   "in production.")
        return [], [warning]
    return [], []


def check_email(value: str) -> list[str]:
    """Plausible, ASCII address: it lands in package metadata headers."""
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        return [problem("author_email", value,
                        "must look like name@example.com (ASCII, one '@', a dotted domain)",
                        "pass author_email=team@example.com")]
    return []


def check_text(field: str, value: str) -> list[str]:
    """Free text renders into TOML, YAML, Markdown, Makefile comments and a Python docstring.

    Quotes, apostrophes and non-ASCII letters render correctly everywhere
    (structured files use ``tojson``). What cannot be made safe in every one of
    those files is rejected: control characters and line breaks (they end a
    comment or a heading), backslashes and triple quotes (they change a Python
    docstring), and template delimiters (Helm and GitHub Actions would evaluate them).
    """
    limit = TEXT_LIMITS[field]
    if not value.strip():
        return [problem(field, value, "must not be empty", f"pass a short {field}")]
    if len(value) > limit:
        return [problem(field, value, f"must be at most {limit} characters", f"shorten {field}")]
    if value != value.strip():
        return [problem(field, value, "must not start or end with whitespace", "trim the spaces")]
    if any(not ch.isprintable() for ch in value):
        return [problem(field, value, "must be one line of printable text: no newlines, tabs or "
                        "control characters", "remove them")]
    if "\\" in value or '"""' in value:
        return [problem(field, value, "must not contain a backslash or three double quotes in a row "
                        "(they change the package docstring)", "remove them")]
    if any(d in value for d in _TEMPLATE_DELIMITERS):
        return [problem(field, value, "must not contain template delimiters such as a double brace "
                        "or a brace-percent pair (Helm and GitHub Actions would evaluate them)",
                        "remove them")]
    return []


def check_choice(field: str, value: str) -> list[str]:
    """Cookiecutter checks choices on prompts; a replay file or edited answers file bypasses that."""
    allowed = CHOICES[field]
    if value not in allowed:
        return [problem(field, value, f"must be one of {', '.join(allowed)}",
                        f"pass {field}={allowed[0]}")]
    return []


def check_combination(answers: Mapping[str, str]) -> list[str]:
    """Rules that span answers: declared as unsupported combinations in tests/matrix.py."""
    errors = []
    replicas = answers["worker_replicas"]
    if answers["autoscaling"] != "none" and _REPLICAS.fullmatch(replicas) and int(replicas) < 2:
        errors.append(problem(
            "worker_replicas", replicas,
            f"must be 2 or more with autoscaling={answers['autoscaling']}: the autoscaler's floor is "
            "worker_replicas, and a floor of 1 lets a scale-in leave a single worker",
            "pass worker_replicas=3, or autoscaling=none for a single worker"))
    return errors


TEXT_FIELDS = tuple(TEXT_LIMITS)
CHECKS: tuple[Callable[[Mapping[str, str]], list[str]], ...] = (
    lambda a: check_slug(a["app_slug"]),
    lambda a: check_package(a["package_name"]),
    lambda a: check_temporal_name("temporal_namespace", a["temporal_namespace"], 255),
    lambda a: check_temporal_name("task_queue", a["task_queue"], 200),
    lambda a: check_email(a["author_email"]),
    lambda a: [e for f in TEXT_FIELDS for e in check_text(f, a[f])],
    lambda a: [e for f in CHOICES for e in check_choice(f, a[f])],
    lambda a: check_replicas(a["worker_replicas"])[0],
    check_combination,
)


def validate(answers: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Return (errors, warnings) for a full set of answers; values are read as strings."""
    as_text = {key: str(value) for key, value in answers.items()}
    errors = [message for check in CHECKS for message in check(as_text)]
    warnings = check_replicas(as_text["worker_replicas"])[1]
    return errors, warnings


def main(answers: Mapping[str, Any]) -> int:
    """Print warnings and errors; 1 if any rule is broken."""
    errors, warnings = validate(answers)
    for message in warnings:
        print(f"WARNING: {message}", file=sys.stderr)
    for message in errors:
        print(f"ERROR: {message}", file=sys.stderr)
    if errors:
        print(f"ERROR: {len(errors)} answer(s) rejected; nothing was generated.", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(rendered_answers()))
