"""Bytes to documents: encodings, JSON value framing, YAML.

A stream (a file, standard input, bytes an embedder hands over) holds JSON
or YAML, told apart by its first non-blank character (``{`` or ``[`` is
JSON).  It may be UTF-8 with or without a byte-order mark, UTF-16 or UTF-32
with one, with LF or CRLF line ends; bytes that do not decode are reported
with their byte offset.

JSON may be one value (a ``List`` of any size), one value per line (``kubectl
get --watch --output-watch-events -o json``), or values pretty-printed or
concatenated one after another.  Values are decoded as they complete, so a
live watch piped in is read while it runs; the decoding itself is the
caller's (``iter_json``'s ``decode``), so that the hot path decodes every
byte once, straight into typed objects.

YAML is read with the safe loader, without timestamp resolution (the API
server's YAML-to-JSON conversion keeps ``2024-01-01`` a string) and with a
bound on what aliases may expand to.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Optional, TypeVar, Union

import msgspec
import yaml

from ..errors import InputError

R = TypeVar("R")

_WIDE_BOMS = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# How far aliases may make a YAML document grow beyond the values it spells out.
YAML_ALIAS_BUDGET = 1_000_000


# -- lines of UTF-8 ------------------------------------------------------------


def utf8_lines(stream: Union[IO[bytes], IO[str], Iterable], source: str) -> Iterator[bytes]:
    """The stream's lines as valid UTF-8 bytes, whatever its encoding.

    Text streams (already decoded) are re-encoded; binary ones are checked,
    or transcoded when a byte-order mark says UTF-16 or UTF-32.
    """
    lines = iter(stream)
    first = next(lines, None)
    if first is None:
        return
    if isinstance(first, str):
        yield from _encoded(first, lines, source)
        return
    offset = 0
    if first.startswith(codecs.BOM_UTF8):
        first, offset = first[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
    else:
        for bom, encoding in _WIDE_BOMS:
            if first.startswith(bom):
                yield from _transcoded(first[len(bom) :], lines, encoding, len(bom), source)
                return
    line: Optional[bytes] = first
    while line is not None:
        if not line.isascii():
            _check_utf8(line, offset, source)
        yield line
        offset += len(line)
        line = next(lines, None)


def _check_utf8(line: bytes, offset: int, source: str) -> None:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{source}: byte {offset + exc.start}: not UTF-8 text ({exc.reason}); "
            f"give UTF-8, or UTF-16 with a byte-order mark"
        ) from None


def _encoded(first: str, lines: Iterator[str], source: str) -> Iterator[bytes]:
    line = first.lstrip("\ufeff")
    number = 1
    try:
        while line is not None:
            yield line.encode("utf-8")
            number += 1
            line = next(lines, None)
    except UnicodeError as exc:  # a lone surrogate, or the text stream's own decoding
        raise InputError(f"{source}: line {number}: not valid text ({exc.reason})") from None


def _transcoded(first: bytes, chunks: Iterator[bytes], encoding: str, bom: int, source: str) -> Iterator[bytes]:
    """UTF-16/32 to UTF-8 lines, decoding incrementally so that stdin stays live."""
    decoder = codecs.getincrementaldecoder(encoding)()
    consumed = bom  # bytes of the original stream handed to the decoder so far
    partial: list[str] = []  # the pieces of a line not yet ended
    chunk: Optional[bytes] = first
    while True:
        final = chunk is None
        held = len(decoder.getstate()[0])  # bytes of an incomplete character from the last chunk
        try:
            text = decoder.decode(b"" if final else chunk, final)
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{source}: byte {consumed - held + exc.start}: not {encoding.upper()} text ({exc.reason})"
            ) from None
        if not final:
            consumed += len(chunk)
        *complete, rest = text.split("\n")
        for line in complete:
            partial.append(line)
            yield ("".join(partial) + "\n").encode("utf-8")
            partial = []
        if rest:
            partial.append(rest)
        if final:
            if partial:
                yield "".join(partial).encode("utf-8")
            return
        chunk = next(chunks, None)


# -- JSON or YAML ----------------------------------------------------------------


def split_format(lines: Iterator[bytes]) -> tuple[str, int, Iterator[bytes]]:
    """("json" | "yaml" | "empty", number of the first non-blank line, its lines from there on)."""
    number = 0
    for line in lines:
        number += 1
        stripped = line.lstrip()
        if stripped:
            kind = "json" if stripped[:1] in (b"{", b"[") else "yaml"
            return kind, number, _chain(line, lines)
    return "empty", number, iter(())


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


# -- JSON values -----------------------------------------------------------------

_TRAILING = re.compile(r"trailing characters \(byte (\d+)\)")
_AT_BYTE = re.compile(r"\(byte (\d+)\)")
_SPACE = re.compile(rb"[ \t\r\n]*")


def iter_json(lines: Iterator[bytes], first_line: int, source: str, decode: Callable[[bytes, str], R]) -> Iterator[R]:
    """``decode(value_bytes, location)`` for each top-level JSON value, in order.

    ``decode`` raises ``msgspec.DecodeError`` when the bytes are not one
    whole value; that is how the end of a value is found without a second
    parse: "truncated" means read on, "trailing characters at byte N" means
    a value ended at N.  A value is tried at a line that may end one (one
    ending in ``}`` or ``]``, unindented unless it is the value's first
    line), and, after a failed try, only once the value has doubled, so a
    hostile stream of candidate lines costs linear time, not quadratic.
    """
    pending: list[bytes] = []
    size = tried = 0
    start = line_no = first_line - 1
    for line in lines:
        line_no += 1
        if not pending:
            if not line or line.isspace():
                continue
            start, size, tried = line_no, 0, 0
        pending.append(line)
        size += len(line)
        if size < 2 * tried or not _may_end_value(line, first=len(pending) == 1):
            continue
        value = pending[0] if len(pending) == 1 else b"".join(pending)
        pending = []
        for result, rest, rest_line in _decode_values(value, start, source, decode, final=False):
            if rest is None:
                yield result
            else:  # the last value continues on the next lines
                pending, start, size = [rest], rest_line, len(rest)
                tried = size
    if pending:
        value = b"".join(pending)
        for result, _, _ in _decode_values(value, start, source, decode, final=True):
            yield result


_VALUE_ENDS = (b"}\n", b"]\n", b"}\r\n", b"]\r\n", b"}", b"]")


def _may_end_value(line: bytes, first: bool) -> bool:
    """Whether a top-level value may end on ``line``: its last non-blank
    character closes an object or array, and it is the value's first line or
    unindented (pretty-printers indent every closing bracket but the last)."""
    if not first and line[:1] in (b" ", b"\t"):
        return False
    return line.endswith(_VALUE_ENDS) or line.rstrip()[-1:] in (b"}", b"]")


def _decode_values(value: bytes, line: int, source: str, decode, final: bool):
    """Decode the values in ``value`` (which starts at ``line``): yields
    (result, None, None) per value, then (None, rest, rest_line) if the last
    one is incomplete and more input may come.  Values are handed to
    ``decode`` as views into ``value``: many on one line cost no copying."""
    view = memoryview(value)
    start = 0  # where the current value starts in ``value``
    while True:
        location = f"{source}: line {line}"
        try:
            yield decode(view[start:], location), None, None
            return
        except msgspec.DecodeError as exc:
            message = str(exc)
            trailing = _TRAILING.search(message)
            if trailing is not None:
                end = start + int(trailing.group(1)) - 1  # msgspec counts the first trailing byte as read
                yield decode(view[start:end], location), None, None
                following = _SPACE.match(value, end).end()
                line += value.count(b"\n", start, following)
                start = following
                if start == len(value):
                    return
                continue
            if "truncated" in message:
                if not final:
                    yield None, value[start:], line
                    return
                raise InputError(f"{location}: truncated JSON (the input ends inside a value)") from None
            at = _AT_BYTE.search(message)
            where = line + value.count(b"\n", start, start + int(at.group(1))) if at else line
            what = message.split(": ", 1)[-1].split(" (byte")[0]
            raise InputError(f"{source}: line {where}: malformed JSON ({what})") from None
        except RecursionError:
            raise InputError(f"{location}: JSON nested too deeply") from None


# -- YAML --------------------------------------------------------------------------

_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):
    """The safe loader, resolving plain scalars as the API server's YAML
    conversion does: ``2024-01-01`` stays a string."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
    }


