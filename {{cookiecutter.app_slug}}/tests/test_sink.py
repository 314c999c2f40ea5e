"""The sink on a real file system and a real S3 API: names, bytes, pruning, run folders, errors.

Every guarantee is checked on both stores through the same code path the
activities use, so ``file://`` in dev and ``s3://`` in a cluster cannot drift.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.engine.sink import (
    MANIFEST,
    OutputError,
    RunOutput,
    Sink,
    normalize_url,
    part_name,
    read_url,
    run_folder,
)

from .s3 import S3, moto_server, moto_server_enforcing_iam

RECORDS = [
    {"kind": "column", "qualified_name": '"d"."s"."t"."b"', "name": "b"},
    {"kind": "table", "qualified_name": '"d"."s"."t"', "table_type": "table", "name": "t"},
]
HOSTILE_IDS = ["nightly sales", "nightly/sales", "nightly_sales", "nightly\\sales", "Nightly sales", "..", ".",
               "../../etc", "", " ", "a%2Fb", "a/b", "line\nbreak", "ümlaut", "umlaut", "x" * 1000, "x" * 1001,
               "-", "_", "tab\there", "nul\x00byte", "名前", "..hidden"]


@dataclass
class Store:
    sink: Sink
    objects: Callable[[], dict[str, bytes]]  # every object under OUTPUT_URL, by key relative to it


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    with moto_server() as server:
        yield server


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    if request.param == "file":
        root = tmp_path / "out"
        return Store(Sink.from_setting(str(root)),
                     lambda: {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()})
    server: S3 = request.getfixturevalue("s3")
    server.export(monkeypatch)
    bucket = server.new_bucket()

    def objects() -> dict[str, bytes]:
        return {key.removeprefix("base/"): data for key, data in server.objects(bucket).items()}

    return Store(Sink.from_setting(f"s3://{bucket}/base"), objects)


async def test_parts_are_deterministic_and_rewrites_give_the_same_bytes(store: Store) -> None:
    run = store.sink.run("src", "wf-1")
    first = await run.write_part(part_name(0, 3), RECORDS)
    second = await run.write_part(part_name(0, 3), list(reversed(RECORDS)))
    assert first == second
    (key, data), = store.objects().items()
    assert key == f"src/{run_folder('wf-1')}/parts/00000-00003.jsonl"
    assert [json.loads(line)["kind"] for line in data.splitlines()] == ["table", "column"]
    assert hashlib.sha256(data).hexdigest() == first.sha256 and first.records == 2


async def test_prune_removes_strays_and_staging_files_but_not_the_kept_parts(store: Store) -> None:
    run = store.sink.run("src", "wf-1")
    keep = (await run.write_part(part_name(0, 0), RECORDS)).path
    stale = (await run.write_part(part_name(0, 1), RECORDS)).path
    other_run = store.sink.run("src", "wf-2")
    await other_run.write_part(part_name(0, 0), RECORDS)
    root = store.sink.local_root
    if root is not None:  # what a SIGKILL during a local write leaves: obstore's staging file
        (root / run.prefix / f"{part_name(0, 2)}#1").write_bytes(b"half")
    await run.write_manifest({"parts": [keep]})
    removed = await run.prune({keep})
    assert stale in removed and (root is None or f"{part_name(0, 2)}#1" in removed)
    assert sorted(store.objects()) == sorted([f"{run.prefix}/{keep}", f"{run.prefix}/{MANIFEST}",
                                              f"{other_run.prefix}/{part_name(0, 0)}"])


async def test_manifest_url_reads_back_through_any_store(store: Store) -> None:
    run = store.sink.run("src", "wf-1")
    url = await run.write_manifest({"hello": "world"})
    assert url == f"{store.sink.url}/src/{run_folder('wf-1')}/{MANIFEST}"
    assert json.loads(read_url(url)) == {"hello": "world"}


async def test_write_check_leaves_nothing_behind(store: Store) -> None:
    await store.sink.run("src", "wf-1").check_writable()
    assert store.objects() == {}


def test_every_workflow_id_gets_its_own_single_segment_bounded_folder() -> None:
    folders = [run_folder(workflow_id) for workflow_id in HOSTILE_IDS]
    assert len(set(folders)) == len(HOSTILE_IDS), "two workflow ids share an output folder"
    assert len({f.lower() for f in folders}) == len(HOSTILE_IDS), "folders collide on a case-insensitive disk"
    for folder in folders:
        assert "/" not in folder and "\\" not in folder and folder not in (".", "..") and not folder.startswith(".")
        assert folder.isascii() and folder.isprintable() and len(folder.encode()) <= 100
    assert run_folder("nightly sales").startswith("nightly_sales-")  # still readable
    assert run_folder("wf-1") == run_folder("wf-1")  # stable: a rerun finds its folder


async def test_hostile_workflow_ids_write_inside_their_own_folder(tmp_path: Path) -> None:
    sink = Sink.from_setting(str(tmp_path / "out"))
    for workflow_id in HOSTILE_IDS:
        await sink.run("src", workflow_id).write_manifest({"workflow_id": workflow_id})
    manifests = sorted((tmp_path / "out" / "src").glob(f"*/{MANIFEST}"))
    assert len(manifests) == len(HOSTILE_IDS)
    assert sorted(json.loads(m.read_text())["workflow_id"] for m in manifests) == sorted(HOSTILE_IDS)


@pytest.mark.parametrize(("raw", "expected"), [
    ("file:///data/out/", "file:///data/out"),
    ("/data/out", "file:///data/out"),
    ("s3://bucket", "s3://bucket"),
    ("s3://bucket/a/b/", "s3://bucket/a/b"),
    ("S3://bucket/p", "s3://bucket/p"),
    ("gs://bucket/p", "gs://bucket/p"),
    ("az://container/p", "az://container/p"),
])
def test_output_urls_are_normalized(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


def test_a_bare_path_is_resolved_against_the_working_directory(tmp_path: Path) -> None:
    assert normalize_url("output", cwd=tmp_path) == (tmp_path / "output").as_uri()


@pytest.mark.parametrize(("raw", "message"), [
    ("", "OUTPUT_URL is empty"),
    ("ftp://host/x", "unsupported scheme 'ftp'"),
    ("s3://", "name the bucket"),
    ("s3:///prefix", "name the bucket"),
    ("file://host/x", "absolute path"),
    ("s3://bucket/p?region=x", "no query"),
])
def test_malformed_output_urls_are_refused_naming_the_setting(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match="OUTPUT_URL") as raised:
        Sink.from_setting(raw)
    assert message in str(raised.value)


async def test_a_missing_bucket_is_an_output_error_naming_the_setting(
    s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.export(monkeypatch)
    sink = Sink.from_setting("s3://no-such-bucket/x")
    with pytest.raises(OutputError, match=r"OUTPUT_URL s3://no-such-bucket/x: .*the bucket does not exist"):
        await sink.run("src", "wf").check_writable()


async def test_denied_credentials_are_an_output_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with moto_server_enforcing_iam() as server:
        server.export(monkeypatch)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN")
        sink = Sink.from_setting("s3://bucket/x")
        with pytest.raises(OutputError, match=r"OUTPUT_URL s3://bucket/x: .*access denied; check the store's"):
            await sink.run("src", "wf").check_writable()


async def test_an_unwritable_local_path_is_an_output_error_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    sink = Sink.from_setting(str(tmp_path / "file" / "out"))
    with pytest.raises(OutputError, match=r"OUTPUT_URL file://.*/file/out: open: a (file is in the way|path comp)"):
        await sink.run("src", "wf").check_writable()
    assert (tmp_path / "file").read_text() == "in the way"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
async def test_a_read_only_folder_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir(mode=0o555)
    sink = Sink.from_setting(str(tmp_path / "ro"))
    with pytest.raises(OutputError, match="permission denied"):
        await sink.run("src", "wf").check_writable()


@contextmanager
def full_disk(folder: Path) -> Iterator[Path]:
    """A small tmpfs filled to its last byte: writes fail with ENOSPC, as on a full volume (needs root)."""
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(folder)]
    if os.geteuid() != 0 or subprocess.run(mount, capture_output=True, check=False).returncode != 0:
        pytest.skip("mounting a small file system needs root")
    try:
        for size in (4096, 1):  # pages first, then the last bytes
            with contextlib.suppress(OSError), (folder / f"filler-{size}").open("wb", buffering=0) as out:
                while True:
                    out.write(b"\0" * size)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


async def test_a_full_disk_is_an_output_error_naming_the_url_and_the_object(tmp_path: Path) -> None:
    """ENOSPC is permanent for this run (no retry frees a disk): OutputError, never retried, says where."""
    with full_disk(tmp_path / "full") as folder:
        run = Sink.from_setting(str(folder)).run("src", "wf")
        with pytest.raises(OutputError, match=rf"OUTPUT_URL file://{folder}: write src/.*: the disk is full"):
            await run.check_writable()
        with pytest.raises(OutputError, match=rf"OUTPUT_URL file://{folder}: write src/.*/parts/.*: the disk is full"):
            await run.write_part("parts/00000-00000.jsonl", [{"kind": "table", "qualified_name": "t" * 1000}])


async def test_credentials_come_from_secret_files_when_the_variable_is_unset(
    s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.export(monkeypatch)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    bucket = s3.new_bucket()
    (tmp_path / "AWS_SECRET_ACCESS_KEY").write_text("testing\n")
    sink = Sink.from_setting(f"s3://{bucket}", secrets_dir=tmp_path)
    assert sink._secret("AWS_SECRET_ACCESS_KEY") == "testing"
    assert sink._secret("AWS_ACCESS_KEY_ID") is None  # set in the environment: obstore reads it there
    await sink.run("src", "wf").write_manifest({})
    assert list(s3.objects(bucket)) == [f"src/{run_folder('wf')}/{MANIFEST}"]


def test_run_output_urls_name_the_run_folder() -> None:
    run = RunOutput(Sink.from_setting("s3://b/p"), "src/wf-abc")
    assert run.url(MANIFEST) == "s3://b/p/src/wf-abc/manifest.json" and run.url() == "s3://b/p/src/wf-abc"
