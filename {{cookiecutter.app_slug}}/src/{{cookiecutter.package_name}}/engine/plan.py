"""Planning: cut what a source listed into slices of stable names, and fingerprint the result.

ENGINE. Pure functions, no I/O. A slice holds *names* fixed when the run is
planned (never index ranges into a listing that is re-read later), so a
retried activity reads exactly the objects its first attempt read, and a
table created or dropped mid-run cannot shift work between slices.
"""

from __future__ import annotations

import hashlib
import json

from ..sources.base import Group, Work
from .models import ExtractionRequest, SliceRef


def plan_slices(groups: list[Group], slice_size: int) -> list[Work]:
    """Pack and split the groups into equal slices of at most ``slice_size`` items.

    Small groups share a slice and big ones are split, so a catalog of many
    small schemas does not pay one activity per schema. Slices are evened out
    (5,000 tables at 2,000 make 3 slices of ~1,667, not 2,000 + 2,000 + 1,000)
    so parallel slices end together. An empty group still sits in a slice,
    which writes its record. ``whole`` groups get a slice each.
    """
    whole = [Work(groups=[g.model_copy(update={"first": True})]) for g in groups if g.whole]
    split = [g for g in groups if not g.whole]
    total = sum(len(g.items) for g in split)
    count = max(-(-total // slice_size), 1)
    size = max(-(-total // count), 1)
    slices: list[Work] = []
    current: list[Group] = []
    room = size
    for group in split:
        items, first = group.items, True
        while True:
            if room == 0 and items:  # full, and items are left: close it
                slices.append(Work(groups=current))
                current, room = [], size
            take = items[:room]
            current.append(Group(name=group.name, items=take, first=first))
            items, room, first = items[len(take):], room - len(take), False
            if not items:
                break
    if current:
        slices.append(Work(groups=current))
    return slices + whole


def slice_refs(works: list[Work]) -> list[SliceRef]:
    """What the workflows carry of each slice: its number, group names and size."""
    return [SliceRef(index=n, groups=list(dict.fromkeys(g.name for g in w.groups)),
                     units=sum(len(g.items) for g in w.groups))
            for n, w in enumerate(works)]


def fingerprint(request: ExtractionRequest, works: list[Work]) -> str:
    """sha256 of everything that decides what each slice writes: the slices' names and page size.

    Same fingerprint, same parts: a rerun may keep what an earlier run wrote.
    """
    decided = {"source": request.source, "pattern": request.schema_pattern, "page_size": request.batch_size,
               "slices": [w.model_dump(mode="json") for w in works]}
    return hashlib.sha256(json.dumps(decided, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
