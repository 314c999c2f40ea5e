"""Render every supported combination of tests/matrix.py and run the generated project's checks.

Every combination: renders, no template syntax or variant tag survives, the
selection is wired (extras, fixtures, optional files, answers, .env, git),
ruff and mypy pass. Combinations marked ``full`` also run the project's own
pytest against real PostgreSQL / MariaDB when TEST_POSTGRES_URL /
TEST_MYSQL_URL are set (the Makefile sets them). Unsupported combinations must
fail in the pre-generation hook and leave nothing on disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from .helpers import (
    TEMPLATE,
    UV,
    assert_pytest_passed,
    helm_binary,
    hook_module,
    install,
    leftovers,
    python_for,
    reject,
    render,
    run,
)
from .matrix import SUPPORTED, UNSUPPORTED, Combo

SPEC: dict[str, Any] = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
PUBLIC_KEYS = {k for k in SPEC if not k.startswith("_")}
CHOICES = {k: v for k, v in SPEC.items() if isinstance(v, list) and not k.startswith("_")}
# Only the MySQL fixtures are dialect-specific: PostgreSQL is also the production state
# store, so its fixtures (and the fault tests that use them) are in every rendering.
DIALECT_FIXTURES = {"mysql": "def mysql_catalog"}


def chosen(combo: Combo, key: str) -> str:
    """The value a rendering gets for ``key``: the combo's, else cookiecutter.json's default."""
    default = SPEC[key][0] if isinstance(SPEC[key], list) else SPEC[key]
    return str(combo.answers.get(key, default))


# --- the matrix itself ---------------------------------------------------------------------------

def test_matrix_uses_only_keys_and_values_from_cookiecutter_json() -> None:
    entries = [c.answers for c in SUPPORTED] + [answers for _, answers, _ in UNSUPPORTED]
    for answers in entries:
        assert set(answers) <= PUBLIC_KEYS, set(answers) - PUBLIC_KEYS
        for key, value in answers.items():
            if key in CHOICES:
                assert value in CHOICES[key], (key, value)


def test_supported_matrix_covers_every_choice_value() -> None:
    for key, values in CHOICES.items():
        assert {chosen(c, key) for c in SUPPORTED} == set(values), key


def test_matrix_ids_are_unique() -> None:
    ids = [c.id for c in SUPPORTED] + [i for i, _, _ in UNSUPPORTED]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("answers", "message"), [(a, m) for _, a, m in UNSUPPORTED],
                         ids=[i for i, _, _ in UNSUPPORTED])
def test_unsupported_combination_fails_in_pre_gen(tmp_path: Path, answers: dict[str, str], message: str) -> None:
    pre = hook_module("pre_gen_project")
    defaults = {k: (v[0] if isinstance(v, list) else v) for k, v in SPEC.items() if k in PUBLIC_KEYS}
    defaults.update(app_slug="catalog-extractor", package_name="catalog_extractor", task_queue="catalog-extractor")
    for key, value in answers.items():  # each answer alone is legal: only the combination is refused
        assert pre.validate({**defaults, key: value})[0] == [], (key, value)
    err = reject(tmp_path, **answers)
    assert message in err and "Fix:" in err, err
    assert list(tmp_path.iterdir()) == []


# --- every supported combination -----------------------------------------------------------------

# One xdist group per combination: its checks reuse one rendering and one .venv on one worker,
# while different combinations run in parallel (`make test` runs pytest -n 2 --dist loadgroup).
@pytest.fixture(scope="module", params=[pytest.param(c, marks=pytest.mark.xdist_group(c.id)) for c in SUPPORTED],
                ids=[c.id for c in SUPPORTED])
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Combo, Path]:
    combo: Combo = request.param
    return combo, render(tmp_path_factory.mktemp(combo.id), **combo.answers)


def test_no_template_syntax_or_variant_tag_survives(rendered: tuple[Combo, Path]) -> None:
    _, project = rendered
    assert leftovers(project) == []


def test_selection_is_wired(rendered: tuple[Combo, Path]) -> None:
    combo, project = rendered
    dialect = chosen(combo, "source")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    extras = pyproject["project"]["optional-dependencies"]
    # PostgreSQL stays in every rendering: it is the shared state store of a multi-worker deployment.
    assert "postgresql" in extras and any(d.startswith("asyncpg") for d in extras["dev"])
    assert ("mysql" in extras) == (dialect == "mysql")
    assert any(d.startswith("aiomysql") for d in extras["dev"]) == (dialect == "mysql")
    assert pyproject["project"]["description"] == chosen(combo, "description")
    assert pyproject["project"]["authors"][0] == {"name": chosen(combo, "author_name"),
                                                  "email": chosen(combo, "author_email")}
    assert pyproject["tool"]["cruft"]["skip"] == [".env", "uv.lock"]

    fixtures = (project / "tests" / "catalogs.py").read_text(encoding="utf-8")
    for name, marker in DIALECT_FIXTURES.items():
        assert (marker in fixtures) == (name == dialect), name
    assert "def sqlite_catalog" in fixtures and "def postgres_database" in fixtures
    assert "def postgres_catalog" in fixtures

    recorded = json.loads((project / ".cookiecutter.json").read_text(encoding="utf-8"))["cookiecutter"]
    for key, value in combo.answers.items():
        assert recorded[key] == value
    env = (project / ".env").read_text(encoding="utf-8")
    assert f"TEMPORAL_NAMESPACE={chosen(combo, 'temporal_namespace')}\n" in env
    assert "PASSWORD=" not in env.replace("# SOURCE_<NAME>_PASSWORD", "")

    assert (project / ".git").is_dir() == (chosen(combo, "init_git") == "yes")
    if chosen(combo, "ci_provider") == "none":
        assert not (project / ".github").exists()
    scaling = chosen(combo, "autoscaling")
    for value, name in (("hpa", "hpa.yaml"), ("keda", "keda-scaledobject.yaml")):
        if scaling != value:
            assert list(project.glob(f"deploy/helm/*/templates/{name}")) == []


def test_chart_files_parse_and_carry_the_answers(rendered: tuple[Combo, Path]) -> None:
    """Once the chart exists: Chart.yaml and values.yaml are valid YAML with the rendered answers."""
    combo, project = rendered
    charts = list(project.glob("deploy/helm/*/Chart.yaml"))
    if not charts:
        pytest.skip("no Helm chart in this template yet")
    chart = yaml.safe_load(charts[0].read_text(encoding="utf-8"))
    assert chart["name"] == project.name
    values = yaml.safe_load((charts[0].parent / "values.yaml").read_text(encoding="utf-8"))
    if "replicaCount" in values:
        assert values["replicaCount"] == int(chosen(combo, "worker_replicas"))


def test_chart_lints_and_renders_with_helm(rendered: tuple[Combo, Path]) -> None:
    """Every rendering's chart lints and renders with the real helm binary, with each ci/ values file.

    The defaults render only for a single worker: with more replicas or an autoscaler the chart
    refuses them (per-pod state store and output) and names the values to set.
    """
    combo, project = rendered
    charts = [p.parent for p in project.glob("deploy/helm/*/Chart.yaml")]
    assert len(charts) == 1, charts
    helm = helm_binary()
    run([helm, "lint", "--strict", str(charts[0])], cwd=project)
    values_files = sorted(charts[0].glob("ci/*.yaml"))
    assert {v.name for v in values_files} >= {"production-values.yaml", "single-worker-values.yaml"}
    for values in values_files:
        run([helm, "lint", "--strict", str(charts[0]), "-f", str(values)], cwd=project)
        run([helm, "template", project.name, str(charts[0]), "-f", str(values)], cwd=project)
    single = int(chosen(combo, "worker_replicas")) == 1 and chosen(combo, "autoscaling") == "none"
    proc = subprocess.run([helm, "template", project.name, str(charts[0])], cwd=project,
                          capture_output=True, text=True, timeout=120)
    if single:
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode != 0 and "stateStore.url" in proc.stderr and "output.url" in proc.stderr, proc.stderr


def test_ci_workflow_runs_only_the_chosen_databases(rendered: tuple[Combo, Path]) -> None:
    """Once the generated CI exists: no service container for a source dialect that was not chosen.

    PostgreSQL may stay in every rendering (the state store's tests use it); MySQL/MariaDB only
    when it is the source. Tag such lines with ``# variant: source=...`` (README).
    """
    combo, project = rendered
    workflow = project / ".github" / "workflows" / "ci.yml"
    if not workflow.is_file():
        pytest.skip("no generated CI workflow in this rendering")
    services = json.dumps(yaml.safe_load(workflow.read_text(encoding="utf-8"))).lower()
    if chosen(combo, "source") != "mysql":
        assert "mariadb" not in services and "mysql" not in services


def test_static_checks(rendered: tuple[Combo, Path]) -> None:
    combo, project = rendered
    assert (project / "uv.lock").is_file(), "the post-generation hook did not lock the dependencies"
    python = python_for(chosen(combo, "python_version"))
    run([UV, "lock", "--check", "--offline", "--python", python], cwd=project)
    bin_dir = install(project, python)  # uv sync --locked
    run([str(bin_dir / "ruff"), "check", "."], cwd=project)
    run([str(bin_dir / "mypy")], cwd=project)
    # mypy checks src only; collecting imports every test module, so a test that still uses
    # fixture code removed for another dialect fails here on every rendering, not only full ones.
    run([str(bin_dir / "pytest"), "-q", "--collect-only", "-p", "no:cacheprovider"], cwd=project)
    wanted = chosen(combo, "python_version")
    if python_for(wanted) != python_for("3.11") or wanted == "3.11":
        version = subprocess.run([str(bin_dir / "python"), "-c", "import sys; print(sys.version[:4])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        assert version == wanted


def test_full_suite(rendered: tuple[Combo, Path]) -> None:
    combo, project = rendered
    if not combo.full:
        pytest.skip("static checks only: differs from a full combination in text or removed files")
    bin_dir = project / ".venv" / "bin"
    if not bin_dir.is_dir():
        bin_dir = install(project, python_for(chosen(combo, "python_version")))
    # The default rendering's report test must open a real Chromium (.ci/run installs it), not skip.
    browser = {"REQUIRE_BROWSER": "1"} if combo.id == "postgresql-defaults" else None
    out = run([str(bin_dir / "pytest"), "-q", "-p", "no:cacheprovider"], cwd=project, env=browser)
    assert_pytest_passed(out)
    if os.environ.get("TEST_POSTGRES_URL") and os.environ.get("TEST_MYSQL_URL"):
        assert "PostgreSQL test(s)" not in out and "MySQL/MariaDB test(s)" not in out, out
