"""The generated README's recipes are patches that must keep applying, and passing, on fresh renderings.

``{{cookiecutter.app_slug}}/recipes/*.patch`` are unified diffs against a default rendering (package
``catalog_extractor``), copied unrendered. Each case below renders a fresh project, checks and applies
its patches with ``git apply``, then runs the rendering's ruff, mypy and the tests the recipe touches
(PostgreSQL / MariaDB ones when TEST_POSTGRES_URL / TEST_MYSQL_URL are set, as the Makefile does).
The README test holds every Python excerpt of a recipe to the lines its patch adds.

A patch that stopped applying after a template change: render the defaults, ``git init`` and commit,
``git apply --3way recipes/<name>.patch``, resolve, then ``git diff > recipes/<name>.patch``.
"""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .envs import shared_env
from .helpers import TEMPLATE, assert_pytest_passed, environ, python_for, render, run

RECIPES = TEMPLATE / "{{cookiecutter.app_slug}}" / "recipes"
PACKAGE = "catalog_extractor"  # the package name the patches were made with
SECTION = "## Adding an entity kind, a source or an activity"

# MySQL's fast path lives in MySQL renderings only, and the generated suite has no MySQL
# equivalence test of its own: this one is dropped into the rendering with the MySQL patch.
MYSQL_PROBE = '''\
"""Written by the template's tests/test_recipes.py: the MySQL fast path and the generic reader agree."""

from __future__ import annotations

from typing import Any

import pytest

from catalog_extractor.sources.readers import select_reader

from .catalogs import mysql_catalog
from .conftest import MYSQL_URL
from .test_source_equivalence import compare, engine_for  # noqa: F401 - the fixture

VIEW_COLUMN_RICHER = ("nullable", "comment", "default")  # see the fast path's docstring


@pytest.mark.mysql
async def test_mysql_fast_path_matches_generic(engine_for: Any) -> None:  # noqa: F811
    assert MYSQL_URL
    with mysql_catalog(MYSQL_URL) as cat:
        engine = engine_for(cat.url)
        fast, generic = await compare(engine, cat)
        assert type(select_reader(engine, "x")).__name__ == "MySQLCatalogReader"
    assert len(fast) == len(generic) > 30
    views = {r["qualified_name"] for r in fast if r["kind"] == "table" and r["table_type"] == "view"}
    for f, g in zip(fast, generic, strict=True):
        if f["kind"] == "column" and f["table"] in views:
            f = {k: v for k, v in f.items() if k not in VIEW_COLUMN_RICHER}
            g = {k: v for k, v in g.items() if k not in VIEW_COLUMN_RICHER}
        assert f == g
    assert sum(r["kind"] == "trigger" for r in fast) == cat.counts["triggers"] == 1
'''


@dataclass(frozen=True)
class Case:
    id: str
    patches: tuple[str, ...]
    tests: tuple[str, ...]
    answers: dict[str, str] = field(default_factory=dict)
    mysql_probe: bool = False


CASES = [
    Case("add-entity-kind", ("add-entity-kind.patch",),
         ("tests/test_source_equivalence.py", "tests/test_extraction.py", "tests/test_pagila.py",
          "tests/test_units.py")),
    Case("add-entity-kind-mysql", ("add-entity-kind.patch", "add-entity-kind-mysql.patch"),
         ("tests/test_source_equivalence.py", "tests/test_extraction.py", "tests/test_units.py"),
         {"source": "mysql"}, mysql_probe=True),
    Case("add-a-source", ("add-a-source.patch",), ("tests/test_dbt_source.py", "tests/test_units.py")),
]
#: README subsection -> the patches whose added lines its excerpts must be
SUBSECTIONS = {
    "### A new entity kind": ("add-entity-kind.patch", "add-entity-kind-mysql.patch"),
    "### A new source": ("add-a-source.patch",),
}


def fresh(tmp_path: Path, **answers: str) -> Path:
    """A rendering without git history, then ``git init``: ``git apply`` works on its own tree."""
    with environ(UV_OFFLINE="1"):  # the hook locks from uv's cache; locking is tested elsewhere
        project = render(tmp_path, init_git="no", **answers)
    run(["git", "init", "-q"], cwd=project)
    return project


def apply(project: Path, patch: str, package: str = PACKAGE) -> None:
    text = (RECIPES / patch).read_text(encoding="utf-8").replace(PACKAGE, package)
    for check in (["--check"], []):
        proc = subprocess.run(["git", "apply", "-p1", *check, "-"], cwd=project, input=text,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"recipes/{patch} does not apply to a fresh rendering:\n{proc.stderr}"


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.xdist_group(f"recipe-{c.id}")) for c in CASES],
                         ids=[c.id for c in CASES])
