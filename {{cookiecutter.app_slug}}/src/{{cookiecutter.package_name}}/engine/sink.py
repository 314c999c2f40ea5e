"""Output sink: JSON Lines parts plus a checksummed manifest, on a file system or an object store.

ENGINE. Change this module to add an output format; where output goes is a
setting (``OUTPUT_URL``), not code. The worker alone decides it: a path sent
by a client would mean nothing inside a pod.

``OUTPUT_URL`` is ``file:///abs/path`` (a bare path is resolved against the
worker's working directory), ``s3://bucket/prefix``, ``gs://bucket/prefix`` or
``az://container/prefix``. Every store goes through obstore, which reads each
cloud's standard credential chain (``AWS_*`` variables or IRSA, GCS and Azure
workload identity); ``AWS_ENDPOINT_URL`` points it at an S3-compatible store.

The guarantees, for every store:

- object names come from what they hold (slice and batch), never from time or
  randomness, so a redone batch rewrites the same name with the same bytes;
- an object is written whole or not at all: an object-store PUT is atomic,
  and a local file is written to a staging name and renamed into place;
- the manifest is written last and lists every part with its sha256;
- finalize deletes whatever else is under the run's prefix: parts of an
  earlier, larger run of the same workflow id, and staging files a killed
  worker left behind;
- each workflow id has its own prefix (``run_folder``), so ``a b`` and ``a/b``
  never share one.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import orjson

from .models import PartRef

if TYPE_CHECKING:
    from obstore.store import ObjectStore

PARTS_DIR = "parts"
MANIFEST = "manifest.json"
WRITE_CHECK = ".write-check"
OBJECT_SCHEMES = {"s3": "s3", "s3a": "s3", "gs": "gs", "az": "az", "azure": "az", "abfs": "az", "abfss": "az"}
#: Credentials read from a file of the same name in SECRETS_DIR when the variable is unset.
CREDENTIAL_NAMES = {
    "s3": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
    "gs": ("GOOGLE_SERVICE_ACCOUNT_KEY",),
    "az": ("AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN"),
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_OS_ERROR = re.compile(r"\(os error (\d+)\)")
#: errno values a retry cannot fix: EACCES, ENOTDIR, EISDIR, ENOSPC, EROFS, EDQUOT.
_PERMANENT_ERRNO = {13: "permission denied", 17: "a file is in the way", 20: "a path component is a file, not a folder",
                    21: "a folder is in the way", 28: "the disk is full", 30: "the file system is read-only",
                    122: "the disk quota is exceeded"}
_KIND_ORDER = {"database": 0, "schema": 1, "table": 2, "column": 3, "primary_key": 4,
               "foreign_key": 5, "unique_constraint": 6, "index": 7}
_BY_NAME = itemgetter("qualified_name")


class OutputError(Exception):
    """Output cannot be written, and retrying will not help; the message names OUTPUT_URL."""


def part_name(slice_index: int, batch: int) -> str:
    return f"{PARTS_DIR}/{slice_index:05d}-{batch:05d}.jsonl"


def run_folder(workflow_id: str) -> str:
    """One path segment per workflow id: readable, and unique because it ends in a hash of the id.

    The slug alone would merge ``nightly sales`` and ``nightly/sales`` (and, on
    case-insensitive disks, ``A`` and ``a``); the hash keeps them apart, and
    the exact id is in the manifest.
    """
    slug = _UNSAFE.sub("_", workflow_id).strip("._-")[:64] or "run"
    return f"{slug}-{hashlib.sha256(workflow_id.encode()).hexdigest()[:16]}"


def encode(records: Iterable[dict[str, Any]]) -> bytes:
    """Deterministic JSON Lines: records sorted by kind then name, keys sorted.

    Two stable sorts, by name and then by kind, instead of one on a ``(kind, name)``
    tuple: no tuple per record, and the name sort's key runs in C (half the time).
    """
    ordered = sorted(records, key=_BY_NAME)
    ordered.sort(key=lambda r: _KIND_ORDER.get(r["kind"], 99))
    return b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n" for r in ordered)


def _encoded(records: Iterable[dict[str, Any]]) -> tuple[bytes, str]:
    data = encode(records)
    return data, hashlib.sha256(data).hexdigest()


def normalize_url(raw: str, cwd: Path | None = None) -> str:
    """``OUTPUT_URL`` in canonical form; a bare path becomes an absolute ``file://`` URL.

    Raises ``ValueError`` with the rule, for a worker to refuse at start-up.
    """
    text = raw.strip()
    if not text:
        raise ValueError("OUTPUT_URL is empty; use file:///abs/path, s3://bucket/prefix, gs://... or az://...")
    parts = urlsplit(text)
    if not parts.scheme or (len(parts.scheme) == 1 and text[1:3] in (":\\", ":/")):  # a path (or C:\ path)
        return Path(cwd or Path.cwd(), text).resolve().as_uri()
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"OUTPUT_URL {raw!r}: a file URL needs an absolute path, e.g. file:///data/output")
        return Path(unquote(parts.path)).as_uri()
    if scheme not in OBJECT_SCHEMES:
        raise ValueError(f"OUTPUT_URL {raw!r}: unsupported scheme {scheme!r}; use file, s3, gs or az")
    if not parts.netloc:
        raise ValueError(f"OUTPUT_URL {raw!r}: name the bucket (or container), e.g. {scheme}://my-bucket/prefix")
    if parts.query or parts.fragment:
        raise ValueError(f"OUTPUT_URL {raw!r}: no query or fragment; put store options in environment variables")
    return f"{scheme}://{parts.netloc}/{parts.path.strip('/')}".rstrip("/")


@dataclass
class Sink:
    """Where this worker writes: the store behind ``OUTPUT_URL``, opened on first use.

    Opening is deferred so that a missing bucket or folder surfaces as a
    clear, non-retried activity error, not as a crash of the whole worker.
    """

    url: str
    secrets_dir: Path | None = None
    _store: ObjectStore | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_setting(cls, raw: str, secrets_dir: Path | None = None) -> Sink:
        """Validate ``OUTPUT_URL`` now (``ValueError`` if malformed); connect later.

        Credentials are not arguments: obstore reads the cloud's standard
        variables from this process's environment, like every AWS/GCP/Azure tool.
        """
        return cls(normalize_url(raw), secrets_dir)

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def local_root(self) -> Path | None:
        """The folder behind a ``file://`` URL, else ``None``."""
        return Path(unquote(urlsplit(self.url).path)) if self.scheme == "file" else None

    def store(self) -> ObjectStore:
        if self._store is None:
            from obstore.exceptions import BaseError

            with output_errors(self.url, "open"):
                try:
                    self._store = self._open()
                except BaseError as exc:  # a store that cannot even be configured: no retry will help
                    raise OutputError(f"OUTPUT_URL {self.url}: cannot open the store: {_first_line(exc)}") from None
        return self._store

    def _open(self) -> ObjectStore:
        from obstore.store import LocalStore, from_url

        root = self.local_root
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
            return LocalStore(prefix=root)
        kind = OBJECT_SCHEMES[self.scheme]
        config = {name: value for name in CREDENTIAL_NAMES[kind] if (value := self._secret(name))}
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
        client = {"allow_http": True} if kind == "s3" and endpoint.startswith("http://") else None
        return from_url(self.url, config=config or None, client_options=client)  # type: ignore[arg-type]

    def _secret(self, name: str) -> str | None:
        """A credential from the environment (obstore reads it there), else from its secret file."""
        if os.environ.get(name) or self.secrets_dir is None:
            return None
        path = self.secrets_dir / name
        return path.read_text(encoding="utf-8").strip() if path.is_file() else None

    async def put(self, key: str, data: bytes) -> None:
        """Write one whole object at ``key`` (relative to ``OUTPUT_URL``): all of it or nothing."""
        import obstore

        with output_errors(self.url, f"write {key}"):
            await obstore.put_async(self.store(), key, data, use_multipart=False)

    async def delete(self, keys: list[str], action: str) -> None:
        """Delete objects at ``keys`` (relative to ``OUTPUT_URL``), in one bulk request where the store has one."""
        import obstore

        with output_errors(self.url, action):
            await obstore.delete_async(self.store(), keys)

    def run(self, source: str, workflow_id: str) -> RunOutput:
        return RunOutput(self, f"{_safe(source)}/{run_folder(workflow_id)}")


