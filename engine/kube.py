"""Kubernetes objects in, events out.  The only module that knows object shapes.

Accepted input, detected from the first non-blank character of a file:

* JSON (``{`` or ``[``): one object; a ``List``/``NodeList``/... with
  ``items``; or a stream of values, concatenated or one per line, as printed
  by ``kubectl get ... --watch --output-watch-events -o json`` (each value a
  ``{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}``).
* YAML, possibly multi-document (``---``), holding the same shapes.

Nodes, Services and EndpointSlices become events; other kinds are skipped
and counted.  Every value is checked against the shape the API server would
accept, and a mismatch raises ``InputError`` naming the source, the object and
the field, so that nothing half-understood reaches the log.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import IO, Iterable, Iterator, Optional

import attrs
import yaml

from .errors import InputError
from .events import (
    Endpoint,
    Event,
    NodeDeleted,
    NodeUpserted,
    ServiceDeleted,
    ServicePort,
    ServiceUpserted,
    SliceDeleted,
    SlicePort,
    SliceUpserted,
)

ZONE_LABEL = "topology.kubernetes.io/zone"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
TOPOLOGY_HINTS_ANNOTATION = "service.kubernetes.io/topology-aware-hints"
TOPOLOGY_MODE_ANNOTATION = "service.kubernetes.io/topology-mode"

# API-server validation limits: larger values cannot come from a real
# cluster, so they are rejected rather than stored.
MAX_NAME = 253
MAX_ENDPOINTS_PER_SLICE = 1000
MAX_ADDRESSES_PER_ENDPOINT = 100
MAX_HINTS = 8
MAX_PORTS = 100
MAX_STRING = 1024  # any other string field (addresses, zones, policies)

WATCH_TYPES = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR")
_LIST_ITEM_KINDS = {"NodeList": "Node", "ServiceList": "Service", "EndpointSliceList": "EndpointSlice"}


@attrs.define
class ReadStats:
    """What reading the input found, for the ``ingest`` summary."""

    objects: dict = attrs.Factory(dict)  # kind -> objects turned into events
    skipped_kinds: dict = attrs.Factory(dict)  # kind -> objects ignored
    bookmarks: int = 0
    watch_errors: int = 0
    invalid: int = 0  # objects skipped with --skip-invalid

    def count(self, kind: str) -> None:
        self.objects[kind] = self.objects.get(kind, 0) + 1

    def skip(self, kind: str) -> None:
        self.skipped_kinds[kind] = self.skipped_kinds.get(kind, 0) + 1


# ---------------------------------------------------------------------------
# Reading documents


def iter_documents(stream: IO[str], source: str) -> Iterator[tuple[str, object]]:
    """Yield ``(location, value)`` for each top-level JSON or YAML value.

    JSON is decoded as it arrives, one complete top-level value at a time, so
    a live ``kubectl --watch`` piped in is turned into events while it runs.
    """
    first = ""
    line_no = 0
    for line in stream:
        line_no += 1
        if line.strip():
            first = line
            break
    if not first:
        return
    if first.lstrip()[0] in "{[":
        yield from _iter_json(stream, source, first, line_no)
    else:
        yield from _iter_yaml(first + stream.read(), source, line_no)


def _iter_json(stream: IO[str], source: str, first: str, first_line: int) -> Iterator[tuple[str, object]]:
    decoder = json.JSONDecoder()
    buf: list[str] = []
    start_line = first_line  # line where the value being collected starts
    line_no = first_line - 1
    lines = _chain_first(first, stream)
    for line in lines:
        line_no += 1
        if not buf and not line.strip():
            start_line = line_no + 1
            continue
        buf.append(line)
        # A top-level value can only end on a line with no indentation (a
        # pretty-printed closing bracket, or a whole value on one line);
        # trying to decode only there keeps a large List linear to read.
        stripped = line.rstrip()
        if not stripped or line[0] in " \t" or stripped[-1] not in "}]":
            continue
        text = "".join(buf)
        values, rest, rest_line = _decode_all(decoder, text, source, start_line, final=False)
        for loc, value in values:
            yield loc, value
        buf = [rest] if rest.strip() else []
        start_line = rest_line if buf else line_no + 1
    if buf:
        text = "".join(buf)
        values, _, _ = _decode_all(decoder, text, source, start_line, final=True)
        yield from values


def _chain_first(first: str, stream: IO[str]) -> Iterator[str]:
    yield first
    yield from stream


def _decode_all(decoder: json.JSONDecoder, text: str, source: str, start_line: int, final: bool):
    """Decode every complete value in ``text``.

    Returns the values, the undecoded remainder and the line it starts on.
    An error that stops at the end of the text means "more to come" unless
    this is the end of the input.
    """
    values = []
    pos = 0
    end = len(text.rstrip())
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return values, "", start_line + text.count("\n")
        try:
            value, new_pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            if not final and exc.pos >= end:
                line = start_line + text.count("\n", 0, pos)
                return values, text[pos:], line
            line = start_line + text.count("\n", 0, exc.pos)
            what = "truncated JSON" if exc.pos >= end else f"malformed JSON ({exc.msg})"
            raise InputError(f"{source}: line {line}: {what}") from None
        line = start_line + text.count("\n", 0, pos)
        values.append((f"{source}: line {line}", value))
        pos = new_pos


def _iter_yaml(text: str, source: str, first_line: int) -> Iterator[tuple[str, object]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        for index, doc in enumerate(yaml.load_all(text, Loader=loader), start=1):
            if doc is not None:
                yield f"{source}: document {index}", doc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + first_line}" if mark is not None else "somewhere"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"{source}: {where}: malformed YAML ({problem})") from None


# ---------------------------------------------------------------------------
# Documents to events


def iter_events(
    stream: IO[str], source: str, stats: ReadStats, *, skip_invalid: bool = False
) -> Iterator[Event]:
    """Events for every Node/Service/EndpointSlice found in ``stream``.

    Malformed JSON/YAML always raises: nothing after it can be trusted.
    """
    return documents_to_events(iter_documents(stream, source), stats, skip_invalid=skip_invalid)


def documents_to_events(
    documents: Iterable[tuple[str, object]], stats: ReadStats, *, skip_invalid: bool = False
) -> Iterator[Event]:
    """Events for ``(location, document)`` pairs: objects, lists or watch events.

    With ``skip_invalid`` an object that fails validation is counted in
    ``stats.invalid`` and left out; otherwise the first one raises.
    """
    for location, doc in documents:
        for where, action, obj in _unwrap(doc, location, stats):
            try:
                event = object_to_event(obj, action, where)
            except InputError:
                if not skip_invalid:
                    raise
                stats.invalid += 1
                continue
            if event is not None:
                stats.count(obj["kind"])
                yield event
            else:
                stats.skip(obj.get("kind") or "(no kind)")


def _unwrap(doc: object, location: str, stats: ReadStats) -> Iterator[tuple[str, str, dict]]:
    """Flatten lists and watch events into ``(where, action, object)``."""
    if not isinstance(doc, dict):
        raise InputError(f"{location}: expected an object, found {_type_name(doc)}")
    if "type" in doc and "object" in doc and "kind" not in doc:
        event_type = doc["type"]
        if event_type not in WATCH_TYPES:
            raise InputError(
                f"{location}: unknown watch event type {event_type!r} "
                f"(expected one of {', '.join(WATCH_TYPES)})"
            )
        if event_type == "BOOKMARK":
            stats.bookmarks += 1
            return
        if event_type == "ERROR":
            # The watch was interrupted: events may be missing after this point.
            stats.watch_errors += 1
            return
        obj = doc["object"]
        if not isinstance(obj, dict):
            raise InputError(f"{location}: watch event object: expected an object, found {_type_name(obj)}")
        yield location, "delete" if event_type == "DELETED" else "upsert", obj
        return
    kind = doc.get("kind")
    if isinstance(kind, str) and (kind == "List" or kind.endswith("List")) and "items" in doc:
        items = doc["items"]
        if not isinstance(items, list):
            raise InputError(f"{location}: {kind}.items: expected a list, found {_type_name(items)}")
        item_kind = _LIST_ITEM_KINDS.get(kind)
        for index, item in enumerate(items):
            where = f"{location}: items[{index}]"
            if not isinstance(item, dict):
                raise InputError(f"{where}: expected an object, found {_type_name(item)}")
            if item_kind and "kind" not in item:
                # Typed lists from the API server leave the item kind out.
                item = {**item, "kind": item_kind}
            yield where, "upsert", item
        return
    yield location, "upsert", doc


def object_to_event(obj: dict, action: str, where: str) -> Optional[Event]:
    """One Kubernetes object to its event; ``None`` for kinds we do not model."""
    kind = obj.get("kind")
    convert = _CONVERTERS.get(kind)
    if convert is None:
        return None
    fields = _Fields(obj, f"{where} ({kind})")
    name = fields.name()
    fields.where = f"{where} ({kind} {name if kind == 'Node' else fields.namespace() + '/' + name})"
    return convert(fields, action)


# ---------------------------------------------------------------------------
# Field access with precise errors


class _Fields:
    """Typed access to a Kubernetes object, raising InputError with the path."""

    def __init__(self, obj: dict, where: str):
        self.obj = obj
        self.where = where

    def fail(self, path: str, message: str) -> InputError:
        return InputError(f"{self.where}: {path}: {message}")

    def get(self, path: str, expected: type | tuple, default=None, node: Optional[dict] = None, base: str = ""):
        """Value at dotted ``path`` (under ``node``, itself at ``base``), type-checked;
        ``default`` if absent or null."""
        value = node if node is not None else self.obj
        for part in path.split("."):
            if not isinstance(value, dict):
                raise self.fail(path, f"expected an object, found {_type_name(value)}")
            value = value.get(part)
            if value is None:
                return default
        if base:
            path = f"{base}.{path}"
        if expected is int and isinstance(value, bool):
            raise self.fail(path, "expected an integer, found boolean")
        if not isinstance(value, expected):
            raise self.fail(path, f"expected {_expected_name(expected)}, found {_type_name(value)}")
        if isinstance(value, str) and len(value) > MAX_STRING:
            raise self.fail(path, f"string of {len(value)} characters exceeds the limit of {MAX_STRING}")
        return value

    def name(self) -> str:
        name = self.get("metadata.name", str)
        if not name:
            raise self.fail("metadata.name", "required field is missing")
        if len(name) > MAX_NAME:
            raise self.fail("metadata.name", f"longer than {MAX_NAME} characters")
        return name

    def namespace(self) -> str:
        # kubectl always prints it; a hand-written manifest means "default".
        return self.get("metadata.namespace", str, "default")

    def mapping(self, path: str) -> dict:
        value = self.get(path, dict, {})
        for key, item in value.items():
            if not isinstance(item, str):
                raise self.fail(f"{path}.{key}", f"expected a string, found {_type_name(item)}")
        return value

    def items(self, path: str, limit: int, node: Optional[dict] = None, base: str = "") -> list:
        value = self.get(path, list, [], node, base)
        if base:
            path = f"{base}.{path}"
        if len(value) > limit:
            raise self.fail(path, f"{len(value)} entries exceed the API limit of {limit}")
        return value

    def objects(self, path: str, limit: int) -> Iterator[tuple[str, dict]]:
        """``(path[i], entry)`` for a list of objects, each checked to be one."""
        for index, entry in enumerate(self.items(path, limit)):
            where = f"{path}[{index}]"
            if not isinstance(entry, dict):
                raise self.fail(where, f"expected an object, found {_type_name(entry)}")
            yield where, entry


def _type_name(value: object) -> str:
    return {
        dict: "object", list: "list", str: "string", int: "integer", float: "number",
        bool: "boolean", type(None): "null",
    }.get(type(value), type(value).__name__)


def _expected_name(expected) -> str:
    if isinstance(expected, tuple):
        return " or ".join(_expected_name(e) for e in expected)
    return {dict: "an object", list: "a list", str: "a string", int: "an integer", bool: "a boolean"}.get(
        expected, expected.__name__
    )


# ---------------------------------------------------------------------------
# Per-kind conversion


def _node(f: _Fields, action: str) -> Event:
    name = f.name()
    if action == "delete":
        return NodeDeleted(name)
    labels = f.mapping("metadata.labels")
    cpu_text = f.get("status.allocatable.cpu", (str, int), None)
    cpu = 0 if cpu_text is None else parse_cpu_millis(cpu_text, lambda m: f.fail("status.allocatable.cpu", m))
    ready = False
    for path, cond in f.objects("status.conditions", 100):
        if cond.get("type") == "Ready":
            ready = f.get("status", str, "", cond, path) == "True"
    return NodeUpserted(
        name=name,
        zone=labels.get(ZONE_LABEL) or None,
        cpu_millis=cpu,
        ready=ready,
        control_plane=any(label in labels for label in CONTROL_PLANE_LABELS),
    )


def _service(f: _Fields, action: str) -> Event:
    name, namespace = f.name(), f.namespace()
    if action == "delete":
        return ServiceDeleted(namespace, name)
    ports = []
    for path, raw in f.objects("spec.ports", MAX_PORTS):
        port = f.get("port", int, None, raw, path)
        if port is None:
            raise f.fail(f"{path}.port", "required field is missing")
        _check_port(f, f"{path}.port", port)
        target = f.get("targetPort", (int, str), port, raw, path)
        ports.append(
            ServicePort(
                name=f.get("name", str, "", raw, path),
                port=port,
                protocol=f.get("protocol", str, "TCP", raw, path),
                target_port=target,
                node_port=f.get("nodePort", int, 0, raw, path),
            )
        )
    annotations = f.mapping("metadata.annotations")
    mode = annotations.get(TOPOLOGY_HINTS_ANNOTATION)
    if mode is None:
        mode = annotations.get(TOPOLOGY_MODE_ANNOTATION)
    external_ips = f.items("spec.externalIPs", MAX_PORTS)
    ingress = f.items("status.loadBalancer.ingress", MAX_PORTS)
    return ServiceUpserted(
        namespace=namespace,
        name=name,
        ports=tuple(ports),
        internal_traffic_policy=f.get("spec.internalTrafficPolicy", str, "Cluster"),
        external_traffic_policy=f.get("spec.externalTrafficPolicy", str, "Cluster"),
        type=f.get("spec.type", str, "ClusterIP"),
        external_addresses=bool(external_ips or ingress),
        traffic_distribution=f.get("spec.trafficDistribution", str, None),
        topology_mode=mode,
    )


def _slice(f: _Fields, action: str) -> Event:
    name, namespace = f.name(), f.namespace()
    labels = f.mapping("metadata.labels")
    service = labels.get(SERVICE_NAME_LABEL) or None
    if action == "delete":
        return SliceDeleted(namespace, name, service)
    address_type = f.get("addressType", str, None)
    if address_type is None:
        raise f.fail("addressType", "required field is missing")
    beta = f.get("apiVersion", str, "").endswith("v1beta1")
    ports = []
    for path, raw in f.objects("ports", MAX_PORTS):
        port = f.get("port", int, None, raw, path)
        if port is not None:
            _check_port(f, f"{path}.port", port)
        ports.append(SlicePort(f.get("name", str, "", raw, path), port, f.get("protocol", str, "TCP", raw, path)))
    endpoints = []
    for path, raw in f.objects("endpoints", MAX_ENDPOINTS_PER_SLICE):
        endpoints.append(_endpoint(f, path, raw, beta))
    return SliceUpserted(namespace, name, service, address_type, tuple(ports), tuple(endpoints))


def _endpoint(f: _Fields, path: str, raw: dict, beta: bool) -> Endpoint:
    addresses = f.items("addresses", MAX_ADDRESSES_PER_ENDPOINT, raw, path)
    if not addresses:
        raise f.fail(f"{path}.addresses", "at least one address is required")
    for i, address in enumerate(addresses):
        if not isinstance(address, str) or not address:
            raise f.fail(f"{path}.addresses[{i}]", f"expected an address string, found {_type_name(address)}")
        if len(address) > MAX_STRING:
            raise f.fail(f"{path}.addresses[{i}]", "address too long")
    node_name = f.get("nodeName", str, None, raw, path)
    zone = f.get("zone", str, None, raw, path)
    if beta:
        # discovery.k8s.io/v1beta1 kept zone (and once the node) in a topology map.
        topology = f.get("topology", dict, {}, raw, path)
        zone = zone or topology.get(ZONE_LABEL)
        node_name = node_name or topology.get("kubernetes.io/hostname")
    target = f.get("targetRef", dict, None, raw, path)
    return Endpoint(
        addresses=tuple(addresses),
        ready=f.get("conditions.ready", bool, None, raw, path),
        serving=f.get("conditions.serving", bool, None, raw, path),
        terminating=f.get("conditions.terminating", bool, None, raw, path),
        node_name=node_name,
        zone=zone or None,
        hostname=f.get("hostname", str, None, raw, path),
        target_kind=None if target is None else f.get("kind", str, None, target, f"{path}.targetRef"),
        target_namespace=None if target is None else f.get("namespace", str, None, target, f"{path}.targetRef"),
        target_name=None if target is None else f.get("name", str, None, target, f"{path}.targetRef"),
        for_zones=_hint_names(f, f"{path}.hints.forZones", raw.get("hints"), "forZones"),
        for_nodes=_hint_names(f, f"{path}.hints.forNodes", raw.get("hints"), "forNodes"),
    )


def _hint_names(f: _Fields, path: str, hints: object, key: str) -> tuple[str, ...]:
    if hints is None:
        return ()
    if not isinstance(hints, dict):
        raise f.fail(path.rsplit(".", 1)[0], f"expected an object, found {_type_name(hints)}")
    entries = hints.get(key) or []
    if not isinstance(entries, list):
        raise f.fail(path, f"expected a list, found {_type_name(entries)}")
    if len(entries) > MAX_HINTS:
        raise f.fail(path, f"{len(entries)} hints exceed the API limit of {MAX_HINTS}")
    names = []
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or len(name) > MAX_STRING:
            raise f.fail(f"{path}[{i}].name", "expected a name string")
        names.append(name)
    return tuple(names)


def _check_port(f: _Fields, path: str, port: int) -> None:
    if not 0 <= port <= 65535:
        raise f.fail(path, f"port {port} is outside 0..65535")


_CONVERTERS = {"Node": _node, "Service": _service, "EndpointSlice": _slice}

# ---------------------------------------------------------------------------
# Quantities

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?$")
_SUFFIX = {
    None: Decimal(1), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def parse_cpu_millis(quantity, fail=None) -> int:
    """A Kubernetes CPU quantity ("4", "3500m", "0.5", 2) in millicores.

    Rounds up, as ``Quantity.MilliValue`` does, so "1.0001" is 1001m.
    """
    text = str(quantity).strip()
    match = _QUANTITY.match(text)
    if not match:
        message = f"not a quantity: {quantity!r}"
        raise fail(message) if fail else InputError(message)
    number, suffix = match.groups()
    try:
        scale = _SUFFIX[suffix] if suffix is None or not suffix[0] in "eE" else Decimal(10) ** int(suffix[1:])
        millis = Decimal(number) * scale * 1000
    except (InvalidOperation, ValueError, OverflowError):
        message = f"not a quantity: {quantity!r}"
        raise fail(message) if fail else InputError(message) from None
    whole = int(millis.to_integral_value(rounding="ROUND_CEILING"))
    return max(whole, 0)
