"""Frames of format version 2: how a batch of records is written.

A frame starts at an 8-byte aligned offset (segment headers are 16 bytes and
every frame is a multiple of 8 long), so none of its 8-byte words ever
straddles a 512-byte sector: a sector the disk did not write leaves whole
words of zeros, never half a length.

    header   payload length, u32 LE | header check: CRC-32 of the 4 length bytes, u32 LE
    payload  msgpack ``[first_seq, time, [record, ...]]``, then zero bytes up to
             the next multiple of 8
    trailer  CRC-32 of the padded payload, u32 LE | end tag: the payload length
             with every bit inverted, u32 LE

The header check lets a reader trust the length before it reads the frame:
a frame whose checked header says it runs past the end of the file was cut
short by a crash, while a flipped bit in the length fails the check.  The
end tag is never zero (lengths stay below 2**26, so its top six bits are
set), and one flipped bit cannot make it zero, so a frame whose final sector
reads as zeros is one whose end was never written, never a damaged frame
that happens to end in zeros.  The header check catches every error of up
to 9 flipped bits anywhere in the 8-byte header (the smallest error that
turns one valid header into another flips 10: CRC-32 is linear, so this was
counted over every error pattern of the length word).

A payload is one batch: its records carry the sequence numbers
``first_seq, first_seq + 1, ...`` and share ``time`` (float seconds since
the epoch); it holds at least one record, so it starts with the byte 0x93 (a
3-element array).  Records are opaque msgpack values (engine/events.py gives
them meaning).  A payload is at most ``MAX_FRAME_BYTES``, so no length a
reader trusts makes it allocate more.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import msgpack

from ..errors import LogError

FRAME_ALIGN = 8
FRAME_HEADER = struct.Struct("<II")
FRAME_TRAILER = struct.Struct("<II")
FRAME_HEADER_BYTES = FRAME_HEADER.size
FRAME_TRAILER_BYTES = FRAME_TRAILER.size
MAX_FRAME_BYTES = 64 * 2**20
PAYLOAD_START = b"\x93"  # a 3-element msgpack array
_ALL_BITS = 0xFFFF_FFFF
_U32 = struct.Struct("<I")
_PADDING = [bytes(n) for n in range(FRAME_ALIGN)]


def header_check(length_bytes) -> int:
    return zlib.crc32(length_bytes)


def end_tag(length: int) -> int:
    return length ^ _ALL_BITS


def padded(length: int) -> int:
    return (length + FRAME_ALIGN - 1) & -FRAME_ALIGN


def frame_size(length: int) -> int:
    """Bytes a frame with a payload of ``length`` bytes takes on disk."""
    return FRAME_HEADER_BYTES + padded(length) + FRAME_TRAILER_BYTES


def wrap_payload(payload: bytes) -> bytes:
    """The frame around an encoded payload."""
    length = len(payload)
    padding = _PADDING[padded(length) - length]
    length_bytes = _U32.pack(length)
    return b"".join(
        (
            length_bytes,
            _U32.pack(header_check(length_bytes)),
            payload,
            padding,
            FRAME_TRAILER.pack(zlib.crc32(padding, zlib.crc32(payload)), end_tag(length)),
        )
    )


def encode_frame(first_seq: int, time: float, records: Sequence[list]) -> bytes:
    """One frame holding ``records`` as the batch starting at ``first_seq``."""
    try:
        payload = msgpack.packb([first_seq, float(time), list(records)], use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise LogError(f"batch at seq {first_seq} cannot be encoded: {exc}") from None
    if len(payload) > MAX_FRAME_BYTES:
        raise LogError(f"batch at seq {first_seq} is {len(payload)} bytes; a frame holds at most {MAX_FRAME_BYTES}")
    return wrap_payload(payload)