def test_recipe_patch_applies_and_the_rendering_passes_its_checks(tmp_path: Path, case: Case) -> None:
    project = fresh(tmp_path, **case.answers)
    for patch in case.patches:
        apply(project, patch)
    tests = list(case.tests)
    if case.mysql_probe:
        (project / "tests" / "test_recipe_mysql_probe.py").write_text(MYSQL_PROBE, encoding="utf-8")
        tests.append("tests/test_recipe_mysql_probe.py")
    env = shared_env(project, python_for(case.answers.get("python_version", "3.11")))
    variables = env.environ(project)
    run([str(env.bin / "ruff"), "check", "--no-cache", "."], cwd=project, env=variables)
    run([str(env.bin / "mypy"), "--cache-dir", str(env.mypy_cache)], cwd=project, env=variables)
    out = run([str(env.bin / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
              cwd=project, env=variables)
    assert_pytest_passed(out)
    if os.environ.get("TEST_POSTGRES_URL"):
        assert "PostgreSQL test(s)" not in out, out
    if case.mysql_probe and os.environ.get("TEST_MYSQL_URL"):
        assert "MySQL/MariaDB test(s)" not in out, out


def test_recipe_patches_apply_to_a_rendering_with_other_names(tmp_path: Path) -> None:
    """What the README tells such a project to do: the package renamed in the patch on the way in."""
    project = fresh(tmp_path, app_name="Acme Metadata", package_name="acme_meta", source="mysql")
    for patch in ("add-entity-kind.patch", "add-entity-kind-mysql.patch", "add-a-source.patch"):
        apply(project, patch, package="acme_meta")
    assert (project / "src" / "acme_meta" / "sources" / "dbt.py").is_file()
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert "sed 's/catalog_extractor/acme_meta/g' recipes/add-entity-kind.patch | git apply" in readme
    assert "git apply recipes/add-entity-kind-mysql.patch" in readme


# --- the README and the patches say the same thing -------------------------------------------------

def added_runs(patch: str) -> list[list[str]]:
    """The patch's added lines, ``+`` removed, as runs of consecutive lines."""
    runs: list[list[str]] = [[]]
    for line in patch.splitlines():
        if line.startswith("+") and not line.startswith("+++ "):
            runs[-1].append(line[1:])
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def patched_files(patch: str) -> list[str]:
    """Paths the patch touches, as the README names them (``sources/x.py``, ``tests/x.py``)."""
    paths = re.findall(r"^diff --git a/(\S+) b/", patch, re.M)
    return [p.removeprefix(f"src/{PACKAGE}/") for p in paths]


def python_blocks(text: str) -> list[str]:
    return [textwrap.dedent(m.group(2)).strip("\n")
            for m in re.finditer(r"^( *)```python\n(.*?)^\1```$", text, re.M | re.S)]


def in_runs(block: str, runs: list[list[str]]) -> bool:
    lines = block.splitlines()
    return any(textwrap.dedent("\n".join(run[i:i + len(lines)])).strip("\n") == block
               for run in runs for i in range(len(run) - len(lines) + 1))


@pytest.fixture(scope="module")
def readme_section(tmp_path_factory: pytest.TempPathFactory) -> str:
    project = fresh(tmp_path_factory.mktemp("recipes-readme"))
    assert sorted(p.name for p in (project / "recipes").iterdir()) == sorted(p.name for p in RECIPES.iterdir())
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert SECTION in readme
    return readme.split(SECTION, 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("heading", list(SUBSECTIONS))
def test_readme_recipe_excerpts_are_lines_the_patch_adds(readme_section: str, heading: str) -> None:
    assert heading in readme_section
    text = readme_section.split(heading, 1)[1].split("\n### ", 1)[0]
    patches = {name: (RECIPES / name).read_text(encoding="utf-8") for name in SUBSECTIONS[heading]}
    runs = [run for patch in patches.values() for run in added_runs(patch)]
    blocks = python_blocks(text)
    assert blocks, f"{heading}: no Python excerpt"
    for block in blocks:
        assert in_runs(block, runs), f"{heading}: this README excerpt is not in {', '.join(patches)}:\n{block}"
    for name, patch in patches.items():
        assert f"recipes/{name}" in text or f"recipes/{name}" in readme_section
        for path in patched_files(patch):
            assert f"`{path}`" in text, f"{heading}: README does not name {path}, which recipes/{name} changes"
    assert "git apply recipes/" in readme_section and "make test" in readme_section
