"""Podman for the container test: the engine, the base image stand-in and image builds.

Everything goes through ``scripts/podman.sh`` (private config and storage under
``.cache/containers``), and the base image comes from ``scripts/base-image.sh``
(mmdebstrap, no registry). Builds reach PyPI the way this machine's own pip does:
its settings (config files and ``PIP_*`` variables) are written to a pip.conf in a
throwaway home folder that is mounted read-only at ``/root`` for the build's RUN
steps, together with the CA bundle and any local index folders the settings name.
``/root`` exists in every base image, so nothing of this ends up in a layer.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import TEMPLATE

PODMAN_SH = TEMPLATE / "scripts" / "podman.sh"
BASE_IMAGE_SH = TEMPLATE / "scripts" / "base-image.sh"
CACHE = Path(os.environ.get("CONTAINERS_CACHE_DIR", TEMPLATE / ".cache" / "containers"))
#: Where the build's RUN steps see the host's files (read-only, below the mounted home).
HOST_VIEW = "/root/.host"
#: pip settings passed through to the build; the rest (cache, user, ...) stay the image's business.
PIP_KEYS = ("index-url", "extra-index-url", "find-links", "trusted-host", "proxy", "cert", "client-cert",
            "constraint", "timeout", "default-timeout", "retries", "no-index", "prefer-binary")
PATH_KEYS = ("index-url", "extra-index-url", "find-links", "cert", "client-cert", "constraint")
CA_CANDIDATES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE")


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``podman ARGS`` with the repository's private configuration."""
    proc = subprocess.run(["bash", str(PODMAN_SH), *args], capture_output=True, text=True, timeout=timeout,
                          check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {proc.returncode}\n"
                             f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}")
    return proc


def engine_problem() -> str | None:
    """Why no container can run here, or ``None`` when podman works."""
    if shutil.which("podman") is None:
        return "podman is not installed (the template's .ci/run installs podman, runc and mmdebstrap with apt-get)"
    if shutil.which("runc") is None:
        return "runc is not installed (apt-get install runc)"
    proc = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False, timeout=60)
    if proc.returncode != 0:
        return f"podman cannot start here: {proc.stderr.strip()[-500:]}"
    return None


def base_image_name(dockerfile: Path) -> str:
    """The image the Dockerfile's FROM uses when no BASE_IMAGE build argument is given."""
    text = dockerfile.read_text(encoding="utf-8")
    args = dict(re.findall(r"^ARG (\w+)=(\S*)", text, re.M))
    match = re.search(r"^FROM \$\{BASE_IMAGE:-(.+)\} AS base$", text, re.M)
    name = match[1] if match else args.get("BASE_IMAGE", "")
    name = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], ""), name)
    assert name, f"no default base image in {dockerfile}"
    return name


def ensure_base_image(python_version: str, name: str) -> str:
    """The stand-in base image ``name`` (built once, then cached)."""
    proc = subprocess.run(["bash", str(BASE_IMAGE_SH), python_version], capture_output=True, text=True,
                          timeout=600, check=False, env={**os.environ, "BASE_IMAGE": name})
    if proc.returncode != 0:
        raise AssertionError(f"scripts/base-image.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc.stdout.strip().splitlines()[-1]


def host_pip_settings(python: str = sys.executable) -> dict[str, str]:
    """This machine's effective pip settings: config files, then ``PIP_*`` variables over them."""
    proc = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False,
                          timeout=60)
    files: dict[str, str] = {}
    env: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        match = re.fullmatch(r"(:env:|global|install|download|wheel)\.([a-z-]+)='(.*)'", line.strip())
        if match and match[2] in PIP_KEYS:
            (env if match[1] == ":env:" else files)[match[2]] = match[3]
    settings = {**files, **env}
    if "cert" not in settings:
        bundle = next((os.environ[v] for v in CA_CANDIDATES if os.environ.get(v)), "/etc/ssl/certs/ca-certificates.crt")
        if Path(bundle).is_file():
            settings["cert"] = bundle
    return settings


