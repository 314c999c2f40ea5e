"""The declared option matrix: which answer combinations we support, and which we refuse.

``SUPPORTED`` covers every choice value of cookiecutter.json at least once
(``tests/test_matrix.py`` checks that, and that no entry names an unknown key).
Every supported entry is rendered and gets ruff + mypy; entries with
``full=True`` also run the generated project's whole pytest. Entries that
differ from a full one only in text or in removed files get the static checks.

``UNSUPPORTED`` are combinations of individually legal answers that the
pre-generation hook must refuse, with a fragment of the message it must print.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Combo:
    id: str
    answers: dict[str, str] = field(default_factory=dict)
    full: bool = False  # run the generated project's full pytest, not only ruff + mypy


# 53 characters: the longest app_slug the pre-generation hook accepts.
LONG_NAME = "Enterprise Data Platform Catalog Metadata Extractor X"

SUPPORTED: list[Combo] = [
    Combo("postgresql-defaults", {"source": "postgresql"}, full=True),
    # Hostile but legal names ride on a full rendering, so they are proven at run time too:
    # apostrophes, quotes, non-ASCII letters, punctuation, a non-default namespace and queue.
    Combo("mysql-py312-hpa-no-ci-hostile-names", {
        "app_name": "Zoë's Café \"Catalogue\" Extractor",
        "description": "Reads Zoë's catalogues: quotes \"ok\", apostrophes ' ok, <tags> & ampersands; ünïcödé ✓.",
        "author_name": "Jürgen O'Brien-Łukasiewicz",
        "author_email": "jurgen.o'brien+data@example.co.uk",
        "temporal_namespace": "prod.a1b2c", "task_queue": "zoe_cafe.extract-v2",
        "source": "mysql", "python_version": "3.12", "autoscaling": "hpa",
        "ci_provider": "none", "init_git": "no", "worker_replicas": "2",
    }, full=True),
    Combo("sqlite-py313-keda", {
        "source": "sqlite", "python_version": "3.13", "autoscaling": "keda",
        "worker_replicas": "2", "init_git": "no",
    }, full=True),
    Combo("rest-py312", {"source": "rest", "python_version": "3.12", "init_git": "no"}, full=True),
    # Static checks only: these differ from the full ones in text, limits or removed files.
    Combo("sqlite-one-replica", {"source": "sqlite", "worker_replicas": "1", "init_git": "no"}),
    Combo("mysql-100-replicas-keda", {
        "source": "mysql", "worker_replicas": "100", "autoscaling": "keda", "init_git": "no",
        "app_name": "L'Équipe Données", "author_name": "Ана Петрова",
    }),
    Combo("long-names-postgresql", {
        "app_name": LONG_NAME, "source": "postgresql", "python_version": "3.12",
        "ci_provider": "none", "init_git": "no",
    }),
]

#: (id, answers, message fragment the pre-generation hook must print)
UNSUPPORTED: list[tuple[str, dict[str, str], str]] = [
    ("hpa-one-replica", {"autoscaling": "hpa", "worker_replicas": "1"},
     "must be 2 or more with autoscaling=hpa"),
    ("keda-one-replica", {"autoscaling": "keda", "worker_replicas": "1", "source": "sqlite"},
     "must be 2 or more with autoscaling=keda"),
]
