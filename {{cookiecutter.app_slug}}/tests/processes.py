"""Real processes for fault tests: a worker subprocess and a restartable Temporal server.

Fault tests must kill things for real, so the worker runs as ``python -m
{{ cookiecutter.package_name }} worker`` exactly as in production, and the Temporal server
keeps its state in a file so it can be stopped and started again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from {{ cookiecutter.package_name }}.engine.models import Checkpoint, workflow_key
from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.runtime.config import DEFAULT_NAMESPACE
from {{ cookiecutter.package_name }}.runtime.devserver import temporal_cli

PACKAGE = "{{ cookiecutter.package_name }}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class WorkerProcess:
    """``python -m <package> worker`` with its own environment; output goes to ``log``."""

    def __init__(self, folder: Path, name: str, env: Mapping[str, str]) -> None:
        self.log = folder / f"{name}.log"
        self._out = self.log.open("wb")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "SOURCE_"))}
        defaults = {"HEALTH_PORT": "0", "METRICS_PORT": "0", "GRACEFUL_SHUTDOWN_SECONDS": "1",
                    "LOG_LEVEL": "INFO", "MAX_CONCURRENT_ACTIVITIES": "2"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", PACKAGE, "worker"],
            env={**base, **defaults, **env}, cwd=folder, stdout=self._out, stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup, like a deleted pod or an OOM kill."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class DevServer:
    """``temporal server start-dev --db-filename``: its history survives a restart."""

    def __init__(self, folder: Path) -> None:
        self.db = folder / "temporal.db"
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._log = folder / "temporal-server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self._launch()
        assert self._proc is not None
        deadline = time.monotonic() + 30
        while True:
            try:
                await self.connect()
                return
            except RuntimeError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise
                await asyncio.sleep(0.2)

    async def connect(self) -> Client:
        """A client on this app's namespace (the worker's, from ``.env``), not just ``default``."""
        return await Client.connect(self.address, namespace=DEFAULT_NAMESPACE, data_converter=pydantic_data_converter)

    def _launch(self) -> None:
        args = [temporal_cli(), "server", "start-dev", "--db-filename", str(self.db), "--namespace", DEFAULT_NAMESPACE,
                "--ip", "127.0.0.1", "--port", str(self.port), "--headless",
                "--http-port", str(free_port()), "--metrics-port", str(free_port()), "--log-level", "error"]
        with self._log.open("ab") as out:
            self._proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None


def run_key(handle: WorkflowHandle[Any, Any]) -> str:
    """The state-store prefix of a started workflow's checkpoints (``ckpt|`` + ``RunContext.run_key``)."""
    return "ckpt|" + workflow_key(handle.id)


async def wait_for_checkpoint(state: StateStore, run_key: str, within: float = 60) -> Checkpoint:
    """Block until some slice of ``run_key`` has at least one finished batch."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for entry in (await state.scan(run_key + "|")).values():
            checkpoint = Checkpoint.model_validate(entry.value)
            if len(checkpoint.parts) >= 1:
                return checkpoint
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no checkpoint for {run_key} within {within}s")


async def checkpoints(state: StateStore, run_key: str) -> dict[str, Checkpoint]:
    return {k: Checkpoint.model_validate(e.value) for k, e in (await state.scan(run_key + "|")).items()}