@dataclass
class BuildHome:
    """A home folder for the build's RUN steps, and the ``--volume`` options that mount it."""

    folder: Path
    volumes: list[str]
    ca_bundle: str | None = None  # the CA bundle's path inside the build, for uv (it reads no pip.conf)


def build_home(folder: Path, settings: dict[str, str]) -> BuildHome:
    """Write ``.config/pip/pip.conf`` for ``settings``; local paths are mounted under HOST_VIEW (read-only)."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / ".config" / "pip").mkdir(parents=True)
    mounts: dict[str, str] = {}  # host path -> path in the build

    def inside(value: str, index: bool) -> str:
        prefix = "file://" if value.startswith("file://") else ""
        path = value[len(prefix):]
        if not path.startswith("/") or not Path(path).exists():
            return value  # a URL or a host name: pip reaches it over the (host) network
        resolved = Path(path).resolve()
        # A local index (<root>/simple) links to its files relatively (../../files/...): mount <root>.
        host = resolved.parent if index and resolved.is_dir() else resolved
        mounts[str(host)] = HOST_VIEW + str(host)
        placeholder = folder / (HOST_VIEW + str(host)).removeprefix("/root/")  # the mount point, made here
        if host.is_dir():
            placeholder.mkdir(parents=True, exist_ok=True)
        else:
            placeholder.parent.mkdir(parents=True, exist_ok=True)
            placeholder.touch()
        return prefix + HOST_VIEW + str(resolved)

    lines = ["# Written by tests/containers.py from this machine's pip settings; mounted read-only.", "[global]"]
    ca_bundle = None
    for key, value in settings.items():
        if key in PATH_KEYS:
            value = " ".join(inside(part, key.endswith("index-url")) for part in value.split())
        if key == "cert":
            ca_bundle = value
        lines.append(f"{key} = {value}")
    (folder / ".config" / "pip" / "pip.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")
    volumes = [f"{folder}:/root:ro"] + [f"{host}:{target}:ro" for host, target in sorted(mounts.items())]
    return BuildHome(folder, volumes, ca_bundle)


@dataclass
class Build:
    seconds: float
    cached_steps: int
    steps: int
    output: str

    def new_images(self) -> list[str]:
        """Ids of the images this build made (not taken from the cache), in build order."""
        made, cached = [], False
        for line in self.output.splitlines():
            if line.startswith("--> Using cache "):
                cached = True
            elif re.fullmatch(r"--> [0-9a-f]{11,64}", line.strip()):
                if not cached:
                    made.append(line.strip()[4:])
                cached = False
        return made


def remove_images(ids: list[str]) -> None:
    """Remove images a build made, newest first (children before their parents)."""
    if ids:
        podman("rmi", "--force", "--ignore", "--no-prune", *reversed(ids), check=False, timeout=120)


def build_image(context: Path, tag: str, home: BuildHome, *build_args: str, no_cache: bool = False,
                timeout: float = 900) -> Build:
    """``podman build`` (docker format keeps HEALTHCHECK; host network; never pulls)."""
    args = ["build", "--format", "docker", "--network", "host", "--pull=never", "--layers", "-t", tag]
    if no_cache:
        args.append("--no-cache")
    for volume in home.volumes:
        args += ["--volume", volume]
    for arg in build_args:
        args += ["--build-arg", arg]
    if home.ca_bundle:
        args += ["--build-arg", f"BUILD_CA_BUNDLE={home.ca_bundle}"]
    started = time.monotonic()
    proc = podman(*args, str(context), timeout=timeout)
    seconds = time.monotonic() - started
    out = proc.stdout + proc.stderr
    return Build(seconds, out.count("--> Using cache"), len(re.findall(r"STEP \d+/\d+: ", out)), out)


def normalize_mtimes(project: Path, epoch: int = 1_700_000_000) -> None:
    """Give every file one fixed mtime, so a fresh rendering of unchanged files hits the layer cache."""
    for path in [project, *project.rglob("*")]:
        if not path.is_symlink():
            os.utime(path, (epoch, epoch))
