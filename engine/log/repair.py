"""Repair: cut the log at its first problem, keeping what is cut beside it.

The cut takes the problem's frame and everything after it: the rest of that
segment and every later segment (events past a gap cannot be numbered, and
the log stays one unbroken sequence).  The cut bytes are first written,
durably, to side files next to the segments (``<segment>.cut-<offset>``),
and snapshots past the new end are renamed ``<snapshot>.stale``, so a
person can look at, or put back, everything a repair took away.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import attrs

from ..durable import fsync_dir, write_file
from ..snapshot import list_snapshots, set_aside_snapshots_after
from .segments import HEADER_BYTES, check_log_dir, create_segment, os_errors, release_lock, take_lock
from .verify import OnDropped, Problem, audit

_COPY_CHUNK = 2**20


@attrs.frozen
class DroppedRange:
    """Bytes [start, end) of one segment that a repair cuts."""

    segment: str
    start: int
    end: int
    whole: bool  # the segment goes (or, the first one, is replaced by an empty one)


@attrs.frozen
class RepairReport:
    path: str
    problems: list[Problem]
    ranges: list[DroppedRange]  # empty: nothing to cut
    events_cut: int  # intact events in the cut bytes (the damaged frames' own cannot be read)
    seqs_cut: Optional[tuple[int, int]]  # their seq range
    snapshots_set_aside: list[str]
    side_files: list[str]  # where the cut bytes were kept (after a truncation)
    truncated: bool  # False: a dry run, nothing changed
    last_seq: int  # the log's last seq once cut

    @property
    def bytes_cut(self) -> int:
        return sum(r.end - r.start for r in self.ranges)


def repair(path, *, truncate: bool, on_dropped: Optional[OnDropped] = None) -> RepairReport:
    """Cut the log at its first problem (damage or a torn tail).

    With ``truncate=False`` only reports what would be cut.  ``on_dropped``
    sees the records of every intact frame the cut takes, so a caller can
    say what they were about.  Cutting takes the writer lock (held from
    before the log is read), and a damaged first segment is replaced by an
    empty one of the same name, so the log keeps its place in the sequence.
    """
    directory = Path(path)
    check_log_dir(directory)
    with os_errors(directory):
        lock = take_lock(directory) if truncate else None
        try:
            return _repair(directory, truncate, on_dropped)
        finally:
            release_lock(lock)


def _repair(directory: Path, truncate: bool, on_dropped: Optional[OnDropped]) -> RepairReport:
    found = audit(directory, on_dropped)
    problems = found.report.problems
    if found.cut_index is None:
        return RepairReport(str(directory), problems, [], 0, None, [], [], truncate, found.kept_last)
    target = found.segments[found.cut_index]
    later = found.segments[found.cut_index + 1 :]
    whole = found.cut_offset < HEADER_BYTES
    ranges = [DroppedRange(target.name, 0 if whole else found.cut_offset, target.path.stat().st_size, whole)]
    ranges += [DroppedRange(s.name, 0, s.path.stat().st_size, True) for s in later]
    stale = [s.path.name for s in list_snapshots(directory) if s.seq > found.kept_last]
    side_files: list[str] = []
    if truncate:
        for cut in ranges:
            side = _side_file(directory, f"{cut.segment}.cut-{cut.start}")
            write_file(side, _read_range(directory / cut.segment, cut.start, cut.end))
            side_files.append(side.name)
        for segment in reversed(later):  # newest first: a crash leaves a prefix
            os.unlink(segment.path)
        if whole and found.cut_index > 0:
            os.unlink(target.path)
        elif whole:
            create_segment(directory, target.first_seq)
        else:
            fd = os.open(target.path, os.O_WRONLY)
            try:
                os.ftruncate(fd, found.cut_offset)
                os.fdatasync(fd)
            finally:
                os.close(fd)
        fsync_dir(directory)
        set_aside_snapshots_after(directory, found.kept_last)
    return RepairReport(
        str(directory),
        problems,
        ranges,
        found.dropped_events,
        found.dropped_seqs,
        stale,
        side_files,
        truncate,
        found.kept_last,
    )


def _side_file(directory: Path, base: str) -> Path:
    """``base`` in ``directory``, numbered if an earlier repair took that name."""
    candidate, number = directory / base, 1
    while candidate.exists():
        number += 1
        candidate = directory / f"{base}.{number}"
    return candidate


def _read_range(path: Path, start: int, end: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            chunk = f.read(min(_COPY_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
