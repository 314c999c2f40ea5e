"""A real S3 API for tests: moto's standalone server on 127.0.0.1 and a free port.

It is the server s3fs's own test suite runs against. The app reaches it
through the same obstore client as real S3, pointed there by the standard
``AWS_ENDPOINT_URL``; nothing in the app knows it is a test.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from .processes import free_port

REGION = "us-east-1"
# moto accepts any key unless it enforces IAM; these only have to look like keys.
KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class S3:
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        """What a worker needs to reach this server: the standard AWS variables."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": REGION, **KEYS}

    def export(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point this process's standard AWS variables here: an in-process worker's obstore reads them there."""
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"])

    def new_bucket(self) -> str:
        name = f"test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under ``prefix``, by key."""
        s3 = self.client()
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for o in page.get("Contents", [])]
        return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


@contextmanager
def moto_server() -> Iterator[S3]:
    """``ThreadedMotoServer`` in this process; stopped when the block ends."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@contextmanager
def moto_server_enforcing_iam() -> Iterator[S3]:
    """A moto server that checks credentials (``INITIAL_NO_AUTH_ACTION_COUNT=0``), in its own process.

    moto reads that setting at import, so it cannot be switched on in this process.
    """
    port = free_port()
    code = ("import time; from moto.server import ThreadedMotoServer as T; "
            f"T(ip_address='127.0.0.1', port={port}, verbose=False).start(); time.sleep(3600)")
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "moto server did not start"
                time.sleep(0.1)
        yield S3(f"http://127.0.0.1:{port}")
    finally:
        proc.kill()
        proc.wait(timeout=10)
