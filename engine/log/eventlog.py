"""The log: opening (with crash recovery), appending, rotation, compaction."""

from __future__ import annotations

import contextlib
import os
import time as _time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Optional

from ..durable import fsync_dir
from ..errors import LogError
from ..snapshot import STALE_SUFFIX, set_aside_snapshots_after
from .encoder import FRAME_HEADER_BYTES, encode_frame
from .reader import Batch, Cursor, Entry, batches, entries
from .segments import (
    FORMAT_VERSION,
    HEADER_BYTES,
    Segment,
    check_log_dir,
    clean_temp_files,
    create_segment,
    list_segments,
    os_errors,
    read_segment_version,
    release_lock,
    take_lock,
)

DEFAULT_SEGMENT_BYTES = 64 * 2**20


class EventLog:
    """An open log: a reader, or the one writer (``write=True``).

    Durability: each batch is one ``write``; with ``sync=True`` (the default)
    ``append`` returns only after ``fdatasync``, so a crash can leave only the
    frame being written torn.  Opening checks every segment header and every
    frame of the last segment (where a crash leaves its marks: checksums and
    sequence numbers, records left undecoded), so it costs the same however
    long the log grows; reading checks and decodes the frames it reads.  A
    torn last frame is ignored by a reader and cut by a writer, both noted in
    ``recovered``; damage makes opening and reading raise ``LogCorruption``
    (engine/log/decoder.py says which is which).
    """

    def __init__(self, directory: Path, *, write: bool, sync: bool, segment_bytes: int):
        self.path = directory
        self.sync = sync
        self.segment_bytes = segment_bytes
        self.writable = write
        self.recovered: Optional[str] = None
        self.first_seq = 0
        self.last_seq = 0
        self.origin = 0  # seq the first segment follows: the events up to it were compacted away
        self._lock_fd: Optional[int] = None
        self._fd: Optional[int] = None
        self._segment: Optional[Segment] = None
        self._size = 0
        self._segment_is_current_format = True
        self._failed: Optional[str] = None

    @classmethod
    def open(
        cls,
        path,
        *,
        create: bool = False,
        write: bool = False,
        sync: bool = True,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> EventLog:
        """Open the log at ``path``; ``create`` makes one there if none is
        (see ``check_log_dir`` for where one may be made)."""
        directory = Path(path)
        if segment_bytes < HEADER_BYTES + FRAME_HEADER_BYTES + 1:
            raise LogError(f"{directory}: segment_bytes {segment_bytes} is too small")
        exists = check_log_dir(directory, create=create)
        log = cls(directory, write=write, sync=sync, segment_bytes=segment_bytes)
        try:
            if not exists:
                directory.mkdir(parents=True, exist_ok=True)
            if write:
                log._lock_fd = take_lock(directory)
            if not exists:
                creator = log._lock_fd if write else take_lock(directory)
                try:
                    if not list_segments(directory):
                        create_segment(directory, 1)
                finally:
                    if not write:
                        release_lock(creator)
            log._recover()
        except OSError as exc:
            log.close()
            raise LogError(f"{exc.filename or directory}: {exc.strerror or exc}") from None
        except BaseException:
            log.close()
            raise
        return log

    # -- opening

    def _recover(self) -> None:
        segments = list_segments(self.path)
        if not segments:
            raise LogError(f"not a log: {self.path} (its segments disappeared)")
        for segment in segments[:-1]:
            read_segment_version(segment.path)
        last = segments[-1]
        cursor = Cursor(self.path, last.first_seq, decode=False)
        try:
            for _ in cursor.frames():
                pass
            version = cursor.version
        finally:
            cursor.close()
        self.last_seq = cursor.next_seq - 1
        self.origin = segments[0].first_seq - 1
        self.first_seq = segments[0].first_seq if self.last_seq > self.origin else 0
        torn = cursor.torn
        if torn is not None:
            self.recovered = ("cut " if self.writable else "ignored ") + torn.describe()
        if self.writable:
            clean_temp_files(self.path)
            self._segment = last
            self._segment_is_current_format = version == FORMAT_VERSION
            self._fd = os.open(last.path, os.O_WRONLY | os.O_APPEND)
            if torn is not None:
                os.ftruncate(self._fd, torn.offset)
                os.fdatasync(self._fd)
            self._size = os.fstat(self._fd).st_size
            # Snapshots past the end describe events the log no longer holds
            # (lost with unsynced writes): new events are about to take their
            # sequence numbers.
            stale = set_aside_snapshots_after(self.path, self.last_seq)
            if stale:
                names = ", ".join(p.name.removesuffix(STALE_SUFFIX) for p in stale)
                note = f"set aside {names}, past the end of the log, as *{STALE_SUFFIX}"
                self.recovered = f"{self.recovered}; {note}" if self.recovered else note

    # -- writing

    def append(self, records: Sequence[list], time: Optional[float] = None) -> int:
        """Append one batch as one frame; returns the seq of its last record."""
        if not self.writable:
            raise LogError(f"{self.path}: opened read-only")
        self._open_segment()
        if self._failed is not None:
            raise LogError(f"{self.path}: a previous write failed ({self._failed}); reopen the log")
        if not records:
            return self.last_seq
        first = self.last_seq + 1
        frame = encode_frame(first, _time.time() if time is None else time, records)
        # A segment of an older format version is finished, never appended to.
        if self._size >= self.segment_bytes or not self._segment_is_current_format:
            self._rotate(first)
        self._write(frame)
        self.last_seq = first + len(records) - 1
        if self.first_seq == 0:
            self.first_seq = first
        return self.last_seq

    def _open_segment(self) -> tuple[int, Segment]:
        """The descriptor and segment appends go to."""
        if self._fd is None or self._segment is None:
            raise LogError(f"{self.path}: log is closed")
        return self._fd, self._segment

    def _write(self, frame: bytes) -> None:
        fd, segment = self._open_segment()
        before = self._size
        try:
            written = os.write(fd, frame)
            while written < len(frame):  # a short write (e.g. disk nearly full): finish or fail
                written += os.write(fd, frame[written:])
            if self.sync:
                os.fdatasync(fd)
        except OSError as exc:
            # After a failed fsync the kernel may have dropped the dirty pages,
            # so what is on disk is unknown: stop taking writes.
            self._failed = f"{segment.path}: {exc.strerror or exc}"
            with contextlib.suppress(OSError):
                os.ftruncate(fd, before)
            raise LogError(f"{segment.path}: write failed: {exc.strerror or exc}") from None
        self._size = before + len(frame)

    def _rotate(self, first_seq: int) -> None:
        # The finished segment is synced even without ``sync`` so that a new
        # segment never exists on disk ahead of the data before it.  An
        # empty segment of an older version is replaced by one of the same
        # name.
        fd, _ = self._open_segment()
        os.fdatasync(fd)
        os.close(fd)
        self._fd = None
        path = create_segment(self.path, first_seq)
        self._segment = Segment(first_seq, path)
        self._segment_is_current_format = True
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._size = HEADER_BYTES

    def flush(self) -> None:
        """Make every appended batch durable (for ``sync=False`` logs)."""
        if self._fd is not None:
            os.fdatasync(self._fd)

    def compact(self, upto_seq: int) -> int:
        """Drop whole segments whose events all have seq <= ``upto_seq``; needs the writer."""
        if not self.writable:
            raise LogError(f"{self.path}: compaction needs the writer (open with write=True)")
        with os_errors(self.path):
            removed = _drop_segments(self.path, upto_seq)
        segments = list_segments(self.path)
        self.origin = segments[0].first_seq - 1
        self.first_seq = segments[0].first_seq if self.last_seq > self.origin else 0
        return removed

    # -- reading

    def read(self, start: int = 1, stop: Optional[int] = None) -> Iterator[Entry]:
        """``(seq, time, record)`` for seq in [start, stop], in order."""
        cursor = Cursor(self.path, start)
        try:
            yield from entries(cursor.frames(), start, stop)
        finally:
            cursor.close()

    def read_batches(self, start: int = 1, stop: Optional[int] = None) -> Iterator[Batch]:
        """``(first_seq, time, records)`` per stored batch, clipped to [start, stop]."""
        cursor = Cursor(self.path, start)
        try:
            yield from batches(cursor.frames(), start, stop)
        finally:
            cursor.close()

    def close(self) -> None:
        if self._fd is not None:
            if not self.sync and self._failed is None:
                os.fdatasync(self._fd)
            os.close(self._fd)
            self._fd = None
        release_lock(self._lock_fd)
        self._lock_fd = None

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _drop_segments(directory: Path, upto_seq: int) -> int:
    segments = list_segments(directory)
    removed = 0
    # A segment's events end where the next segment's begin; the last
    # segment is always kept because it carries the position of the next seq.
    for segment, following in zip(segments, segments[1:]):
        if following.first_seq - 1 > upto_seq:
            break
        os.unlink(segment.path)  # oldest first: a crash leaves a contiguous suffix
        removed += 1
    if removed:
        fsync_dir(directory)
    return removed


def compact(path, upto_seq: int) -> int:
    """Drop whole segments whose events all have seq <= ``upto_seq``.

    Takes the writer lock; returns the number of segments removed.  Readers
    asking for a seq that was dropped get a LogError telling them to load a
    snapshot.
    """
    with EventLog.open(path, write=True, sync=False) as log:
        return log.compact(upto_seq)
