"""One virtualenv per dependency set, shared by every rendering that has it.

Renderings differ in names (package, slug) far more often than in what they
install: the dependency set depends on the dialect and the Python version
only. Keyed by a hash of those requirements, an environment is built once
(``uv pip install -r pyproject.toml --extra dev``, without the project
itself) and reused; the rendering's own code runs from its ``src`` via
``PYTHONPATH``. A mypy cache per environment is shared the same way, so
third-party stubs are analysed once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .helpers import TEMPLATE, UV, run

CACHE = Path(os.environ.get("TEMPLATE_TEST_CACHE", TEMPLATE / ".cache" / "envs"))


@dataclass(frozen=True)
class SharedEnv:
    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def mypy_cache(self) -> Path:
        return self.root / "mypy-cache"

    def environ(self, project: Path) -> dict[str, str]:
        """Run the rendering's code from its source folder, with this environment's tools first."""
        return {"PYTHONPATH": str(project / "src"), "PATH": f"{self.bin}:{os.environ['PATH']}",
                "VIRTUAL_ENV": str(self.root)}


def requirements(project: Path) -> list[str]:
    """What the rendering installs besides itself: its dependencies plus the dev extra."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    return sorted({*meta["dependencies"], *meta["optional-dependencies"]["dev"]})


def shared_env(project: Path, python: str) -> SharedEnv:
    """The environment for ``project``'s dependency set on ``python``, built on first use."""
    key = hashlib.sha256(json.dumps([python, requirements(project)]).encode()).hexdigest()[:16]
    env = SharedEnv(CACHE / key)
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{key}.lock").open("w") as lock:  # pytest-xdist workers may build the same one
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (env.root / ".complete").exists():
            run([UV, "venv", "-q", "--clear", "--python", python, str(env.root)], cwd=project)
            run([UV, "pip", "install", "-q", "--python", str(env.bin / "python"), "-r", "pyproject.toml",
                 "--extra", "dev"], cwd=project)
            (env.root / ".complete").write_text("\n".join(requirements(project)) + "\n")
    return env
