"""``auto_heartbeater``: keep an activity alive and carry its progress.

Temporal only keeps the *latest* heartbeat details, so every keepalive beat
re-sends the last recorded progress; a bare beat would erase it. Async
activities beat from an asyncio task; sync activities (run in the worker's
thread pool) beat from a helper thread, so a body that blocks in synchronous
code keeps beating. The state store, not heartbeat details, is the source of
truth for resume: the SDK throttles beats, so details are a hint for humans.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar, cast, overload

from temporalio import activity

P = ParamSpec("P")
R = TypeVar("R")

_current: contextvars.ContextVar[_Beat | None] = contextvars.ContextVar("_current_beat", default=None)


class _Beat:
    """The details the next keepalive beat must carry."""

    def __init__(self, details: tuple[Any, ...]) -> None:
        self.details = details
        self.lock = threading.Lock()

    def send(self, details: tuple[Any, ...] | None = None) -> None:
        """Beat with ``details`` (remembered) or the last ones.

        The lock covers the beat itself: otherwise a keepalive holding old
        details could beat *after* a newer progress beat and erase it.
        ``activity.heartbeat`` only queues the beat, so the lock is brief.
        """
        with self.lock:
            if details is not None:
                self.details = details
            activity.heartbeat(*self.details)


def record_progress(*details: Any) -> None:
    """Heartbeat now with ``details`` and make every later keepalive repeat them."""
    beat = _current.get()
    if beat is None:
        activity.heartbeat(*details)
        return
    beat.send(details)


def heartbeat_interval(timeout: timedelta | None, interval: float | None = None) -> float | None:
    """Seconds between beats: ``interval`` if given, else a third of the timeout."""
    if interval is not None:
        return interval
    if not timeout:
        return None
    return timeout.total_seconds() / 3


@overload
def auto_heartbeater(fn: Callable[P, R], *, interval: float | None = None) -> Callable[P, R]: ...


@overload
def auto_heartbeater(
    fn: None = None, *, interval: float | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def auto_heartbeater(fn: Any = None, *, interval: float | None = None) -> Any:
    """Decorate an activity (async or sync) so it heartbeats on its own.

    Put it *under* ``@activity.defn``. Without a heartbeat timeout on the
    activity it does nothing, since nobody would be listening.
    """
    if fn is None:
        return functools.partial(auto_heartbeater, interval=interval)
    if inspect.iscoroutinefunction(fn):
        return _wrap_async(fn, interval)
    return _wrap_sync(fn, interval)


def _start_details() -> tuple[Any, ...]:
    """A retried attempt starts from the last details the server kept."""
    return tuple(activity.info().heartbeat_details)


def _wrap_async(fn: Callable[P, Awaitable[R]], interval: float | None) -> Callable[P, Awaitable[R]]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        every = heartbeat_interval(activity.info().heartbeat_timeout, interval)
        if every is None:
            return await fn(*args, **kwargs)
        beat = _Beat(_start_details())
        token = _current.set(beat)
        task = asyncio.create_task(_beat_forever(beat, every))
        try:
            return await fn(*args, **kwargs)
        finally:
            task.cancel()
            _current.reset(token)

    return wrapper


async def _beat_forever(beat: _Beat, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        beat.send()


def _wrap_sync(fn: Callable[P, R], interval: float | None) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        every = heartbeat_interval(activity.info().heartbeat_timeout, interval)
        if every is None:
            return fn(*args, **kwargs)
        beat = _Beat(_start_details())
        token = _current.set(beat)
        stop = threading.Event()
        context = contextvars.copy_context()
        thread = threading.Thread(
            target=context.run, args=(_beat_until, beat, every, stop), daemon=True
        )
        thread.start()
        try:
            return fn(*args, **kwargs)
        finally:
            stop.set()
            thread.join()
            _current.reset(token)

    return cast(Callable[P, R], wrapper)


def _beat_until(beat: _Beat, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        beat.send()
