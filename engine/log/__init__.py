"""The durable event log: append-only segment files of checksummed frames.

A log is a directory.  It holds segment files, a ``LOCK`` file taken by the
one writer, and the snapshots of engine/snapshot.py.  Each concern has its
module, as in etcd's ``wal`` package:

    segments.py   segment files and their headers, the directory (what is a
                  log, where one may be made), the writer lock
    encoder.py    the frame layout (format version 2) and how a batch is written
    decoder.py    the one frame decoder, both versions: every reader walks
                  frames through it, and it alone decides torn against damage
    reader.py     a cursor over frames across segments, by offset
    eventlog.py   ``EventLog``: opening with crash recovery, append, rotation,
                  compaction, reading
    verify.py     ``verify`` (every frame of every segment) and ``stats``
    repair.py     ``repair``: cut at the first problem, keeping the cut bytes
    follow.py     ``follow`` and ``afollow``: a growing log, as it grows

A batch of records is one frame; a frame's records take consecutive
sequence numbers.  A crash can only tear the frame being written, at the end
of the last segment: readers ignore it and writers cut it.  Any other bad
frame is damage: opening and reading raise ``LogCorruption`` naming the
segment and byte offset, writers refuse to open, ``verify`` reports it and
``repair`` cuts it.
"""

from .decoder import SECTOR_BYTES, Damage, Frame, Torn
from .encoder import FRAME_HEADER_BYTES, MAX_FRAME_BYTES, encode_frame, frame_size, wrap_payload
from .eventlog import DEFAULT_SEGMENT_BYTES, EventLog, compact
from .follow import afollow, follow
from .reader import Batch, Entry
from .repair import DroppedRange, RepairReport, repair
from .segments import (
    FORMAT_VERSION,
    HEADER_BYTES,
    READABLE_VERSIONS,
    Segment,
    check_log_dir,
    list_segments,
    segment_name,
)
from .verify import Problem, SegmentReport, VerifyReport, stats, verify

__all__ = [
    "Batch",
    "DEFAULT_SEGMENT_BYTES",
    "Damage",
    "DroppedRange",
    "Entry",
    "EventLog",
    "FORMAT_VERSION",
    "FRAME_HEADER_BYTES",
    "Frame",
    "HEADER_BYTES",
    "MAX_FRAME_BYTES",
    "Problem",
    "READABLE_VERSIONS",
    "RepairReport",
    "SECTOR_BYTES",
    "Segment",
    "SegmentReport",
    "Torn",
    "VerifyReport",
    "afollow",
    "check_log_dir",
    "compact",
    "encode_frame",
    "follow",
    "frame_size",
    "list_segments",
    "repair",
    "segment_name",
    "stats",
    "verify",
    "wrap_payload",
]
