"""Tiny HTTP server for Kubernetes probes; no web framework needed.

``/livez``  - the event loop is responsive and the worker's poll loop is alive.
             It never depends on the Temporal server: an outage must not turn
             into a restart storm. A draining worker is still live.
``/readyz`` - connected to Temporal, worker running, not draining.

Anything else is 404. The state is written by ``worker.py`` only.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

TICK_SECONDS = 1.0


@dataclass
class HealthState:
    """What the probes report; ``last_tick`` proves the event loop still runs tasks."""

    connected: bool = False
    running: bool = False
    draining: bool = False
    poll_loop_alive: bool = True
    max_loop_lag: float = 10.0
    last_tick: float = field(default_factory=time.monotonic)

    def loop_responsive(self) -> bool:
        return time.monotonic() - self.last_tick < self.max_loop_lag

    def live(self) -> bool:
        return self.poll_loop_alive and self.loop_responsive()

    def ready(self) -> bool:
        return self.connected and self.running and not self.draining and self.live()

    async def tick_forever(self, every: float = TICK_SECONDS) -> None:
        """Refresh ``last_tick``; if something blocks the loop, the tick goes stale and /livez fails."""
        while True:
            self.last_tick = time.monotonic()
            await asyncio.sleep(every)


async def start_health_server(state: HealthState, host: str, port: int) -> asyncio.Server:
    """Serve ``/livez`` and ``/readyz`` for ``state`` on ``host:port``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            path = request_line.decode("latin-1").split(" ")[1] if request_line.count(b" ") >= 2 else ""
            ok = {"/livez": state.live, "/readyz": state.ready}.get(path.split("?")[0])
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
