"""The generated app's GitHub Actions workflow: parsed as YAML, checked for what issue 7 asks.

Lint, mypy and pytest with PostgreSQL and MariaDB services, chart checks,
actions pinned by full commit SHA, a read-only token and no persisted
credentials.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .helpers import render

PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")


@pytest.fixture(scope="module")
def ci(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = render(tmp_path_factory.mktemp("ci"), python_version="3.13", source_dialect="mysql")
    text = (project / ".github" / "workflows" / "ci.yml").read_text()
    assert "cookiecutter" not in text
    parsed: dict[str, Any] = yaml.safe_load(text)
    return parsed


def steps(ci: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in ci["jobs"].values() for step in job["steps"]]


def runs(ci: dict[str, Any], job: str) -> str:
    return "\n".join(step.get("run", "") for step in ci["jobs"][job]["steps"])


def test_triggers_are_push_and_pull_request_never_pull_request_target(ci: dict[str, Any]) -> None:
    triggers = ci[True]  # YAML 1.1 reads the key `on` as a boolean
    assert set(triggers) == {"push", "pull_request"}


def test_token_is_read_only(ci: dict[str, Any]) -> None:
    assert ci["permissions"] == {"contents": "read"}
    for name, job in ci["jobs"].items():
        assert set(job.get("permissions", {}).values()) <= {"read", "none"}, name


def test_every_action_is_pinned_by_full_commit_sha(ci: dict[str, Any]) -> None:
    used = [step["uses"] for step in steps(ci) if "uses" in step]
    assert used
    for ref in used:
        assert PINNED.match(ref), f"{ref} is not pinned by a 40-hex commit SHA"


def test_checkout_never_persists_credentials(ci: dict[str, Any]) -> None:
    checkouts = [s for s in steps(ci) if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == len(ci["jobs"])
    for step in checkouts:
        assert step["with"]["persist-credentials"] is False


def test_lint_and_types(ci: dict[str, Any]) -> None:
    assert "ruff check ." in runs(ci, "lint")
    assert "mypy" in runs(ci, "lint")


def test_pytest_runs_against_postgres_and_mariadb_services(ci: dict[str, Any]) -> None:
    job = ci["jobs"]["test"]
    images = {name: svc["image"] for name, svc in job["services"].items()}
    assert images["postgres"].startswith("postgres:")
    assert images["mariadb"].startswith("mariadb:")
    assert all("--health-cmd" in svc["options"] for svc in job["services"].values())
    assert job["env"]["TEST_POSTGRES_URL"].startswith("postgresql://") and ":5432/" in job["env"]["TEST_POSTGRES_URL"]
    assert job["env"]["TEST_MYSQL_URL"].startswith("mysql://") and ":3306/" in job["env"]["TEST_MYSQL_URL"]
    assert "pytest" in runs(ci, "test")


def test_other_dialects_get_no_mariadb_service(tmp_path: Path) -> None:
    project = render(tmp_path, source_dialect="postgresql", init_git="no")
    parsed = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    job = parsed["jobs"]["test"]
    assert set(job["services"]) == {"postgres"}
    assert "TEST_MYSQL_URL" not in job["env"]


def test_chart_job_lints_renders_and_scans_the_chart(ci: dict[str, Any]) -> None:
    script = runs(ci, "chart")
    assert "helm lint --strict" in script and "helm template" in script and "checkov" in script
    assert re.search(r"helm template .* --namespace \S+", script), "checkov fails manifests in the default namespace"
    assert "checkov==" in script, "pin the checkov version"
    assert any(s.get("uses", "").startswith("azure/setup-helm@") for s in ci["jobs"]["chart"]["steps"])


def test_python_version_comes_from_the_answers(ci: dict[str, Any]) -> None:
    assert ci["env"]["PYTHON_VERSION"] == "3.13"
    setups = [s for s in steps(ci) if s.get("uses", "").startswith("actions/setup-python@")]
    assert setups and all(s["with"]["python-version"] == "${{ env.PYTHON_VERSION }}" for s in setups)


def test_github_expressions_survive_rendering(ci: dict[str, Any]) -> None:
    assert ci["concurrency"]["group"] == "${{ github.workflow }}-${{ github.ref }}"


def test_every_job_has_a_timeout(ci: dict[str, Any]) -> None:
    for name, job in ci["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 60, name

