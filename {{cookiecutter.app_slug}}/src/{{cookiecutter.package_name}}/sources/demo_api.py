"""A small local JSON API for ``dev`` mode and the tests of ``rest.py``: real HTTP, fake data.

It serves what ``rest.ENDPOINTS`` expects: ``/users`` paged by an opaque
cursor, ``/orders`` paged by page number with a page count, ``/version``.
Requests need the token (``Authorization: Bearer <token>`` or
``X-Api-Key: <token>``). Every request is recorded (time, path, status), and
faults can be injected: every ``fail_every``-th request, and the requests
numbered in ``fail_at`` (from 1), answer ``fail_status`` with
``Retry-After: <retry_after>``.

    with DemoApi(token="t") as base_url:  # http://127.0.0.1:<free port>
        ...

or ``python -m <package>.sources.demo_api --port 8000 --token t``.
"""

from __future__ import annotations

import argparse
import base64
import json
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

VERSION = "1.0.0"
MAX_PAGE = 100
Query = dict[str, list[str]]
Answer = tuple[int, Any, dict[str, str]]  # status, JSON body, extra headers
_STATUSES = ("new", "paid", "shipped", "delivered", "returned")


@dataclass(frozen=True)
class Request:
    """One request as the server saw it: ``at`` is ``time.monotonic()`` on arrival."""

    at: float
    path: str
    query: str
    status: int


def user(n: int) -> dict[str, Any]:
    return {"id": n, "name": f"User {n:03d}", "email": f"user{n:03d}@example.com",
            "created": (date(2024, 1, 1) + timedelta(days=n)).isoformat(), "active": n % 7 != 0}


def order(n: int, users: int) -> dict[str, Any]:
    return {"id": 1000 + n, "user_id": (n * 37) % users + 1, "status": _STATUSES[n % len(_STATUSES)],
            "total": {"amount": f"{(n * 1234) % 50000 / 100:.2f}", "currency": "EUR"}, "lines": n % 4 + 1}


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_cursor(token: str) -> int | None:
    try:
        kind, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        return int(offset) if kind == "offset" else None
    except ValueError:
        return None


class DemoApi:
    """The API in a daemon thread on 127.0.0.1; ``start()`` returns its base URL, ``stop()`` ends it."""

    def __init__(self, token: str | None = "demo-token", users: int = 250, orders: int = 130,
                 fail_every: int = 0, fail_at: Collection[int] = (), fail_status: int = 429,
                 retry_after: str | None = "0", port: int = 0) -> None:
        self.token, self.users, self.orders = token, users, orders
        self.fail_every, self.fail_at = fail_every, frozenset(fail_at)
        self.fail_status, self.retry_after = fail_status, retry_after
        self.port = port
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the demo API is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"api": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="demo-api", daemon=True)  # a short poll: stop() returns soon
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def answer(self, path: str, query: Query, headers: dict[str, str]) -> Answer:
        """Status, JSON body and extra headers for one request; records it."""
        with self._lock:
            number = len(self.requests) + 1
            status, body, extra = self._route(number, path, query, headers)
            self.requests.append(Request(time.monotonic(), path, _query(query), status))
        return status, body, extra

    def _route(self, number: int, path: str, query: Query, headers: dict[str, str]) -> Answer:
        if number in self.fail_at or (self.fail_every and number % self.fail_every == 0):
            extra = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return self.fail_status, {"error": "injected fault"}, extra
        if self.token is not None and self.token not in (headers.get("authorization", "").removeprefix("Bearer "),
                                                         headers.get("x-api-key")):
            return 401, {"error": "missing or wrong token"}, {}
        if path == "/version":
            return 200, {"name": "demo", "version": VERSION}, {}
        if path == "/users":
            return self._users(query)
        if path == "/orders":
            return self._orders(query)
        return 404, {"error": f"no such path {path}"}, {}

    def _users(self, query: Query) -> Answer:
        limit = _int(query, "limit", 20)
        offset = decode_cursor(query["cursor"][0]) if "cursor" in query else 0
        if limit is None or offset is None:
            return 400, {"error": "bad limit or cursor"}, {}
        end = min(offset + min(limit, MAX_PAGE), self.users)
        following = encode_cursor(end) if end < self.users else None
        return 200, {"data": [user(n) for n in range(offset + 1, end + 1)], "next_cursor": following}, {}

    def _orders(self, query: Query) -> Answer:
        page, size = _int(query, "page", 1), _int(query, "per_page", 20)
        if page is None or size is None or page < 1 or size < 1:
            return 400, {"error": "bad page or per_page"}, {}
        size = min(size, MAX_PAGE)
        start = (page - 1) * size
        items = [order(n, self.users) for n in range(start + 1, min(start + size, self.orders) + 1)]
        return 200, {"items": items, "page": page, "per_page": size, "total": self.orders,
                     "total_pages": -(-self.orders // size)}, {}


class _Handler(BaseHTTPRequestHandler):
    api: DemoApi
    protocol_version = "HTTP/1.1"  # keep-alive, so clients pool connections as with a real API
    disable_nagle_algorithm = True  # else each answer waits ~40 ms for the client's delayed ACK
    wbufsize = 1 << 16  # headers and body in one write; the base class flushes after each request

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, extra = self.api.answer(url.path, parse_qs(url.query), headers)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the API records its requests in ``DemoApi.requests`` instead of printing them."""


def _int(query: Query, name: str, default: int) -> int | None:
    try:
        return int(query[name][0]) if name in query else default
    except ValueError:
        return None


def _query(query: Query) -> str:
    return "&".join(f"{k}={v}" for k, values in sorted(query.items()) for v in values)


def main() -> None:
    """Serve the demo API in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description="a local demo JSON API for the REST source")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--token", default="demo-token")
    args = parser.parse_args()
    api = DemoApi(token=args.token, port=args.port)
    print(f"demo API on {api.start()} (token from --token); Ctrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        api.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
