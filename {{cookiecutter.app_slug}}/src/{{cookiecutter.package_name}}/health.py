"""Tiny HTTP server for Kubernetes probes; no web framework needed.

``/livez``  - the event loop answers and the worker's poll loop is alive.
             It never depends on the Temporal server, or an outage would
             turn into a restart storm.
``/readyz`` - connected to Temporal, worker running, not draining.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class HealthState:
    connected: bool = False
    running: bool = False
    draining: bool = False
    poll_loop_alive: bool = True

    def live(self) -> bool:
        return self.poll_loop_alive

    def ready(self) -> bool:
        return self.connected and self.running and not self.draining


async def start_health_server(state: HealthState, host: str, port: int) -> asyncio.Server:
    """Serve ``/livez`` and ``/readyz`` for ``state`` on ``host:port``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            path = request_line.decode("latin-1").split(" ")[1] if request_line.count(b" ") >= 2 else ""
            ok = {"/livez": state.live, "/readyz": state.ready}.get(path)
            status = "404 Not Found" if ok is None else ("200 OK" if ok() else "503 Service Unavailable")
            body = status.split(" ", 1)[1].encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
