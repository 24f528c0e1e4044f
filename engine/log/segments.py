"""Segment files, the log directory and its writer lock.

A segment is named by the sequence number of its first event, 20 digits,
zero padded (``00000000000000000001.log``), and starts with a 16-byte header:
magic ``b"TOPOLOG\\x00"`` | format version, u16 LE | checksum kind, u8 (1:
CRC-32 as in zlib) | 5 reserved bytes, zero.  The version says how the
segment's frames are laid out (engine/log/encoder.py, decoder.py); a log may
hold segments of different versions, the newest last.  A segment is created
complete with its header (temp file, fsync, rename, fsync of the directory),
so a header is never torn: any fault in one is damage.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import attrs

from ..durable import write_file
from ..errors import LogCorruption, LogError

MAGIC = b"TOPOLOG\x00"
FORMAT_VERSION = 2  # what new segments are written in
READABLE_VERSIONS = (1, 2)
CHECKSUM_CRC32 = 1
_HEADER = struct.Struct("<8sHB5s")
HEADER_BYTES = _HEADER.size
LOCK_NAME = "LOCK"
_SEGMENT_RE = re.compile(r"^(\d{20})\.log$")
_TEMP_SUFFIX = ".log.tmp"


@attrs.frozen
class Segment:
    first_seq: int
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}.log"


def list_segments(directory: Path) -> list[Segment]:
    """The segment files of ``directory``, in sequence order; their contents are not read."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        raise LogError(f"{directory}: no such log directory") from None
    except NotADirectoryError:
        raise LogError(f"{directory} is not a log directory") from None
    found = []
    for name in names:
        m = _SEGMENT_RE.match(name)
        if m:
            found.append(Segment(int(m.group(1)), directory / name))
    found.sort(key=lambda s: s.first_seq)
    return found


def check_log_dir(path, *, create: bool = False) -> bool:
    """Whether ``path`` holds a log; LogError (one line) when it neither
    holds one nor, with ``create``, is a place where one may be made.

    A log is a directory with at least one segment file.  With ``create``,
    a missing path and a directory holding nothing but what an interrupted
    creation leaves (the lock, a segment temp file) may become a log
    (returns False); any other directory, and anything that is not a
    directory, is refused.  Nothing is created or changed.
    """
    directory = Path(path)
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        if create:
            return False
        raise LogError(f"{directory}: no such log directory") from None
    except NotADirectoryError:
        raise LogError(f"{directory} is not a log directory") from None
    except OSError as exc:
        raise LogError(f"{directory}: {exc.strerror or exc}") from None
    if any(_SEGMENT_RE.match(name) for name in names):
        return True
    leftovers = [n for n in names if n != LOCK_NAME and not n.endswith(_TEMP_SUFFIX)]
    if create and not leftovers:
        return False
    what = "an empty directory" if not names else "a directory without log segments"
    raise LogError(f"not a log: {directory} ({what})")


def segment_header(version: int = FORMAT_VERSION) -> bytes:
    return _HEADER.pack(MAGIC, version, CHECKSUM_CRC32, bytes(5))


def segment_version(path: Path, header: bytes) -> int:
    """The format version a segment header declares, once the header checks out."""
    if len(header) < HEADER_BYTES:
        raise LogCorruption(f"{path}: segment header truncated ({len(header)} of {HEADER_BYTES} bytes)")
    magic, version, checksum_kind, reserved = _HEADER.unpack_from(header)
    if magic != MAGIC:
        raise LogCorruption(f"{path}: not a log segment (bad magic at byte 0)")
    if version not in READABLE_VERSIONS:
        raise LogError(
            f"{path}: format version {version} is not supported "
            f"(this build reads {', '.join(map(str, READABLE_VERSIONS))})"
        )
    if checksum_kind != CHECKSUM_CRC32:
        raise LogError(f"{path}: checksum kind {checksum_kind} is not supported")
    if reserved != bytes(5):
        raise LogCorruption(f"{path}: reserved header bytes are not zero (byte 11)")
    return version


def read_segment_version(path: Path) -> int:
    with open(path, "rb") as f:
        return segment_version(path, f.read(HEADER_BYTES))


@contextlib.contextmanager
def os_errors(directory: Path) -> Iterator[None]:
    """Report file system failures (permissions, disk full, ...) as LogError."""
    try:
        yield
    except OSError as exc:
        raise LogError(f"{exc.filename or directory}: {exc.strerror or exc}") from None


def create_segment(directory: Path, first_seq: int) -> Path:
    """A header-only segment in the current format (replacing one of that name)."""
    final = directory / segment_name(first_seq)
    write_file(final, [segment_header()], temp=final.with_name(final.name + ".tmp"))
    return final


def clean_temp_files(directory: Path) -> None:
    """Remove segment temp files: only a lock holder makes them, so any
    found by the next one are leftovers of a crash."""
    for name in os.listdir(directory):
        if name.endswith(_TEMP_SUFFIX):
            os.unlink(directory / name)


def take_lock(directory: Path) -> int:
    """The writer lock: an exclusive flock on ``LOCK``, which records the holder's pid."""
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        raise LogError(f"{directory}: no such log directory") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise LogError(f"{directory} is locked by another writer (pid {holder})") from None
    # Written, then cut to its length: truncating to zero first would make
    # ext4 flush the file on close (its guard for truncate-and-rewrite),
    # milliseconds on every writer open.
    pid_line = f"{os.getpid()}\n".encode()
    os.pwrite(fd, pid_line, 0)
    os.ftruncate(fd, len(pid_line))
    return fd


def release_lock(fd: Optional[int]) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock
