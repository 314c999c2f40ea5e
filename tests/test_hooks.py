"""Hook functions, unit-tested directly, plus rejected answers through the real cookiecutter CLI."""

from __future__ import annotations

import json
import keyword
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cookiecutter.environment import StrictEnvironment

from .helpers import COOKIECUTTER, TEMPLATE, hook_module, reject, render

pre: ModuleType = hook_module("pre_gen_project")
post: ModuleType = hook_module("post_gen_project")

DEFAULTS: dict[str, str] = {
    "app_name": "Catalog Extractor", "app_slug": "catalog-extractor", "package_name": "catalog_extractor",
    "description": "Extracts SQL catalog metadata.", "author_name": "Data Platform Team",
    "author_email": "data-platform@example.com", "source": "postgresql",
    "temporal_namespace": "default", "task_queue": "catalog-extractor", "python_version": "3.11",
    "worker_replicas": "3", "autoscaling": "none", "ci_provider": "github", "init_git": "yes",
}


def answers(**overrides: str) -> dict[str, str]:
    return {**DEFAULTS, **overrides}


# --- pre_gen_project: pure rules -------------------------------------------------------------

def test_defaults_pass_without_warnings() -> None:
    assert pre.validate(answers()) == ([], [])


def test_hook_choices_match_cookiecutter_json() -> None:
    spec = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    choices = {k: tuple(v) for k, v in spec.items() if isinstance(v, list) and not k.startswith("_")}
    assert choices == pre.CHOICES


def test_every_prompt_has_wording_and_every_public_key_a_rule() -> None:
    spec = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    public = {k for k in spec if not k.startswith("_")}
    assert public == set(spec["__prompts__"])
    # Breaking each answer must produce an error naming that field.
    for key in public:
        bad = "\n" if key not in pre.CHOICES else "nope"
        errors, _ = pre.validate(answers(**{key: bad}))
        assert any(e.startswith(f"{key}=") for e in errors), key


@pytest.mark.parametrize("slug", ["a", "catalog-extractor", "x1-2", "a" * 53])
def test_slug_accepts_dns_labels(slug: str) -> None:
    assert pre.check_slug(slug) == []


@pytest.mark.parametrize("slug", ["", "1abc", "-abc", "abc-", "Abc", "a_b", "a.b", "a" * 54, "zoë"])
def test_slug_rejects(slug: str) -> None:
    [message] = pre.check_slug(slug)
    assert message.startswith(f"app_slug={slug!r}: must be a DNS-1123 label of at most 53")


@pytest.mark.parametrize("name", ["class", "match", "json", "tests", "temporalio", "Pkg", "_x", "a-b", "é"])
def test_package_rejects(name: str) -> None:
    [message] = pre.check_package(name)
    assert message.startswith(f"package_name={name!r}")
    assert keyword.iskeyword(name) or "identifier" in message or "shadow" in message


def test_replicas_warn_below_three_and_reject_out_of_range() -> None:
    assert pre.check_replicas("3") == ([], [])
    assert pre.check_replicas("100") == ([], [])
    errors, warnings = pre.check_replicas("1")
    assert errors == [] and "not highly available" in warnings[0] and "3 or more" in warnings[0]
    for bad in ("0", "-1", "03", "2.5", "three", "101", ""):
        errors, _ = pre.check_replicas(bad)
        assert errors and "whole number from 1 to 100" in errors[0], bad


@pytest.mark.parametrize("email", ["a@b.co", "first.last+tag@example.co.uk", "o'brien@example.com"])
def test_email_accepts(email: str) -> None:
    assert pre.check_email(email) == []


@pytest.mark.parametrize("email", ["nobody", "a@b", "a@@b.com", "a b@c.com", "zoë@example.com", "@x.com"])
def test_email_rejects(email: str) -> None:
    assert "must look like name@example.com" in pre.check_email(email)[0]


@pytest.mark.parametrize("text", ["Zoë's Café", 'He said "hi"', "<b> & ;", "数据 catalog", "a" * 100])
def test_text_renders_safely_so_it_is_accepted(text: str) -> None:
    assert pre.check_text("app_name", text) == []


