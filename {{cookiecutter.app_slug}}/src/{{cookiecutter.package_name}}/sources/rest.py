"""A paged JSON HTTP API as a ``Source``: endpoints are the groups, records the units.

YOUR ROOM. List your API's endpoints in ``ENDPOINTS`` below: each names where
its pages live (``path``), how they are paged (``CURSOR``: the response
carries the next token; ``PAGE_NUMBER``: ``page=1, 2, ...``) and the shape of
a response (where the items list is, where the next cursor or the page count
is, which field is an item's id). Set ``VERSION_PATH`` to where the API tells
its version, or ``None``. Everything else (auth, retries, rate limit,
resuming) is done here for every endpoint.

Configuration, per source ``<NAME>``:

- ``SOURCE_<NAME>_DSN`` is the base URL (``https://api.example.com/v1``), with
  optional settings as query parameters, stripped before any request:
  ``auth=bearer`` (default: ``Authorization: Bearer <secret>``),
  ``auth=header:X-Api-Key`` (the secret in that header) or ``auth=none``;
  ``rate=10`` (most requests per second this worker sends to the API; ``0``:
  no limit); ``label=name`` (the source's name in records; default the host).
- ``SOURCE_<NAME>_PASSWORD`` is the token or API key. It is sent in a header
  only: never in URLs, logs, errors, cursors or records.

The cursor is ``{"endpoint": <index in the slice>, "next": <token or page>}``,
so a retried attempt resumes at the first page not yet written. Each endpoint
is read whole by one slice (``Group.whole``): its size is unknown until read.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from urllib.parse import SplitResult, parse_qsl, urlsplit, urlunsplit

import httpx
from temporalio.exceptions import ApplicationError

from ..engine.errors import classify, permanent
from ..runtime.secrets import SourceConfigError, env_key, redact
from .base import Cursor, Group, NoMatch, Page, Record, SourceInfo, Vocabulary, Work, tally_kinds
from .records import qualify

log = logging.getLogger(__name__)

Pagination = Literal["cursor", "page_number"]
PageOfItems = tuple[list[Any], Any]  # one response's items, and the token or number of the next page (None: last)
CURSOR: Pagination = "cursor"
PAGE_NUMBER: Pagination = "page_number"


@dataclass(frozen=True)
class Endpoint:
    """One paged list of the API, and the shape of its responses.

    Dotted paths (``"meta.next"``) find values in a response; ``items=""``
    means the response is the list itself. Page-number endpoints stop at
    ``total_pages`` when the API gives it, else at the first short or empty
    page: set ``max_page_size`` to the API's cap so a capped page is not
    mistaken for the last one.
    """

    name: str  # the group's name and a part of every qualified name: keep it stable
    path: str  # relative to the base URL
    pagination: Pagination = CURSOR
    kind: str = "record"  # the records' kind
    plural: str = ""  # its count word; default kind + "s"
    items: str = "data"
    id_field: str = "id"
    next: str = "next_cursor"  # CURSOR: where the next token is; null, "" or missing ends
    cursor_param: str = "cursor"
    page_param: str = "page"
    first_page: int = 1
    total_pages: str = ""  # PAGE_NUMBER: where the page count is, if the API gives it
    size_param: str = "limit"  # "": send no page size; the API's own must then be max_page_size
    max_page_size: int = 100
    params: Mapping[str, str] = field(default_factory=dict)  # fixed query parameters

    @property
    def kinds(self) -> str:
        return self.plural or f"{self.kind}s"


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(name="users", path="/users", pagination=CURSOR, kind="user", items="data", next="next_cursor"),
    Endpoint(name="orders", path="/orders", pagination=PAGE_NUMBER, kind="order", items="items",
             size_param="per_page", total_pages="total_pages"),
)
#: Where the API tells its version (``VERSION_FIELD`` of a JSON object), or ``None``; a 404 means "".
VERSION_PATH: str | None = "/version"
VERSION_FIELD = "version"

DEFAULT_RATE = 10.0  # requests per second per source and worker
MAX_ATTEMPTS = 5  # per request, for 429, 5xx and transport errors; then Temporal retries the activity
MAX_WAIT = 120.0  # seconds: the longest Retry-After honoured, and the backoff cap
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

#: Count words, in summary order: endpoints, then each endpoint's record kind.
KINDS = ("endpoints", *dict.fromkeys(e.kinds for e in ENDPOINTS))


@dataclass(frozen=True)
class Options:
    """What a REST DSN configures; never holds the secret."""

    base_url: str
    label: str
    auth_header: str | None  # None: no auth
    bearer: bool
    rate: float


def parse_dsn(name: str, dsn: str) -> Options:
    """Split the DSN into the base URL and its options; reject what would fail later."""
    key = env_key(name)
    url = urlsplit(dsn)
    if url.scheme not in ("http", "https") or not url.hostname or not _port_ok(url):
        raise SourceConfigError(f"{key} is not an http(s) base URL; expected https://host/path")
    if url.username or url.password:
        raise SourceConfigError(f"{key} carries credentials in the URL; put the token in {env_key(name, 'PASSWORD')}")
    options = dict(parse_qsl(url.query, keep_blank_values=True))
    unknown = sorted(set(options) - {"auth", "rate", "label"})
    if unknown:
        raise SourceConfigError(f"{key}: unknown option(s) {', '.join(unknown)}; this source knows auth, rate, label")
    auth = options.get("auth", "bearer")
    header, bearer = _auth(key, auth)
    return Options(
        base_url=urlunsplit((url.scheme, url.netloc, url.path.rstrip("/"), "", "")),
        label=options.get("label") or url.hostname,
        auth_header=header, bearer=bearer, rate=_rate(key, options.get("rate")),
    )


def _port_ok(url: SplitResult) -> bool:
    try:
        return url.port is None or url.port > 0
    except ValueError:  # not a number, or out of range
        return False


def _auth(key: str, auth: str) -> tuple[str | None, bool]:
    if auth == "bearer":
        return "Authorization", True
    if auth == "none":
        return None, False
    if auth.startswith("header:") and re.fullmatch(r"[A-Za-z0-9-]+", auth[7:]):
        return auth[7:], False
    raise SourceConfigError(f"{key}: auth={auth!r} is not bearer, header:<Header-Name> or none")


def _rate(key: str, raw: str | None) -> float:
    try:
        rate = DEFAULT_RATE if raw is None else float(raw)
    except ValueError:
        rate = -1.0
    if not rate >= 0 or rate == float("inf"):
        raise SourceConfigError(f"{key}: rate={raw!r} is not a number of requests per second (0: no limit)")
    return rate


class RateLimiter:
    """At most ``rate`` requests per second, spaced evenly, for every read of one source.

    Each caller reserves the next free slot, then sleeps until it: no lock,
    no burst, and a cancelled caller only wastes its slot.
    """

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); ``None`` if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff(attempt: int, hint: float | None) -> float:
    """The server's hint if it gave one, else exponential backoff with jitter; capped at ``MAX_WAIT``."""
    if hint is not None:
        return min(hint, MAX_WAIT)
    return min(0.5 * 2.0 ** (attempt - 1), MAX_WAIT) * random.uniform(0.5, 1.0)


