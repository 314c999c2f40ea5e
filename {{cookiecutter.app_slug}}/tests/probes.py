"""Helpers for tests that talk to a worker over HTTP or run it as a real process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def http_get(port: int, path: str, within: float = 3.0) -> tuple[int, str]:
    """``(status, body)`` of ``GET path`` on localhost; status 0 when nothing answers."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), within)
    except (OSError, TimeoutError):
        return 0, ""
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), within)
    except (OSError, TimeoutError):
        return 0, ""
    finally:
        writer.close()
    head, _, body = raw.decode("utf-8", "replace").partition("\r\n\r\n")
    parts = head.split(" ", 2)
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0), body


async def wait_for_status(port: int, path: str, expected: int, within: float = 15.0) -> float:
    """Poll until ``path`` answers ``expected``; return the seconds it took."""
    started = time.monotonic()
    last = -1
    while time.monotonic() - started < within:
        last, _ = await http_get(port, path)
        if last == expected:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} on :{port} answered {last}, not {expected}, within {within}s")


class WorkerProcess:
    """A worker as its own OS process, so it gets a real SIGTERM."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log

    @classmethod
    async def start(cls, argv: Sequence[str], env: Mapping[str, str], cwd: Path, name: str) -> WorkerProcess:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "SOURCE_"))}
        log = cwd / f"{name}.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                *argv, env={**clean, **env}, cwd=cwd, stdout=out, stderr=asyncio.subprocess.STDOUT
            )
        return cls(proc, log)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-6000:]

    async def terminate(self, within: float = 30.0) -> tuple[int, float]:
        """Send SIGTERM; return ``(exit code, seconds until exit)``."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), within)
        return code, time.monotonic() - started

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def console_script(name: str) -> str:
    """The installed console script next to this interpreter (the real entry point)."""
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        raise AssertionError(f"console script {name} not found next to {sys.executable}")
    return str(path)