@dataclass(frozen=True)
class RunOutput:
    """The objects of one run, under ``<OUTPUT_URL>/<source>/<run_folder>/``."""

    sink: Sink
    prefix: str

    def url(self, name: str = "") -> str:
        return f"{self.sink.url}/{self.prefix}/{name}".rstrip("/")

    async def put(self, name: str, data: bytes) -> None:
        await self.sink.put(f"{self.prefix}/{name}", data)

    async def write_part(self, name: str, records: list[dict[str, Any]]) -> PartRef:
        data, digest = await asyncio.to_thread(_encoded, records)  # ~100k records: keep the event loop free
        await self.put(name, data)
        return PartRef(path=name, records=len(records), sha256=digest)

    async def write_manifest(self, manifest: dict[str, Any]) -> str:
        await self.put(MANIFEST, orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))
        return self.url(MANIFEST)

    async def check_writable(self) -> None:
        """Write and delete a tiny object, so bad credentials or a missing bucket fail the run at once."""
        await self.put(WRITE_CHECK, b"ok\n")
        await self.sink.delete([f"{self.prefix}/{WRITE_CHECK}"], f"delete {self.prefix}/{WRITE_CHECK}")

    async def names(self) -> list[str]:
        """Every object under this run's prefix, relative to it, staging files of a local store included."""
        import obstore

        root = self.sink.local_root
        if root is not None:  # obstore hides its own staging files ("name#N"); a killed write leaves them
            return sorted(_files_under(root / self.prefix))
        with output_errors(self.sink.url, f"list {self.prefix}/"):
            listed = await obstore.list(self.sink.store(), prefix=self.prefix).collect_async()
        start = len(self.prefix) + 1
        return sorted(meta["path"][start:] for meta in listed)

    async def prune(self, keep: set[str]) -> list[str]:
        """Delete every object under the prefix that is not in ``keep`` (and not the manifest)."""
        strays = [name for name in await self.names() if name not in keep and name != MANIFEST]
        if strays:
            root = self.sink.local_root
            if root is not None:
                for name in strays:
                    (root / self.prefix / name).unlink(missing_ok=True)
            else:
                await self.sink.delete([f"{self.prefix}/{n}" for n in strays], f"delete {len(strays)} stray object(s)")
        return strays


