"""The generated app's GitHub Actions workflow: parsed as YAML, checked for what issue 7 asks.

Lint, mypy and pytest with PostgreSQL and MariaDB services, chart checks,
actions pinned by full commit SHA, a read-only token and no persisted
credentials.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .helpers import UV, helm_binary, python_for, render, run

# Its module fixtures are built once: keep the whole file on one xdist worker.
pytestmark = pytest.mark.xdist_group("generated-ci")
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("ci"), python_version="3.13", source="mysql")


@pytest.fixture(scope="module")
def ci(project: Path) -> dict[str, Any]:
    text = (project / ".github" / "workflows" / "ci.yml").read_text()
    assert "cookiecutter" not in text
    parsed: dict[Any, Any] = yaml.safe_load(text)
    parsed["on"] = parsed.pop(True)  # YAML 1.1 reads the key `on` as a boolean
    return parsed


def steps(ci: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in ci["jobs"].values() for step in job["steps"]]


def runs(ci: dict[str, Any], job: str) -> str:
    return "\n".join(step.get("run", "") for step in ci["jobs"][job]["steps"])


def test_triggers_are_push_and_pull_request_never_pull_request_target(ci: dict[str, Any]) -> None:
    triggers = ci["on"]
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


def make_recipe(project: Path, target: str) -> str:
    """The commands of one Makefile target (its recipe lines), as make would run them."""
    lines = (project / "Makefile").read_text().splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return "\n".join(recipe)


def test_lint_and_types_run_what_the_makefile_runs(ci: dict[str, Any], project: Path) -> None:
    assert "make lint" in runs(ci, "lint") and "make typecheck" in runs(ci, "lint")
    assert "ruff check ." in make_recipe(project, "lint")
    assert "mypy" in make_recipe(project, "typecheck")


def test_every_job_that_installs_the_app_installs_it_from_uv_lock(ci: dict[str, Any], project: Path) -> None:
    for job in ("lint", "test"):
        assert "make install" in runs(ci, job), job
        assert "pip install -e" not in runs(ci, job), f"{job} resolves versions of its own instead of uv.lock"
    installed = make_recipe(project, "$(BIN)/.installed")
    assert "uv) sync" in installed.replace("$(UV", "uv") and "--locked" in installed
    assert (project / "uv.lock").is_file()


def test_the_image_installs_from_uv_lock(project: Path) -> None:
    dockerfile = (project / "Dockerfile").read_text()
    assert "COPY pyproject.toml uv.lock ./" in dockerfile
    assert re.search(r"uv sync --frozen --no-install-project", dockerfile)
    assert "!uv.lock" in (project / ".dockerignore").read_text()


def test_pre_commit_runs_the_same_lint_and_types_as_ci(ci: dict[str, Any], project: Path) -> None:
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    entries = {hook["entry"] for repo in config["repos"] for hook in repo["hooks"]}
    assert entries == {"make lint", "make typecheck"}
    assert entries <= set(runs(ci, "lint").splitlines())


def test_renovate_updates_python_actions_and_docker(project: Path) -> None:
    config = json.loads((project / "renovate.json").read_text())
    assert set(config["enabledManagers"]) == {"pep621", "github-actions", "dockerfile"}
    assert "helpers:pinGitHubActionDigests" in config["extends"], "actions must stay pinned by SHA"
    assert config["lockFileMaintenance"]["enabled"] is True
    (docker,) = [r for r in config["packageRules"] if r.get("matchManagers") == ["dockerfile"]]
    assert docker["allowedVersions"] == "<3.14", "the 3.13 rendering must stay on Python 3.13"


def test_lowest_job_runs_lint_types_and_tests_on_the_floors(ci: dict[str, Any], project: Path) -> None:
    job = ci["jobs"]["lowest"]
    assert "make lowest" in runs(ci, "lowest")
    assert set(job["services"]) == set(ci["jobs"]["test"]["services"])
    assert job["env"] == ci["jobs"]["test"]["env"]
    recipe = make_recipe(project, "lowest")
    assert "--resolution lowest-direct" in recipe
    for tool in ("ruff check .", "mypy", "pytest"):
        assert tool in recipe, tool


def test_lowest_direct_versions_pass_lint_types_and_tests(project: Path) -> None:
    """What the lowest job runs, for real: the floors pyproject.toml declares must work."""
    env = {"PATH": f"{Path(UV).parent}:{os.environ['PATH']}", "PYTHON": python_for("3.13")}
    run(["make", "lowest"], cwd=project, env=env, timeout=1500)


def test_pytest_runs_against_postgres_and_mariadb_services(ci: dict[str, Any]) -> None:
    job = ci["jobs"]["test"]
    images = {name: svc["image"] for name, svc in job["services"].items()}
    assert images["postgres"].startswith("postgres:")
    assert images["mariadb"].startswith("mariadb:")
    assert all("--health-cmd" in svc["options"] for svc in job["services"].values())
    assert job["env"]["TEST_POSTGRES_URL"].startswith("postgresql://") and ":5432/" in job["env"]["TEST_POSTGRES_URL"]
    assert job["env"]["TEST_MYSQL_URL"].startswith("mysql://") and ":3306/" in job["env"]["TEST_MYSQL_URL"]
    assert "make test" in runs(ci, "test")


def test_other_dialects_get_no_mariadb_service(tmp_path: Path) -> None:
    project = render(tmp_path, source="postgresql", init_git="no")
    parsed = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    job = parsed["jobs"]["test"]
    assert set(job["services"]) == {"postgres"}
    assert "TEST_MYSQL_URL" not in job["env"]


def test_chart_job_lints_renders_and_scans_the_chart(ci: dict[str, Any]) -> None:
    script = runs(ci, "chart")
    assert "helm lint --strict" in script and "helm template" in script and "checkov" in script
    assert re.search(r"helm template .* --namespace \S+", script), "checkov fails manifests in the default namespace"
    assert re.search(r"helm template .* -f \"\$values\"", script), \
        "render the ci/ values: the defaults refuse 3 workers"
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
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RUNNER_TEMP": str(runner_temp)}
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=project,
                          capture_output=True, text=True, timeout=300, env=env)
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