@pytest.mark.parametrize(("text", "rule"), [
    ("a\nb", "one line of printable text"), ("tab\there", "one line of printable text"),
    ("bell\x07", "one line of printable text"), ("C:\\new", "backslash"), ('x """ y', "three double quotes"),
    ("{" + "{ x }}", "template delimiters"), ("{" + "% if %}", "template delimiters"),
    ("${" + "{ secrets.X }}", "template delimiters"), ("", "must not be empty"), (" pad", "whitespace"),
    ("a" * 101, "at most 100 characters"),
])
def test_text_rejects(text: str, rule: str) -> None:
    [message] = pre.check_text("app_name", text)
    assert message.startswith(f"app_name={text!r}") and rule in message and "Fix:" in message


@pytest.mark.parametrize(("field", "value"), [
    ("temporal_namespace", "my ns"), ("temporal_namespace", "ns/x"), ("task_queue", "queue-"),
    ("task_queue", "q" * 201), ("task_queue", "_q"),
])
def test_temporal_names_reject(field: str, value: str) -> None:
    errors, _ = pre.validate(answers(**{field: value}))
    assert len(errors) == 1 and errors[0].startswith(f"{field}={value!r}: must be at most")
    assert "A-Z, a-z, 0-9, '.', '_', '-'" in errors[0]


def test_choice_outside_list_is_refused_by_the_hook() -> None:
    errors, _ = pre.validate(answers(source="oracle"))
    assert errors == [("source='oracle': must be one of postgresql, mysql, sqlite, rest. "
                       "Fix: pass source=postgresql.")]


def test_main_prints_warnings_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert pre.main(answers(worker_replicas="1")) == 0
    assert "WARNING: worker_replicas=1" in capsys.readouterr().err
    assert pre.main(answers(app_slug="Bad Slug")) == 1
    err = capsys.readouterr().err
    assert "ERROR: app_slug='Bad Slug'" in err and "nothing was generated" in err


def _render_hook(name: str, context: dict[str, Any]) -> str:
    """Render a hook the way cookiecutter does, with its StrictEnvironment."""
    env = StrictEnvironment(context={"cookiecutter": context}, keep_trailing_newline=True)
    rendered: str = env.from_string((TEMPLATE / "hooks" / f"{name}.py").read_text()).render(cookiecutter=context)
    return rendered


@pytest.mark.parametrize("name", ["pre_gen_project", "post_gen_project"])
def test_rendered_hooks_read_hostile_answers_as_data(name: str, tmp_path: Path) -> None:
    hostile = answers(app_name="'''); import os; os.exit(3) #", description='\\"""\\\n\' }}',
                      author_name="Zoë \u2028 O'Brien")
    source = _render_hook(name, hostile)
    module = ModuleType(name)
    exec(compile(source, name, "exec"), module.__dict__)  # running the rendered hook is the point
    assert module.rendered_answers() == hostile


# --- post_gen_project: pure wiring -------------------------------------------------------------

VARIANT_TEXT = """\
keep 1
only mysql  # variant: source=mysql
both  # variant: source=postgresql,mysql
# >>> variant: source=postgresql
pg block
    # >>> variant: autoscaling=keda
    pg and keda
    # <<< variant
# <<< variant
keep 2
"""


@pytest.mark.parametrize(("dialect", "autoscaling", "expected"), [
    ("sqlite", "none", "keep 1\nkeep 2\n"),
    ("mysql", "none", "keep 1\nonly mysql\nboth\nkeep 2\n"),
    ("postgresql", "none", "keep 1\nboth\npg block\nkeep 2\n"),
    ("postgresql", "keda", "keep 1\nboth\npg block\n    pg and keda\nkeep 2\n"),
])
def test_strip_variants(dialect: str, autoscaling: str, expected: str) -> None:
    chosen = answers(source=dialect, autoscaling=autoscaling)
    assert post.strip_variants(VARIANT_TEXT, chosen) == expected


def test_strip_variants_caps_blank_lines_left_by_removed_blocks() -> None:
    block = "# >>> variant: source=mysql\n{}\n# <<< variant\n"
    text = "a\n\n\n" + block.format("x") + "\n\nb\n\n" + block.format("y")
    assert post.strip_variants(text, answers(source="sqlite")) == "a\n\n\nb\n"


@pytest.mark.parametrize(("text", "error"), [
    ("# >>> variant: nope=x\n# <<< variant\n", "unknown answer 'nope'"),
    ("# <<< variant\n", "without an opening"),
    ("# >>> variant: source=mysql\n", "left open"),
])
def test_strip_variants_rejects_broken_tags(text: str, error: str) -> None:
    with pytest.raises(post.VariantError, match=error):
        post.strip_variants(text, answers())


def _tree(root: Path, *files: str) -> None:
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x\n")


@pytest.mark.parametrize(("autoscaling", "ci", "left"), [
    ("none", "none", set()),
    ("hpa", "github", {"hpa.yaml", ".github"}),
    ("keda", "none", {"keda-scaledobject.yaml"}),
])
def test_remove_unselected(tmp_path: Path, autoscaling: str, ci: str, left: set[str]) -> None:
    _tree(tmp_path, "deploy/helm/app/templates/hpa.yaml", "deploy/helm/app/templates/keda-scaledobject.yaml",
          "deploy/helm/app/templates/deployment.yaml", ".github/workflows/ci.yml")
    post.remove_unselected(tmp_path, answers(autoscaling=autoscaling, ci_provider=ci))
    present = {p.name for p in tmp_path.rglob("*") if p.name in {"hpa.yaml", "keda-scaledobject.yaml", ".github"}}
    assert present == left
    assert (tmp_path / "deploy/helm/app/templates/deployment.yaml").exists()


@pytest.mark.parametrize(("source", "kept"), [("sqlite", True), ("mysql", True), ("rest", False)])
def test_paths_of_several_values_stay_for_each_of_them(tmp_path: Path, source: str, kept: bool) -> None:
    _tree(tmp_path, "src/app/runtime/report.py", "src/app/sources/rest.py", "docs/report.png")
    post.remove_unselected(tmp_path, answers(source=source))
    assert (tmp_path / "src/app/runtime/report.py").exists() == kept == (tmp_path / "docs").exists()
    assert (tmp_path / "src/app/sources/rest.py").exists() == (not kept)


def test_remove_unselected_tolerates_missing_files(tmp_path: Path) -> None:
    assert post.remove_unselected(tmp_path, answers(autoscaling="none", ci_provider="none")) == []


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite", "rest"])
def test_dotenv_has_no_secret_and_a_dialect_hint(dialect: str) -> None:
    example = "A=1\n# SOURCE_DEFAULT_DSN=postgresql://x@h/db\n"
    text = post.dotenv_text(example, answers(source=dialect))
    assert f"# SOURCE_DEFAULT_DSN={post.DSN_EXAMPLES[dialect]}" in text and "A=1\n" in text
    assert ":" not in post.DSN_EXAMPLES[dialect].split("@")[0].split("//")[1]  # no user:password


def test_write_dotenv_keeps_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("A=1\n")
    (tmp_path / ".env").write_text("MINE=1\n")
    assert post.write_dotenv(tmp_path, answers()) is None
    assert (tmp_path / ".env").read_text() == "MINE=1\n"


def test_recorded_answers_drop_machine_paths() -> None:
    context = {**answers(), "_template": "gh:x/y", "_output_dir": "/home/me", "_repo_dir": "/tmp/r",
               "_copy_without_render": ["a"], "_commit": "abc"}
    assert post.recorded_answers(context) == {**answers(), "_template": "gh:x/y"}


@pytest.mark.parametrize(("overrides", "git", "reason"), [
    ({"init_git": "no"}, "git", "init_git=no"),
    ({"_commit": "abc"}, "git", "rendered through cruft"),
    ({}, None, "git is not installed"),
])
def test_git_skip_reasons(tmp_path: Path, overrides: dict[str, str], git: str | None, reason: str) -> None:
    assert reason in (post.git_skip_reason(tmp_path, {**answers(), **overrides}, git) or "")


def test_git_is_not_nested_in_another_work_tree(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "app").mkdir()
    assert "inside another git work tree" in (post.git_skip_reason(tmp_path / "app", answers(), "git") or "")


# --- through cookiecutter: what users see --------------------------------------------------------

def test_render_records_answers_writes_env_and_commits(tmp_path: Path) -> None:
    project = render(tmp_path, source="sqlite")
    recorded = json.loads((project / ".cookiecutter.json").read_text())["cookiecutter"]
    assert {k: v for k, v in recorded.items() if not k.startswith("_")} == answers(
        source="sqlite", description="Extracts SQL catalog metadata with Temporal workflows.")
    assert "_output_dir" not in recorded
    env = (project / ".env").read_text()
    assert "TASK_QUEUE=catalog-extractor" in env and "# SOURCE_DEFAULT_DSN=sqlite:///" in env
    log = subprocess.run(["git", "log", "--format=%s"], cwd=project, capture_output=True, text=True, check=True)
    assert log.stdout.startswith("Initial commit")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True, check=False)
    assert status.stdout == ""  # .env is ignored, everything else committed


def test_answers_file_replays_to_the_same_project(tmp_path: Path) -> None:
    first = render(tmp_path / "a", source="mysql", init_git="no", app_name="Zoë's Extractor")
    again = subprocess.run(
        [COOKIECUTTER, "--replay-file",
         str(first / ".cookiecutter.json"), "-o", str(tmp_path / "b"), str(TEMPLATE)],
        capture_output=True, text=True, check=True)
    assert "skipped git init: init_git=no" in again.stdout
    second = tmp_path / "b" / first.name
    names = sorted(str(p.relative_to(first)) for p in first.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(second)) for p in second.rglob("*") if p.is_file())
    for name in names:
        if name != ".cookiecutter.json":
            assert (first / name).read_bytes() == (second / name).read_bytes(), name


# At least 15 rejected answers, each through the CLI: exit 1, the message, and an empty output folder.
REJECTED: list[tuple[dict[str, str], str]] = [
    ({"app_slug": "Catalog_Extractor"}, "app_slug='Catalog_Extractor': must be a DNS-1123 label"),
    ({"app_name": "A" * 60}, "app_slug='" + "a" * 60 + "': must be a DNS-1123 label of at most 53"),
    ({"app_name": "2024 Extractor"}, "app_slug='2024-extractor': must be a DNS-1123 label"),
    ({"package_name": "class"}, "package_name='class': must be a non-keyword Python identifier"),
    ({"package_name": "json"}, "package_name='json': would shadow the standard library"),
    ({"package_name": "my-pkg"}, "package_name='my-pkg': must be a non-keyword Python identifier"),
    ({"temporal_namespace": "prod ns"}, "temporal_namespace='prod ns': must be at most 255 characters"),
    ({"task_queue": "queue/with/slashes"}, "task_queue='queue/with/slashes': must be at most 200"),
    ({"worker_replicas": "0"}, "worker_replicas='0': must be a whole number from 1 to 100"),
    ({"worker_replicas": "three"}, "worker_replicas='three': must be a whole number"),
    ({"worker_replicas": "101"}, "worker_replicas='101': must be a whole number from 1 to 100"),
    ({"author_email": "not-an-email"}, "author_email='not-an-email': must look like name@example.com"),
    ({"description": "two\nlines"}, "description='two\\nlines': must be one line of printable text"),
    ({"app_name": "Back\\slash", "app_slug": "backslash"}, "app_name='Back\\\\slash': must not contain a backslash"),
    ({"author_name": "Tab\tName"}, "author_name='Tab\\tName': must be one line"),
    ({"description": 'Ends """ here'}, "must not contain a backslash or three double quotes"),
    ({"autoscaling": "hpa", "worker_replicas": "1"}, "must be 2 or more with autoscaling=hpa"),
]


