"""Split a py-spy profile of the worker into query / transform / write / Temporal / idle.

Record one extraction with py-spy (raw format), then summarise the worker's
main (event-loop) thread, which is where the app's Python work runs:

    py-spy record -p <worker pid> -f raw -o worker.txt -r 250 -d 10 --threads &
    catalog-extractor extract ...
    python benchmarks/profile_split.py worker.txt

Writing (encode + fsync) runs in ``asyncio.to_thread`` workers; their
samples are reported apart, as are SQLite state-store threads.
"""

from __future__ import annotations

import collections
import sys

# First matching marker wins; order matters (more specific first).
CATEGORIES = (
    ("idle (waiting in epoll)", ("EpollSelector.select",)),
    ("transform (rows -> records)", ("build_records", "pg_type_name", "mysql_type_name")),
    ("query (driver I/O + row decoding)", ("_read_ready__data_received", "read_batch", "list_tables",
                                           "tables_by_schema", "list_schemas", "asyncpg", "aiomysql", "pymysql")),
    ("write (encode, part files)", ("write_part", "sink.py")),
    ("checkpoint (state store)", ("StateStore", "state.py", "aiosqlite")),
    ("Temporal: workflow tasks", ("_WorkflowWorker", "workflow_sandbox", "_handle_activation",
                                  "complete_workflow_activation")),
    ("Temporal: activity plumbing, heartbeats, payloads", ("_ActivityWorker", "heartbeat", "temporalio",
                                                           "pydantic")),
)


def categorise(stack: str) -> str:
    for name, markers in CATEGORIES:
        if any(marker in stack for marker in markers):
            return name
    return "other (event loop, asyncio)"


def main(path: str) -> None:
    main_thread: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    with open(path) as fh:
        for line in fh:
            stack, _, samples = line.rstrip().rpartition(" ")
            if not stack:
                continue
            thread = stack.split(";", 1)[0]
            threads[thread] += int(samples)
            if "MainThread" in thread:
                main_thread[categorise(stack)] += int(samples)
    total = sum(main_thread.values())
    busy = total - main_thread["idle (waiting in epoll)"]
    print(f"main thread: {total} samples, {busy} busy")
    for name, count in main_thread.most_common():
        share = f"{100 * count / busy:5.1f}% of busy" if "idle" not in name else ""
        print(f"  {count:6d}  {name:55s} {share}")
    print("other threads (samples include waiting):")
    for thread, count in threads.most_common(8):
        if "MainThread" not in thread:
            print(f"  {count:6d}  {thread}")


if __name__ == "__main__":
    main(sys.argv[1])
