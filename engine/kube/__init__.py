"""Kubernetes objects in, events out: the only package that knows object shapes.

* ``schema.py``: the objects we read (Node, Service, EndpointSlice, lists,
  watch events), declared once as msgspec types.
* ``rules.py``: the API server's syntax rules for names, labels, addresses,
  ports and quantities.
* ``read.py``: bytes to documents (encodings, JSON framing, YAML).
* ``convert.py``: documents to validated objects to events.

Nodes, Services and EndpointSlices become events; objects of other kinds
are skipped and counted; anything the API server would refuse raises
``InputError`` naming the source, the object and the field.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Union

from ..errors import InputError
from ..events import Event
from .convert import Converter, ReadStats, object_to_event
from .read import iter_json, iter_yaml, split_format, utf8_lines
from .rules import millis, quantity

__all__ = ["ReadStats", "iter_events", "read_objects", "object_to_event", "parse_cpu_millis"]

_BYTES = (bytes, bytearray, memoryview)


def iter_events(
    stream: Union[IO[bytes], IO[str], Iterable], source: str, stats: ReadStats, *, skip_invalid: bool = False
) -> Iterator[Event]:
    """Events for every Node/Service/EndpointSlice in a stream of JSON or YAML.

    JSON values are turned into events as they complete, so a live ``kubectl
    --watch`` piped in is read while it runs.  Malformed JSON or YAML always
    raises: nothing after it can be trusted.
    """
    converter = Converter(stats, skip_invalid)
    form, first_line, lines = split_format(utf8_lines(stream, source))
    if form == "json":
        for events in iter_json(lines, first_line, source, converter.json_value):
            yield from events
    elif form == "yaml":
        for location, document in iter_yaml(lines, first_line, source):
            yield from converter.value(document, location)


def read_objects(objects, source: str, stats: ReadStats, *, skip_invalid: bool = False) -> Iterator[Event]:
    """Events for what an embedding program hands over: one object (a dict),
    JSON or YAML text (bytes or str, e.g. a watch stream's lines), or an
    iterable of either."""
    if isinstance(objects, (Mapping, str, *_BYTES)):
        objects = (objects,)
    try:
        items = iter(objects)
    except TypeError:
        raise InputError(f"{source}: expected objects, or JSON or YAML text; found {type(objects).__name__}") from None
    converter = Converter(stats, skip_invalid)
    for index, obj in enumerate(items):
        where = f"{source}[{index}]"
        if isinstance(obj, str):
            yield from iter_events(io.StringIO(obj), where, stats, skip_invalid=skip_invalid)
        elif isinstance(obj, _BYTES):
            yield from iter_events(io.BytesIO(obj), where, stats, skip_invalid=skip_invalid)
        else:
            yield from converter.value(obj, where)


def parse_cpu_millis(value) -> int:
    """A Kubernetes CPU quantity ("4", "3500m", "0.5", 2) in millicores, rounded up."""
    amount, problem = quantity(value)
    if problem:
        raise InputError(problem)
    return millis(amount)
