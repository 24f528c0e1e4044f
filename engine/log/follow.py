"""Following a growing log: what it holds, then each batch as another
process appends it.

One follower does the work (``_arrivals``: a cursor, a file watcher, the
stop and idle rules); ``follow`` hands out its entries one by one, and
``afollow`` runs it in a worker thread and hands them to the event loop.
"""

from __future__ import annotations

import contextlib
import threading
import time as _time
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Optional

from .reader import Cursor, Entry, entries

# Wake-up tuning: file events are grouped for at most _DEBOUNCE_MS, and with
# no event at all the watcher still returns every _TICK_MS so that stop
# requests, the idle timeout and any write that landed between a read and the
# watcher's start are noticed.
_DEBOUNCE_MS = 50
_STEP_MS = 10
_TICK_MS = 200


def _arrivals(path, start: int, stop_event, timeout: Optional[float]) -> Generator[list[Entry], None, None]:
    """Lists of new entries: first the backlog, then whatever each wake-up finds.

    Ends when ``stop_event`` (anything with ``is_set()``) is set, or after
    ``timeout`` seconds in which nothing new arrived.  The cursor keeps its
    place by offset, so a frame still being written is waited for (it reads
    as a torn tail until whole) and a torn tail cut by a new writer is read
    again from where it began.
    """
    import watchfiles

    directory = Path(path)
    cursor = Cursor(directory, start)
    try:
        last_new = _time.monotonic()
        pending = list(entries(cursor.frames(), start, None))
        if pending:
            yield pending
        for _changes in watchfiles.watch(
            directory,
            watch_filter=None,
            debounce=_DEBOUNCE_MS,
            step=_STEP_MS,
            stop_event=stop_event,
            rust_timeout=_TICK_MS,
            yield_on_timeout=True,
        ):
            pending = list(entries(cursor.frames(), start, None))
            if pending:
                last_new = _time.monotonic()
                yield pending
            if stop_event is not None and stop_event.is_set():
                return
            if timeout is not None and _time.monotonic() - last_new >= timeout:
                return
    finally:
        cursor.close()


def follow(
    path,
    start: int = 1,
    *,
    stop_event=None,
    timeout: Optional[float] = None,
) -> Iterator[Entry]:
    """``(seq, time, record)`` from ``start`` on: what the log holds, then each
    entry as another process appends it.

    Ends when ``stop_event`` (anything with ``is_set()``) is set, or after
    ``timeout`` seconds in which nothing new arrived.  Survives segment
    rotation, a frame still being written (waits for the rest), and the
    cutting of a torn tail by a new writer; raises LogError if the log is cut
    below what was already delivered, LogCorruption on damage.
    """
    for pending in _arrivals(path, start, stop_event, timeout):
        yield from pending


class _EitherSet:
    """Set when the caller's event is, or when the async side gives up."""

    def __init__(self, caller_event):
        self._caller = caller_event
        self.abandoned = threading.Event()

    def is_set(self) -> bool:
        return self.abandoned.is_set() or (self._caller is not None and self._caller.is_set())


async def afollow(path, start: int = 1, *, stop_event=None, timeout: Optional[float] = None) -> AsyncIterator[Entry]:
    """Async twin of ``follow``; ``stop_event`` is an asyncio or anyio Event.

    The follower runs in a worker thread, one hop per batch of arrivals, so
    neither a long backlog nor the wait for the next write blocks the event
    loop.
    """
    import anyio

    stop = _EitherSet(stop_event)
    arrivals = _arrivals(path, start, stop, timeout)
    try:
        while True:
            # None once the arrivals end: they are never None themselves.
            pending = await anyio.to_thread.run_sync(next, arrivals, None, abandon_on_cancel=True)
            if pending is None:
                return
            for entry in pending:
                yield entry
    finally:
        stop.abandoned.set()
        # ValueError: still waiting in an abandoned worker thread, which ends within a tick.
        with contextlib.suppress(ValueError):
            arrivals.close()
