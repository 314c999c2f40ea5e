"""Answers drawn at random: every valid set must render a project that passes its own checks.

The fixed matrix (``tests/matrix.py``) renders names we chose; this draws app
names of every legal length up to the 53-character slug limit, with digits,
hyphens, apostrophes and accents, and every choice value. Each example is
rendered and then runs what needs no network and no service: ruff, ``mypy
--strict``, and the generated tests that stand alone (units, docs, replay,
every command's ``--help``).

The seed is fixed, so CI runs the same examples every time. A larger run:
``RANDOM_ANSWERS_EXAMPLES=200 RANDOM_ANSWERS_SEED=$RANDOM make test`` (or
``.venv/bin/pytest -q tests/test_random_answers.py`` with those variables).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, note, seed, settings
from hypothesis import strategies as st
from slugify import slugify

from .envs import shared_env
from .helpers import TEMPLATE, environ, hook_module, leftovers, python_for, render, run

# Its module fixtures are built once: keep the whole file on one xdist worker.
pytestmark = pytest.mark.xdist_group("random-answers")
SPEC = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
CHOICES = {k: v for k, v in SPEC.items() if isinstance(v, list) and not k.startswith("_")}
EXAMPLES = int(os.environ.get("RANDOM_ANSWERS_EXAMPLES", "4"))
SEED = int(os.environ.get("RANDOM_ANSWERS_SEED", "20261201"))
SLUG_MAX = 53
#: Letters as users type them: ASCII, accented, a few non-Latin; digits, hyphens, apostrophes.
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèêëàâäôöüûçñøåßÉÖÅ"
CHARS = LETTERS + "0123456789-'’"
STANDALONE_TESTS = ["tests/test_units.py", "tests/test_docs.py", "tests/test_replay.py",
                    "tests/test_cli.py", "-k", "help or exit_codes_are_distinct or usage_errors"]
PRE_GEN = hook_module("pre_gen_project")


@st.composite
def app_names(draw: st.DrawFn) -> str:
    """A name starting with a letter, cut so its slug is 1 to 53 characters long."""
    first = draw(st.sampled_from(LETTERS))
    words = draw(st.lists(st.text(alphabet=CHARS, min_size=1, max_size=14), min_size=0, max_size=8))
    name = " ".join([first + (words[0] if words else ""), *words[1:]]).strip()
    while len(slugify(name)) > SLUG_MAX:
        name = name[:-1].rstrip()
    return name


@st.composite
def answer_sets(draw: st.DrawFn) -> dict[str, str]:
    answers = {key: draw(st.sampled_from(values)) for key, values in CHOICES.items()}
    answers["app_name"] = draw(app_names())
    floor = 2 if answers["autoscaling"] != "none" else 1
    answers["worker_replicas"] = str(draw(st.integers(min_value=floor, max_value=100)))
    answers["init_git"] = "no"  # git is proven by the hook tests; here it only costs time
    return answers


def full_answers(answers: dict[str, str]) -> dict[str, Any]:
    """The answers cookiecutter derives from these (slug, package, queue), for the hook's own check."""
    derived = {k: v for k, v in SPEC.items() if isinstance(v, str)}
    slug = slugify(answers["app_name"])
    return {**derived, **answers, "app_slug": slug, "package_name": slug.replace("-", "_"), "task_queue": slug}


@seed(SEED)
# No shrinking: each example renders and type-checks a project (~10 s), and the failing answers
# are printed as drawn, which already names what broke.
@settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(answers=answer_sets())
def test_random_valid_answers_render_a_project_that_passes_its_checks(answers: dict[str, str]) -> None:
    note(f"answers: {answers}")
    errors, _ = PRE_GEN.validate(full_answers(answers))
    if errors:  # e.g. a slug that ends up shadowing a dependency: the hook refuses, which is right
        return
    folder = Path(tempfile.mkdtemp(prefix="random-answers-"))
    try:
        with environ(UV_OFFLINE="1"):  # the hook locks from uv's cache: locking is tested elsewhere, speed matters here
            project = render(folder, **answers)
        assert project.name == slugify(answers["app_name"])
        assert leftovers(project) == []
        env = shared_env(project, python_for(answers["python_version"]))
        variables = env.environ(project)
        run([str(env.bin / "ruff"), "check", "--no-cache", "."], cwd=project, env=variables)
        run([str(env.bin / "mypy"), "--cache-dir", str(env.mypy_cache)], cwd=project, env=variables)
        run([str(env.bin / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", *STANDALONE_TESTS],
            cwd=project, env=variables)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_name_strategy_reaches_the_slug_limit_and_uses_every_kind_of_character() -> None:
    """A control: the strategy must produce what the docstring promises, or the test above proves less."""
    seen: list[str] = []

    @seed(SEED)
    @settings(max_examples=300, database=None, deadline=None)
    @given(name=app_names())
    def collect(name: str) -> None:
        seen.append(name)

    collect()
    slugs = [slugify(name) for name in seen]
    assert max(map(len, slugs)) == SLUG_MAX and min(map(len, slugs)) <= 3
    joined = "".join(seen)
    for kind in ("-", "'", "é", "0"):
        assert any(c in joined for c in kind), kind