def dig(document: Any, path: str) -> Any:
    """The value at dotted ``path`` in a JSON document, or ``None``; ``""`` is the document itself."""
    for part in path.split(".") if path else []:
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


class RestSource:
    """The ``Source`` of one JSON HTTP API, over one pooled ``httpx.AsyncClient``.

    ``endpoints`` default to ``ENDPOINTS``, from which ``vocabulary`` is built.
    """

    vocabulary: ClassVar[Vocabulary] = Vocabulary(
        group="endpoint", groups="endpoints", unit="record", units="records",
        kinds=KINDS,
    )

    def __init__(self, name: str, options: Options, secret: str | None,
                 endpoints: Sequence[Endpoint] = ENDPOINTS) -> None:
        if options.auth_header and not secret:
            raise SourceConfigError(
                f"source {name!r} needs a token: set {env_key(name, 'PASSWORD')}, or add ?auth=none to {env_key(name)}"
            )
        self.options = options
        self.endpoints = {e.name: e for e in endpoints}
        self._name = name  # the source's name, for error messages
        self._secret = secret or ""
        self._limiter = RateLimiter(options.rate)
        self._client: httpx.AsyncClient | None = None
        self._plural = {"endpoint": "endpoints", **{e.kind: e.kinds for e in endpoints}}

    @classmethod
    def from_dsn(cls, name: str, dsn: str, secret: str | None) -> RestSource:
        return cls(name, parse_dsn(name, dsn), secret)

    def _http(self) -> httpx.AsyncClient:
        """The pooled client, made on first use: building a source must not connect."""
        if self._client is None:
            headers = {"Accept": "application/json"}
            if self.options.auth_header:
                headers[self.options.auth_header] = f"Bearer {self._secret}" if self.options.bearer else self._secret
            # Redirects are not followed: they could carry an API-key header to another host.
            self._client = httpx.AsyncClient(base_url=self.options.base_url, headers=headers, timeout=TIMEOUT)
        return self._client

    async def describe(self) -> SourceInfo:
        version = await self._version()
        label = self.options.label
        return SourceInfo(name=label, system="rest", version=version, records=[
            {"kind": "api", "qualified_name": qualify(label), "name": label, "system": "rest",
             "base_url": self.options.base_url, "version": version},
        ])

    async def _version(self) -> str:
        """The API's version, if it tells one; this first request also checks the URL and the token."""
        if VERSION_PATH is None:
            return ""
        try:
            body = await self.get(VERSION_PATH, {})
        except ApplicationError as exc:
            if exc.type == "SourceNotFound":
                return ""
            raise
        version = dig(body, VERSION_FIELD)
        return "" if version is None else str(version)

    async def plan(self, pattern: re.Pattern[str] | None) -> list[Group]:
        """Every configured endpoint whose name matches, in ``ENDPOINTS`` order; each read whole."""
        groups = [Group(name=name, whole=True) for name in self.endpoints if pattern is None or pattern.search(name)]
        if not groups and self.endpoints:
            raise NoMatch(list(self.endpoints))
        return groups

    async def read(self, work: Work, cursor: Cursor, page_size: int) -> AsyncIterator[Page]:
        """One page per HTTP page, from ``cursor`` on; each page's cursor points at the next unread one."""
        start, token = (cursor["endpoint"], cursor["next"]) if cursor else (0, None)
        for index in range(start, len(work.groups)):
            group = work.groups[index]
            endpoint = self._endpoint(group.name)
            head = group.first and (index != start or token is None)  # its record goes with its first page
            pages = self._pages(endpoint, token if index == start else None, page_size)
            async with contextlib.aclosing(pages):
                async for items, following in pages:
                    found = [self._record(endpoint, item) for item in items]
                    if head:
                        found.insert(0, self._endpoint_record(endpoint))
                        head = False
                    if following is not None:
                        after: Cursor = {"endpoint": index, "next": following}
                    else:
                        after = {"endpoint": index + 1, "next": None} if index + 1 < len(work.groups) else None
                    yield Page(records=found, cursor=after, units=len(items), label=endpoint.name)

    async def _pages(self, endpoint: Endpoint, token: Any, page_size: int) -> AsyncGenerator[PageOfItems, None]:
        """``(items, next)`` per HTTP page of ``endpoint``, from ``token`` (``None``: the first page)."""
        size = max(1, min(page_size, endpoint.max_page_size)) if endpoint.size_param else endpoint.max_page_size
        sized = {**endpoint.params, **({endpoint.size_param: str(size)} if endpoint.size_param else {})}
        if endpoint.pagination == PAGE_NUMBER:
            page: int | None = endpoint.first_page if token is None else int(token)
            while page is not None:
                body = await self.get(endpoint.path, {**sized, endpoint.page_param: str(page)})
                items = self._items(endpoint, body)
                page = next_page(endpoint, body, page, len(items), size)
                yield items, page
            return
        while True:
            params = dict(sized)
            if token is not None:
                params[endpoint.cursor_param] = str(token)
            body = await self.get(endpoint.path, params)
            items = self._items(endpoint, body)
            following = dig(body, endpoint.next) or None
            if following is not None and following == token:
                raise permanent("SourceConfigError", f"source {self._name!r}: GET {endpoint.path} returned the "
                                                     f"cursor it was given; check Endpoint.next of {endpoint.name!r}")
            yield items, following
            if following is None:
                return
            token = following

    def _endpoint(self, name: str) -> Endpoint:
        try:
            return self.endpoints[name]
        except KeyError:
            raise permanent("SourceConfigError", f"source {self._name!r}: endpoint {name!r} was planned but is no "
                                                 "longer in ENDPOINTS (sources/rest.py); start a new run") from None

    def _items(self, endpoint: Endpoint, body: Any) -> list[Any]:
        items = dig(body, endpoint.items)
        if not isinstance(items, list):
            raise permanent("SourceConfigError", f"source {self._name!r}: GET {endpoint.path} has no list at "
                                                 f"{endpoint.items or '<the response>'!r}; check Endpoint.items")
        return items

    def _record(self, endpoint: Endpoint, item: Any) -> Record:
        """One item as a record, keyed by its endpoint and id."""
        key = dig(item, endpoint.id_field)
        if key is None:
            raise permanent("SourceConfigError", f"source {self._name!r}: an item of GET {endpoint.path} has no "
                                                 f"{endpoint.id_field!r}; check Endpoint.id_field")
        return {"kind": endpoint.kind, "qualified_name": qualify(self.options.label, endpoint.name, str(key)),
                "endpoint": endpoint.name, "id": key, "data": item}

    def _endpoint_record(self, endpoint: Endpoint) -> Record:
        return {"kind": "endpoint", "qualified_name": qualify(self.options.label, endpoint.name),
                "api": self.options.label, "name": endpoint.name, "path": endpoint.path,
                "pagination": endpoint.pagination, "record_kind": endpoint.kind}

    async def get(self, path: str, params: Mapping[str, str]) -> Any:
        """GET ``path`` as JSON: rate-limited, retried on 429, 5xx and transport errors, permanent errors raised."""
        attempt = 1
        while True:
            client = self._http()  # made before the wait: making it takes long enough to bunch requests
            await self._limiter.wait()
            try:
                response = await client.get(path, params=params)
            except httpx.TransportError as exc:
                if classify(exc, self._name) is not None or attempt == MAX_ATTEMPTS:
                    raise  # the engine makes known-permanent ones (an unknown host) non-retryable
                why, hint = type(exc).__name__, None
            else:
                if response.status_code not in RETRY_STATUSES:
                    return self._json(path, response)
                if attempt == MAX_ATTEMPTS:  # transient still: Temporal retries the activity later
                    raise ApplicationError(f"source {self._name!r}: GET {path} answered HTTP {response.status_code} "
                                           f"{MAX_ATTEMPTS} times: {self._excerpt(response)}", type="SourceUnavailable")
                why, hint = f"HTTP {response.status_code}", retry_after(response.headers.get("Retry-After"))
            wait = backoff(attempt, hint)
            log.warning("source %r: GET %s: %s; retrying in %.1fs (attempt %d/%d)",
                        self._name, path, why, wait, attempt + 1, MAX_ATTEMPTS)
            await asyncio.sleep(wait)
            attempt += 1

    def _json(self, path: str, response: httpx.Response) -> Any:
        """The body of a 2xx response; a failed one as the error a human can act on."""
        status = response.status_code
        if status in (401, 403):
            raise permanent("SourceAuthError", f"source {self._name!r}: the API refused the credentials "
                                               f"(HTTP {status} on GET {path}); check the token in "
                                               f"{env_key(self._name, 'PASSWORD')} and auth= in {env_key(self._name)}")
        if status == 404:
            raise permanent("SourceNotFound", f"source {self._name!r}: GET {path} answered 404 Not Found; check the "
                                              f"base URL in {env_key(self._name)} and the endpoint's path")
        if 300 <= status < 400:
            where = redact(response.headers.get("Location", "?"), self._secret)
            raise permanent("SourceConfigError", f"source {self._name!r}: GET {path} redirects to {where}; set "
                                                 f"{env_key(self._name)} to the final base URL")
        if 400 <= status < 500:
            raise permanent("SourceConfigError", f"source {self._name!r}: GET {path} answered HTTP {status}: "
                                                 f"{self._excerpt(response)}")
        if status >= 500:  # one not retried here (501, 505, ...): leave it to Temporal's retry policy
            raise ApplicationError(f"source {self._name!r}: GET {path} answered HTTP {status}: "
                                   f"{self._excerpt(response)}", type="SourceUnavailable")
        try:
            return response.json()
        except ValueError:
            raise permanent("SourceConfigError", f"source {self._name!r}: GET {path} did not answer JSON: "
                                                 f"{self._excerpt(response)}") from None

    def _excerpt(self, response: httpx.Response) -> str:
        """The start of a body, one line, secrets hidden: enough to recognise the API's complaint."""
        text = " ".join(response.text[:200].split())
        return redact(text, self._secret) or "(empty body)"

    def tally(self, records: Sequence[Record]) -> dict[str, int]:
        return tally_kinds(records, self._plural)

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def next_page(endpoint: Endpoint, body: Any, page: int, count: int, size: int) -> int | None:
    """The page after ``page``, or ``None``: past ``total_pages`` if given, else after a short page."""
    total = dig(body, endpoint.total_pages) if endpoint.total_pages else None
    if isinstance(total, int):
        return page + 1 if page - endpoint.first_page + 1 < total else None
    return page + 1 if count >= size else None
