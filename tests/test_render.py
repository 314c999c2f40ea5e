"""Default rendering. Per-combination renders, leftovers and the generated projects' own
lint, types and tests live in tests/test_matrix.py (one place, so no rendering is checked twice)."""

from __future__ import annotations

from pathlib import Path

from .helpers import leftovers, render


def test_defaults_render_the_documented_names(tmp_path: Path) -> None:
    project = render(tmp_path)
    assert project.name == "catalog-extractor"
    assert (project / "src" / "catalog_extractor" / "engine" / "workflows.py").is_file()
    assert "catalog-extractor" in (project / ".env.example").read_text()
    assert leftovers(project) == []