@pytest.mark.parametrize(("bad", "message"), REJECTED, ids=[str(i) for i in range(len(REJECTED))])
def test_rejected_answer_leaves_nothing(tmp_path: Path, bad: dict[str, str], message: str) -> None:
    err = reject(tmp_path, **bad)
    assert message in err, err
    assert "Fix:" in err
    assert list(tmp_path.iterdir()) == []


def test_rejected_replay_choice_leaves_nothing(tmp_path: Path) -> None:
    """Cookiecutter checks choices on prompts; a replay file skips that, so the hook must."""
    replay = tmp_path / "answers" / "bad.json"
    replay.parent.mkdir()
    replay.write_text(json.dumps({"cookiecutter": {**answers(source="oracle")}}))
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(
        [COOKIECUTTER, "--replay-file", str(replay),
         "-o", str(out), str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert "source='oracle': must be one of postgresql, mysql, sqlite, rest" in proc.stderr
    assert list(out.iterdir()) == []


def test_cookiecutter_itself_refuses_unknown_choices_and_leaves_nothing(tmp_path: Path) -> None:
    err = reject(tmp_path, source="oracle")
    assert "oracle provided for choice variable source" in err
    assert list(tmp_path.iterdir()) == []


def test_template_syntax_typed_at_a_prompt_is_rejected(tmp_path: Path) -> None:
    """Typed answers reach the hook literally (command-line ones are rendered by cookiecutter first)."""
    proc = subprocess.run([COOKIECUTTER, "-o", str(tmp_path), str(TEMPLATE)], input="{" + "{ x }}\n" + "\n" * 20,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode != 0
    assert "app_name='{" + "{ x }}': must not contain template delimiters" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_git_missing_is_a_notice_not_a_failure(tmp_path: Path) -> None:
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    proc = subprocess.run([COOKIECUTTER, "--no-input", "-o", str(tmp_path / "out"), str(TEMPLATE)],
                          capture_output=True, text=True, timeout=120, env={"PATH": str(empty_path)}, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "NOTICE: skipped git init: git is not installed" in proc.stdout
    assert not (tmp_path / "out" / "catalog-extractor" / ".git").exists()


# --- post_gen_project: the lock file ------------------------------------------------------------

def _minimal_project(folder: Path) -> Path:
    folder.mkdir()
    (folder / "pyproject.toml").write_text('[project]\nname = "lock-probe"\nversion = "0"\nrequires-python = ">=3.11"\n'
                                           'dependencies = []\n')
    return folder


def test_lock_dependencies_writes_uv_lock(tmp_path: Path) -> None:
    project = _minimal_project(tmp_path / "p")
    notice = post.lock_dependencies(project, answers(), post.find_uv())
    assert notice == "NOTICE: locked the dependencies in uv.lock"
    assert 'name = "lock-probe"' in (project / "uv.lock").read_text()


def test_lock_dependencies_without_uv_or_under_cruft_leaves_it_to_make_install(tmp_path: Path) -> None:
    project = _minimal_project(tmp_path / "p")
    assert "uv not found" in post.lock_dependencies(project, answers(), None)
    assert "under cruft" in post.lock_dependencies(project, {**answers(), "_commit": "abc"}, post.find_uv())
    assert not (project / "uv.lock").exists()


def test_a_failed_lock_is_a_notice_not_a_failed_rendering(tmp_path: Path) -> None:
    project = _minimal_project(tmp_path / "p")
    (project / "pyproject.toml").write_text("[project]\nname = 'broken'\ndependencies = ['no such package ===']\n")
    notice = post.lock_dependencies(project, answers(), post.find_uv())
    assert notice.startswith("NOTICE: uv lock failed (") and "make install` retries" in notice


def test_every_rendering_is_locked_and_the_lock_matches(tmp_path: Path) -> None:
    project = render(tmp_path, init_git="no")
    check = subprocess.run([str(Path(post.find_uv() or "uv")), "lock", "--check", "--offline"], cwd=project,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
