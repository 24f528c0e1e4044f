"""Inspection: ``verify`` walks every frame of every segment; ``stats`` reads
only what opening reads."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Optional, cast

import attrs

from ..errors import LogError
from ..snapshot import list_snapshots
from .decoder import Damage, Frame, SegmentDecoder
from .eventlog import EventLog
from .segments import HEADER_BYTES, Segment, check_log_dir, list_segments, os_errors, segment_version


@attrs.frozen
class Problem:
    segment: str
    offset: int
    message: str
    torn_tail: bool = False  # True: the crash damage that a writer cuts by itself

    def __str__(self) -> str:
        return f"{self.segment}:{self.offset}: {self.message}"


@attrs.frozen
class SegmentReport:
    name: str
    version: int  # 0 when the header is unreadable
    bytes: int
    frames: int
    events: int
    first_seq: int  # 0 when the segment holds no intact event
    last_seq: int


@attrs.frozen
class VerifyReport:
    path: str
    segments: list[SegmentReport]
    frames: int
    events: int
    first_seq: int  # 0 when no intact event
    last_seq: int  # of the last intact event; with none, the seq the first segment follows
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        """No damage other than a torn tail (which a writer cuts by itself)."""
        return all(p.torn_tail for p in self.problems)


# Called with (first_seq, records) for each intact frame past the first
# problem (where a repair cuts), in log order.
OnDropped = Callable[[int, list], None]


@attrs.frozen
class Audit:
    """A walk over the whole log: the report, and where a repair cuts."""

    report: VerifyReport
    segments: list[Segment]
    cut_index: Optional[int]  # segment of the first problem; None: nothing to cut
    cut_offset: int  # < HEADER_BYTES: that whole segment goes
    kept_last: int  # last seq before the cut
    dropped_events: int  # intact events at or after the cut
    dropped_seqs: Optional[tuple[int, int]]  # their seq range


def audit(directory: Path, on_dropped: Optional[OnDropped] = None) -> Audit:
    """Decode every frame, going on after damage so that every problem is
    listed; a repair cuts at the first problem."""
    segments = list_segments(directory)
    if not segments:
        raise LogError(f"not a log: {directory} (a directory without log segments)")
    reports: list[SegmentReport] = []
    problems: list[Problem] = []
    cut: Optional[tuple[int, int]] = None
    kept_last = segments[0].first_seq - 1
    dropped, dropped_seqs = 0, None
    expected: Optional[int] = segments[0].first_seq  # seq the next segment must start at
    for index, segment in enumerate(segments):
        frames = events = seg_first = seg_last = version = 0

        def problem(offset: int, message: str, torn: bool = False) -> None:
            nonlocal cut
            # Called only within this iteration: the segment and index are this one's.
            problems.append(Problem(segment.name, offset, message, torn))  # noqa: B023
            if cut is None:
                cut = (index, offset)  # noqa: B023

        if expected is not None and segment.first_seq != expected:
            problem(0, f"segment should start at seq {expected}")
        fd = os.open(segment.path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            try:
                version = segment_version(segment.path, os.pread(fd, HEADER_BYTES, 0))
            except LogError as exc:
                problem(0, str(exc).removeprefix(f"{segment.path}: "))
                reports.append(SegmentReport(segment.name, 0, size, 0, 0, 0, 0))
                expected = None
                continue
            next_seq: Optional[int] = segment.first_seq
            decoder = SegmentDecoder(segment, fd, version)
            for item in decoder.frames(HEADER_BYTES, size, segment.first_seq, last=index == len(segments) - 1):
                if isinstance(item, Frame):
                    last_seq = item.first_seq + item.event_count - 1
                    if cut is None:
                        kept_last = last_seq
                    else:
                        dropped += item.event_count
                        low = item.first_seq if dropped_seqs is None else dropped_seqs[0]
                        dropped_seqs = (low, last_seq)
                        if on_dropped is not None:
                            on_dropped(item.first_seq, cast(list, item.records))  # decoded: frames() decodes by default
                    frames += 1
                    events += item.event_count
                    seg_first = seg_first or item.first_seq
                    seg_last, next_seq = last_seq, last_seq + 1
                elif isinstance(item, Damage):
                    problem(item.offset, item.reason)
                    next_seq = None
                else:
                    problem(item.offset, f"{item.size:,} bytes ({item.reason})", torn=True)
        finally:
            os.close(fd)
        reports.append(SegmentReport(segment.name, version, size, frames, events, seg_first, seg_last))
        expected = next_seq
    with_events = [r for r in reports if r.frames]
    report = VerifyReport(
        str(directory),
        reports,
        sum(r.frames for r in reports),
        sum(r.events for r in reports),
        with_events[0].first_seq if with_events else 0,
        with_events[-1].last_seq if with_events else segments[0].first_seq - 1,
        problems,
    )
    cut_index, offset = cut if cut is not None else (None, 0)
    return Audit(report, segments, cut_index, offset, kept_last, dropped, dropped_seqs)


def verify(path) -> VerifyReport:
    """Check every segment and frame; never changes the log."""
    directory = Path(path)
    check_log_dir(directory)
    with os_errors(directory):
        return audit(directory).report


def stats(path) -> dict:
    """Size and range of the log and its snapshots; reads headers and the last segment only."""
    directory = Path(path)
    with EventLog.open(directory) as log, os_errors(directory):
        segments = list_segments(directory)
        return {
            "path": str(directory),
            "events": log.last_seq - log.first_seq + 1 if log.first_seq else 0,
            "first_seq": log.first_seq,
            "last_seq": log.last_seq,
            "segments": len(segments),
            "bytes": sum(s.path.stat().st_size for s in segments),
            "torn_tail": log.recovered,
            "snapshots": [{"seq": s.seq, "file": s.path.name, "bytes": s.bytes} for s in list_snapshots(directory)],
        }
