"""Render the template for each source dialect and run the generated project's own checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import install, leftovers, render, run

DIALECTS = ["postgresql", "mysql", "sqlite"]


@pytest.fixture(scope="module", params=DIALECTS)
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp(request.param), source_dialect=request.param)


def test_defaults_render_the_documented_names(tmp_path: Path) -> None:
    project = render(tmp_path)
    assert project.name == "catalog-extractor"
    assert (project / "src" / "catalog_extractor" / "workflows.py").is_file()
    assert "catalog-extractor" in (project / ".env.example").read_text()


def test_no_template_syntax_survives(project: Path) -> None:
    assert leftovers(project) == []


def test_generated_project_passes_its_own_lint_types_and_tests(project: Path) -> None:
    bin_dir = install(project)
    run([str(bin_dir / "ruff"), "check", "."], cwd=project)
    run([str(bin_dir / "mypy")], cwd=project)
    out = run([str(bin_dir / "pytest"), "-q", "-p", "no:cacheprovider"], cwd=project)
    assert " passed" in out and "skipped" not in out, out