def read_url(url: str, secrets_dir: Path | None = None) -> bytes:
    """The bytes of one object named by its full URL (a summary's ``manifest``, say); for tools and tests."""
    import obstore

    sink, name = _locate(url, secrets_dir)
    with output_errors(sink.url, f"read {name}"):
        return bytes(obstore.get(sink.store(), name).bytes())


def modified_at(url: str, secrets_dir: Path | None = None) -> datetime:
    """When the object at ``url`` was last written (a manifest: when its run finished); for tools."""
    import obstore

    sink, name = _locate(url, secrets_dir)
    with output_errors(sink.url, f"read {name}"):
        return obstore.head(sink.store(), name)["last_modified"]


def _locate(url: str, secrets_dir: Path | None) -> tuple[Sink, str]:
    """The store holding the object at ``url``, and the object's name in it."""
    base, _, name = url.rstrip("/").rpartition("/")
    return Sink.from_setting(base, secrets_dir), name


@contextmanager
def output_errors(url: str, action: str) -> Iterator[None]:
    """Turn errors a retry cannot fix into ``OutputError``; leave the rest (network, 5xx) retryable."""
    from obstore.exceptions import NotFoundError, PermissionDeniedError, UnauthenticatedError

    try:
        yield
    except (PermissionDeniedError, UnauthenticatedError):
        raise OutputError(f"OUTPUT_URL {url}: {action}: access denied; check the store's credentials "
                          "and that they may write there") from None
    except (NotFoundError, FileNotFoundError) as exc:  # obstore raises the builtin for a 404
        what = "the bucket does not exist" if "NoSuchBucket" in str(exc) else "not found"
        raise OutputError(f"OUTPUT_URL {url}: {action}: {what}; create it or fix OUTPUT_URL") from None
    except OSError as exc:
        if exc.errno not in _PERMANENT_ERRNO:
            raise
        raise OutputError(f"OUTPUT_URL {url}: {action}: {_PERMANENT_ERRNO[exc.errno]} "
                          f"({exc.filename or exc.strerror})") from None
    except Exception as exc:
        found = _OS_ERROR.search(str(exc))
        if found is None or int(found[1]) not in _PERMANENT_ERRNO:
            raise
        raise OutputError(f"OUTPUT_URL {url}: {action}: {_PERMANENT_ERRNO[int(found[1])]}") from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _files_under(folder: Path) -> Iterator[str]:
    for dirpath, _, files in os.walk(folder):
        for name in files:
            yield (Path(dirpath) / name).relative_to(folder).as_posix()


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("._") or "_"
