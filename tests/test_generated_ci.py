"""The generated app's GitHub Actions workflow: parsed as YAML, checked for what issue 7 asks.

Lint, mypy and pytest with PostgreSQL and MariaDB services, chart checks,
actions pinned by full commit SHA, a read-only token and no persisted
credentials.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .helpers import helm_binary, render

PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("ci"), python_version="3.13", source_dialect="mysql")


@pytest.fixture(scope="module")
def ci(project: Path) -> dict[str, Any]:
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
    assert re.search(r"helm template .* -f \"\$values\"", script), "render the ci/ values: the defaults refuse 3 workers"
    assert "checkov==" in script, "pin the checkov version"
    assert any(s.get("uses", "").startswith("azure/setup-helm@") for s in ci["jobs"]["chart"]["steps"])


def test_chart_job_script_runs_on_the_generated_chart(ci: dict[str, Any], project: Path, tmp_path: Path) -> None:
    """The job's shell, as GitHub runs it, with the real helm; pip and checkov are stubs that log."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    (bin_dir / "helm").symlink_to(helm_binary())
    for stub in ("python", "checkov"):
        (bin_dir / stub).write_text(f'#!/bin/sh\necho "{stub} $*" >> "{log}"\n')
        (bin_dir / stub).chmod(0o755)
    (step,) = [s for s in ci["jobs"]["chart"]["steps"] if "helm lint" in s.get("run", "")]
    runner_temp = tmp_path / "runner"
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=project,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RUNNER_TEMP": str(runner_temp)})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.stdout.count("0 chart(s) failed") == 1 + len(list(project.glob("deploy/helm/*/ci/*.yaml")))
    calls = log.read_text()
    assert "python -m pip install checkov==" in calls and "checkov -f Dockerfile" in calls
    (scanned,) = [line.split(" -d ")[1].split()[0] for line in calls.splitlines() if " -d " in line]
    rendered = {p.name for p in Path(scanned).iterdir()}
    assert rendered == {"production-values", "s3-compatible-values", "single-worker-values"}
    assert list(Path(scanned).glob("*/*/templates/deployment.yaml")), "helm template wrote no manifests"


def test_python_version_comes_from_the_answers(ci: dict[str, Any]) -> None:
    assert ci["env"]["PYTHON_VERSION"] == "3.13"
    setups = [s for s in steps(ci) if s.get("uses", "").startswith("actions/setup-python@")]
    assert setups and all(s["with"]["python-version"] == "${{ env.PYTHON_VERSION }}" for s in setups)


def test_github_expressions_survive_rendering(ci: dict[str, Any]) -> None:
    assert ci["concurrency"]["group"] == "${{ github.workflow }}-${{ github.ref }}"


def test_every_job_has_a_timeout(ci: dict[str, Any]) -> None:
    for name, job in ci["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 60, name