def iter_yaml(lines: Iterator[bytes], first_line: int, source: str) -> Iterator[tuple[str, object]]:
    """``(location, document)`` for each non-empty YAML document."""
    text = b"".join(lines).decode("utf-8")  # already checked line by line
    may_alias = "*" in text
    try:
        for index, doc in enumerate(yaml.load_all(text, Loader=_Loader), start=1):
            if doc is None:
                continue
            location = f"{source}: document {index}"
            if may_alias:
                _check_aliases(doc, location)
            yield location, doc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + first_line}" if mark is not None else "somewhere"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"{source}: {where}: malformed YAML ({problem})") from None
    except RecursionError:
        raise InputError(f"{source}: YAML nested too deeply") from None


def _check_aliases(doc: object, location: str) -> None:
    """Refuse a document whose aliases refer to themselves or expand to more
    than ``YAML_ALIAS_BUDGET`` values beyond those it spells out (a
    "billion laughs"): the loader shares aliased values, but everything that
    walks the document afterwards would visit each use."""
    sizes: dict[int, int] = {}  # id -> values in the expanded container
    unique = 0
    stack: list[tuple[object, bool]] = [(doc, False)]
    open_: set[int] = set()
    while stack:
        value, done = stack.pop()
        key = id(value)
        children = value.values() if isinstance(value, dict) else value
        if done:
            open_.discard(key)
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for c in children)
            continue
        if key in sizes:
            continue
        if key in open_:
            raise InputError(f"{location}: a YAML alias refers to a value that contains it")
        unique += 1
        open_.add(key)
        stack.append((value, True))
        for child in children:
            if isinstance(child, (dict, list)):
                if id(child) in open_:
                    raise InputError(f"{location}: a YAML alias refers to a value that contains it")
                stack.append((child, False))
            else:
                unique += 1
    expanded = sizes.get(id(doc), 1)
    if expanded - unique > YAML_ALIAS_BUDGET:
        raise InputError(f"{location}: YAML aliases expand to more than {YAML_ALIAS_BUDGET:,} extra values")
