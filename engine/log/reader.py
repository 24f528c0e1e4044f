"""Reading: a cursor over whole frames, by offset, across segments."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Optional, cast

from ..errors import LogCorruption, LogError
from .decoder import Frame, SegmentDecoder, Torn
from .segments import HEADER_BYTES, Segment, list_segments, os_errors, segment_version

Batch = tuple[int, float, list]  # first_seq, time, records
Entry = tuple[int, float, list]  # seq, time, record


class Cursor:
    """Reads whole frames forward from a sequence number, across segments.

    It keeps its place (segment and byte offset), so calling ``frames()``
    again later yields only what was appended since: the log reader and the
    followers share it.
    """

    def __init__(self, directory: Path, start: int, *, decode: bool = True):
        if type(start) is not int or start < 1:
            raise LogError(f"{directory}: start seq must be an integer >= 1, got {start!r}")
        self._dir = directory
        self._start = start
        # False: frames are checked (checksums, sequence) but their records are
        # not decoded, and batches come with records=None; for finding the end.
        self._decode = decode
        self._decoder: Optional[SegmentDecoder] = None  # the open segment's, None when closed
        self._version = 0
        self._offset = 0
        self._expected = 0  # seq of the next frame in the current segment
        self.torn: Optional[Torn] = None  # what stopped the last pass, if not a clean end

    @property
    def next_seq(self) -> int:
        return self._expected

    @property
    def version(self) -> int:
        """Format version of the segment the cursor is (or was last) in."""
        return self._version

    def close(self) -> None:
        if self._decoder is not None:
            os.close(self._decoder.fd)
            self._decoder = None

    def _enter(self, segment: Segment) -> SegmentDecoder:
        self.close()
        try:
            fd = os.open(segment.path, os.O_RDONLY)
        except FileNotFoundError:
            raise LogError(f"{segment.path}: segment disappeared while reading (compacted?)") from None
        try:
            version = segment_version(segment.path, os.pread(fd, HEADER_BYTES, 0))
        except BaseException:
            os.close(fd)
            raise
        self._decoder = SegmentDecoder(segment, fd, version)
        self._version = version
        self._offset = HEADER_BYTES
        self._expected = segment.first_seq
        return self._decoder

    def _first_segment(self) -> Optional[SegmentDecoder]:
        segments = list_segments(self._dir)
        if not segments:
            return None
        if self._start < segments[0].first_seq:
            raise LogError(
                f"{self._dir}: seq {self._start} was compacted away; the log starts at "
                f"seq {segments[0].first_seq} (load a snapshot first)"
            )
        return self._enter([s for s in segments if s.first_seq <= self._start][-1])

    def frames(self) -> Iterator[Batch]:
        """Every whole frame from the current place to the current end of the log."""
        with os_errors(self._dir):
            yield from self._frames()

    def _frames(self) -> Iterator[Batch]:
        self.torn = None
        decoder = self._decoder or self._first_segment()
        if decoder is None:
            return
        while True:
            # Listed before the size is taken: a segment with a successor was
            # complete by then (a writer finishes a segment before the next).
            later = [s for s in list_segments(self._dir) if s.first_seq > decoder.segment.first_seq]
            size = os.fstat(decoder.fd).st_size
            if size < self._offset:
                raise LogError(
                    f"{decoder.segment.path}: truncated to {size} bytes, below byte {self._offset} already "
                    f"read (seq {self._expected}); the events read past it are gone"
                )
            items = decoder.frames(self._offset, size, self._expected, last=not later, decode=self._decode)
            for item in items:
                if isinstance(item, Frame):
                    _, self._offset, first, t, count, records = item
                    self._expected = first + count
                    # None only from a cursor made with decode=False, whose
                    # batches are walked for their ends and never read.
                    yield first, t, cast(list, records)
                elif isinstance(item, Torn):
                    self.torn = item
                    return
                else:
                    raise item.error()
            if not later:
                return
            if later[0].first_seq != self._expected:
                raise LogCorruption(
                    f"{decoder.segment.path}: ends before seq {self._expected} but the next segment is {later[0].name}"
                )
            decoder = self._enter(later[0])


def entries(frames: Iterator[Batch], start: int, stop: Optional[int]) -> Iterator[Entry]:
    """``(seq, time, record)`` of the batches, for seq in [start, stop]."""
    for first, t, records in frames:
        seq = first
        for record in records:
            if stop is not None and seq > stop:
                return
            if seq >= start:
                yield seq, t, record
            seq += 1


def batches(frames: Iterator[Batch], start: int, stop: Optional[int]) -> Iterator[Batch]:
    """The batches clipped to [start, stop]."""
    for first, t, records in frames:
        if stop is not None and first > stop:
            return
        if first < start or (stop is not None and first + len(records) - 1 > stop):
            lo = max(start - first, 0)
            hi = len(records) if stop is None else min(len(records), stop - first + 1)
            if lo >= hi:
                continue
            first, records = first + lo, records[lo:hi]
        yield first, t, records
