"""Documents to validated objects to events.

Two ways in, one set of rules:

* JSON bytes (files, standard input, watch lines an embedder hands over)
  are decoded by msgspec straight into the typed objects of ``schema.py``:
  one pass, no Python dicts.  Anything that does not fit the types (another
  kind, a value of the wrong type) is decoded again the slow way, below, so
  that it is skipped or reported exactly as there.
* Parsed values (YAML documents, dicts) are unwrapped (watch events, lists)
  and each object converted with ``msgspec.convert`` into the same types.

Either way each object then meets the rules the types cannot state
(``rules.py`` and the per-kind checks here) and becomes an event.  A
failure is one ``InputError`` line naming the source, the object (line,
document or index, then kind and namespace/name) and the field path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Optional

import attrs
import msgspec

from .. import kernels
from ..errors import InputError
from ..events import (
    EndpointColumns,
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
from . import rules
from .schema import (
    ENUMS,
    LIST_KINDS,
    MODELED,
    WATCH_TYPES,
    Document,
    Endpoint,
    EndpointSlice,
    Node,
    NodeStatus,
    ObjectMeta,
    Service,
    ServiceSpec,
    WatchEvent,
)

ZONE_LABEL = "topology.kubernetes.io/zone"
HOSTNAME_LABEL = "kubernetes.io/hostname"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
TOPOLOGY_HINTS_ANNOTATION = "service.kubernetes.io/topology-aware-hints"
TOPOLOGY_MODE_ANNOTATION = "service.kubernetes.io/topology-mode"
ANNOTATIONS_MAX_BYTES = 256 * 1024  # keys and values together


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


_WATCH_DECODER = msgspec.json.Decoder(WatchEvent)
_DOCUMENT_DECODER = msgspec.json.Decoder(Document)
_ANY_DECODER = msgspec.json.Decoder()
# kubectl prints a watch event's "type" first; anything else is most likely an object or a list.
_LOOKS_LIKE_WATCH = re.compile(rb'\s*\{\s*"(?:type|object)"')


class Converter:
    """Turns top-level documents into events, counting what it saw in ``stats``."""

    def __init__(self, stats: ReadStats, skip_invalid: bool = False):
        self.stats = stats
        self.skip_invalid = skip_invalid

    # -- JSON bytes: the typed path ------------------------------------------

    def json_value(self, value: bytes, location: str) -> list[Event]:
        """Events of one top-level JSON value; raises ``msgspec.DecodeError``
        if ``value`` is not exactly one value (``read.iter_json`` frames on it)."""
        decoder = _WATCH_DECODER if _LOOKS_LIKE_WATCH.match(value) else _DOCUMENT_DECODER
        try:
            document = decoder.decode(value)
        except msgspec.ValidationError:
            return self._json_value_slowly(value, location)
        if type(document) is WatchEvent:
            if document.kind is not msgspec.UNSET:
                return self._json_value_slowly(value, location)
            watch_type = document.type
            if watch_type == "BOOKMARK":
                self.stats.bookmarks += 1
                return []
            if watch_type == "ERROR":
                return self._json_value_slowly(value, location)
            action = "delete" if watch_type == "DELETED" else "upsert"
            objects: Iterable = ((location, document.object),)
        elif type(document) in _TYPED_LISTS:
            objects = ((f"{location}: items[{i}]", item) for i, item in enumerate(document.items or ()))
            action = "upsert"
        else:
            objects = ((location, document),)
            action = "upsert"
        checked = []
        for where, obj in objects:
            kind = _KIND_OF[type(obj)]
            api_version = obj.apiVersion
            if api_version is None and type(document) in _LISTS_OF_ONE_KIND:
                api_version = document.apiVersion
            if api_version not in MODELED[kind][1]:
                # Not what we model after all (or no apiVersion): the slow path says which.
                return self._json_value_slowly(value, location)
            checked.append((obj, kind, api_version, where))
        events = []
        for obj, kind, api_version, where in checked:
            events.extend(self._guarded(self._event, obj, kind, api_version, action, where))
        return events

    def _json_value_slowly(self, value: bytes, location: str) -> list[Event]:
        try:
            document = _ANY_DECODER.decode(value)
        except msgspec.ValidationError as exc:  # only numbers beyond what msgspec can hold
            raise InputError(f"{location}: {_lower_first(_message_text(str(exc)))}") from None
        return self.value(document, location)

    # -- parsed values ----------------------------------------------------------

    def value(self, document: Any, location: str) -> list[Event]:
        """Events of one parsed top-level document (YAML, dicts, decoded JSON)."""
        try:
            objects = list(self._unwrap(document, location))
        except InputError:
            if not self.skip_invalid:
                raise
            self.stats.invalid += 1
            return []
        events = []
        for where, action, obj in objects:
            events.extend(self._guarded(self._parsed_object, obj, action, where))
        return events

    def _guarded(self, convert: Callable, *args) -> list[Event]:
        """``convert(*args)`` as a list of at most one event; with
        ``skip_invalid`` an invalid object is counted and left out."""
        try:
            event = convert(*args)
        except InputError:
            if not self.skip_invalid:
                raise
            self.stats.invalid += 1
            return []
        except RecursionError:
            raise InputError(f"{args[-1]}: nested too deeply") from None
        return [] if event is None else [event]

    def _unwrap(self, document: Any, location: str) -> Iterator[tuple[str, str, Any]]:
        """Flatten a watch event or list into ``(where, action, object)``."""
        if not isinstance(document, dict):
            raise InputError(f"{location}: expected an object, found {_type_name(document)}")
        if "kind" not in document and "type" in document and "object" in document:
            watch_type = document["type"]
            if watch_type not in WATCH_TYPES:
                raise InputError(
                    f"{location}: unknown watch event type {_quoted(watch_type)} "
                    f"(expected one of {', '.join(WATCH_TYPES)})"
                )
            if watch_type == "BOOKMARK":
                self.stats.bookmarks += 1
            elif watch_type == "ERROR":
                # The watch was interrupted: events may be missing after this point.
                self.stats.watch_errors += 1
            else:
                yield location, "delete" if watch_type == "DELETED" else "upsert", document["object"]
            return
        kind = document.get("kind")
        if isinstance(kind, str) and (kind in LIST_KINDS or (kind.endswith("List") and "items" in document)):
            items = document.get("items")
            if items is None:
                return
            if not isinstance(items, list):
                raise InputError(f"{location}: {kind}.items: expected a list, found {_type_name(items)}")
            # Lists from the API server itself leave the kind and apiVersion of items out.
            item_kind = kind[: -len("List")] if kind != "List" else None
            for index, item in enumerate(items):
                if item_kind and isinstance(item, dict) and ("kind" not in item or item.get("apiVersion") is None):
                    item = {"kind": item_kind, **item}
                    if item.get("apiVersion") is None:
                        item["apiVersion"] = document.get("apiVersion")
                yield f"{location}: items[{index}]", "upsert", item
            return
        yield location, "upsert", document

    def _parsed_object(self, obj: Any, action: str, where: str) -> Optional[Event]:
        if not isinstance(obj, dict):
            raise InputError(f"{where}: expected an object, found {_type_name(obj)}")
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        missing = [
            field
            for field, value in (("apiVersion", api_version), ("kind", kind))
            if not isinstance(value, str) or not value
        ]
        if missing:
            raise InputError(f"{where}: not a Kubernetes object (no {' and no '.join(missing)})")
        modeled = MODELED.get(kind)
        if modeled is None or api_version not in modeled[1]:
            self.stats.skip(_shown(kind) if modeled is None else f"{kind} {_shown(api_version)}")
            return None
        try:
            typed = msgspec.convert(obj, modeled[0])
        except msgspec.ValidationError as exc:
            raise InputError(_describe(exc, obj, kind, where)) from None
        return self._event(typed, kind, api_version, action, where)

    # -- typed objects to events ------------------------------------------------

    def _event(self, obj, kind: str, api_version: str, action: str, where: str) -> Event:
        if kind == "EndpointSlice":
            event = _slice_event(obj, api_version, action, where)
        elif kind == "Service":
            event = _service_event(obj, action, where)
        else:
            event = _node_event(obj, action, where)
        self.stats.count(kind)
        return event


_TYPED_LISTS = tuple(LIST_KINDS.values())
# Lists whose items may leave their kind and apiVersion to the list.
_LISTS_OF_ONE_KIND = tuple(t for kind, t in LIST_KINDS.items() if kind != "List")
_KIND_OF = {kind_type: kind for kind, (kind_type, _) in MODELED.items()}


def object_to_event(obj: dict, action: str, where: str) -> Optional[Event]:
    """One Kubernetes object (a dict) to its event; ``None`` for kinds we do not model."""
    return Converter(ReadStats())._parsed_object(obj, action, where)


# -- identity and metadata ------------------------------------------------------


def _identity(
    meta: Optional[ObjectMeta], kind: str, where: str, namespaced: bool, name_rule: Callable[[str], Optional[str]]
) -> tuple[str, str, str]:
    """(namespace, name, ``where`` with the object named), metadata validated."""
    name = meta.name if meta is not None else None
    if not name:
        raise InputError(f"{where} ({kind}): metadata.name: required field is missing")
    if namespaced:
        # kubectl always prints it; in a hand-written manifest no namespace means "default".
        namespace = meta.namespace or "default"
        described = f"{where} ({kind} {_shown(namespace)}/{_shown(name)})"
    else:
        namespace = ""
        described = f"{where} ({kind} {_shown(name)})"
    problem = name_rule(name)
    if problem:
        raise InputError(f"{described}: metadata.name: {problem}")
    if namespaced:
        problem = rules.dns1123_label(namespace)
        if problem:
            raise InputError(f"{described}: metadata.namespace: {problem}")
    elif meta.namespace:
        raise InputError(f"{described}: metadata.namespace: not allowed on a cluster-scoped {kind}")
    if meta.labels:
        for key, value in meta.labels.items():
            problem = rules.qualified_name(key)
            if problem:
                raise InputError(f"{described}: metadata.labels: key {_quoted(key)}: {problem}")
            problem = rules.label_value(value)
            if problem:
                raise InputError(f"{described}: metadata.labels.{_shown(key)}: {problem}")
    if meta.annotations:
        size = 0
        for key, value in meta.annotations.items():
            problem = rules.qualified_name(key.lower())
            if problem:
                raise InputError(f"{described}: metadata.annotations: key {_quoted(key)}: {problem}")
            size += len(key.encode()) + len(value.encode())
        if size > ANNOTATIONS_MAX_BYTES:
            raise InputError(
                f"{described}: metadata.annotations: {size:,} bytes exceed the API limit of {ANNOTATIONS_MAX_BYTES:,}"
            )
    return namespace, name, described


def _shown(text: str, limit: int = 63) -> str:
    """Input text fit for the one error line: control characters escaped, cut short."""
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "..."


def _quoted(value: Any, limit: int = 65) -> str:
    """An input value quoted for the one error line (``repr`` escapes control characters), cut short."""
    text = repr(value[: limit + 1] if isinstance(value, str) else value)
    return text if len(text) <= limit else text[:limit] + "..."


# -- Node ---------------------------------------------------------------------------

_NO_NODE_STATUS = NodeStatus()


def _node_event(node: Node, action: str, where: str) -> Event:
    _, name, described = _identity(node.metadata, "Node", where, False, rules.dns1123_subdomain)
    if action == "delete":
        return NodeDeleted(name)
    labels = node.metadata.labels or {}
    status = node.status or _NO_NODE_STATUS
    cpu_millis = 0
    # The API server defaults a missing allocatable to the capacity.
    allocatable = "allocatable" if status.allocatable is not None else "capacity"
    for field, resources in (("allocatable", status.allocatable), ("capacity", status.capacity)):
        for resource, value in (resources or {}).items():
            amount, problem = rules.quantity(value)
            if problem:
                raise InputError(f"{described}: status.{field}.{_shown(resource)}: {problem}")
            if field == allocatable and resource == "cpu":
                cpu_millis = rules.millis(amount)
                if cpu_millis > rules.MILLIS_MAX:
                    raise InputError(f"{described}: status.{field}.cpu: {_quoted(value)} is too large")
    ready = False
    for condition in status.conditions or ():
        if condition.type == "Ready":
            ready = condition.status == "True"
    return NodeUpserted(
        name=name,
        zone=labels.get(ZONE_LABEL) or None,
        cpu_millis=cpu_millis,
        ready=ready,
        control_plane=any(label in labels for label in CONTROL_PLANE_LABELS),
    )


# -- Service ------------------------------------------------------------------------

_NO_SERVICE_SPEC = ServiceSpec()


def _service_event(service: Service, action: str, where: str) -> Event:
    namespace, name, described = _identity(service.metadata, "Service", where, True, rules.dns1035_label)
    if action == "delete":
        return ServiceDeleted(namespace, name)

    def fail(path: str, problem: str) -> InputError:
        return InputError(f"{described}: {path}: {problem}")

    annotations = service.metadata.annotations or {}
    hints_mode = annotations.get(TOPOLOGY_HINTS_ANNOTATION)
    mode = annotations.get(TOPOLOGY_MODE_ANNOTATION)
    if hints_mode is not None and mode is not None and hints_mode != mode:
        raise fail(
            f"metadata.annotations.{TOPOLOGY_MODE_ANNOTATION}",
            f"{_quoted(mode)} differs from {TOPOLOGY_HINTS_ANNOTATION} {_quoted(hints_mode)} "
            "(both set: they must agree)",
        )
    spec = service.spec or _NO_SERVICE_SPEC
    service_type = spec.type or "ClusterIP"
    cluster_ip = spec.clusterIP or ""
    headless = cluster_ip == "None"
    if service_type == "ExternalName":
        if cluster_ip:
            raise fail("spec.clusterIP", "not allowed on an ExternalName Service")
        external_name = (spec.externalName or "").removesuffix(".")
        problem = rules.dns1123_subdomain(external_name) if external_name else "required field is missing"
        if problem:
            raise fail("spec.externalName", problem)
    elif headless and service_type != "ClusterIP":
        raise fail("spec.clusterIP", f"'None' (headless) is not allowed on a {service_type} Service")
    elif cluster_ip and not headless:
        problem = rules.ip_syntax(cluster_ip)
        if problem:
            raise fail("spec.clusterIP", f"{_quoted(cluster_ip)}: {problem}")

    ports = _service_ports(spec.ports or (), service_type, fail)
    if not ports and not headless and service_type != "ExternalName":
        raise fail("spec.ports", "required field is missing (a Service needs at least one port)")
    external_ips = spec.externalIPs or ()
    for index, ip in enumerate(external_ips):
        problem = rules.endpoint_ip(ip)
        if problem:
            raise fail(f"spec.externalIPs[{index}]", f"{_quoted(ip)}: {problem}")
    ingress = ()
    if service.status is not None and service.status.loadBalancer is not None:
        ingress = service.status.loadBalancer.ingress or ()
    for index, entry in enumerate(ingress):
        path = f"status.loadBalancer.ingress[{index}]"
        if entry.ip:
            problem = rules.ip_syntax(entry.ip)
            if problem:
                raise fail(f"{path}.ip", f"{_quoted(entry.ip)}: {problem}")
        if entry.hostname:
            problem = rules.dns1123_subdomain(entry.hostname)
            if problem is None and rules.ip_syntax(entry.hostname) is None:
                problem = "must be a DNS name, not an IP address"
            if problem:
                raise fail(f"{path}.hostname", problem)
    externally_accessible = service_type in ("NodePort", "LoadBalancer") or (
        service_type == "ClusterIP" and bool(external_ips)
    )
    if spec.externalTrafficPolicy is not None and not externally_accessible:
        raise fail(
            "spec.externalTrafficPolicy",
            "may only be set on an externally accessible Service (NodePort, LoadBalancer, or with external IPs)",
        )
    return ServiceUpserted(
        namespace=namespace,
        name=name,
        ports=tuple(ports),
        internal_traffic_policy=spec.internalTrafficPolicy or "Cluster",
        external_traffic_policy=spec.externalTrafficPolicy or "Cluster",
        type=service_type,
        external_addresses=bool(external_ips or ingress),
        traffic_distribution=spec.trafficDistribution,
        topology_mode=hints_mode if hints_mode is not None else mode,
    )


def _service_ports(ports, service_type: str, fail) -> list[ServicePort]:
    out = []
    names: set[str] = set()
    numbers: set[tuple[str, int]] = set()
    node_ports: set[tuple[str, int]] = set()
    for index, port in enumerate(ports):
        path = f"spec.ports[{index}]"
        protocol = port.protocol or "TCP"
        name = port.name or ""
        if name:
            problem = rules.dns1123_label(name)
            if problem:
                raise fail(f"{path}.name", problem)
            if name in names:
                raise fail(f"{path}.name", f"duplicate port name {_quoted(name)}")
            names.add(name)
        elif len(ports) > 1:
            raise fail(f"{path}.name", "required when a Service has more than one port")
        if (protocol, port.port) in numbers:
            raise fail(path, f"duplicate port {port.port}/{protocol}")
        numbers.add((protocol, port.port))
        target = port.targetPort
        if target in (None, 0, ""):
            target = port.port  # the API server's default
        elif isinstance(target, str):
            problem = rules.port_name(target)
            if problem:
                raise fail(f"{path}.targetPort", f"{_quoted(target)}: {problem}")
        if port.appProtocol is not None:
            problem = rules.qualified_name(port.appProtocol)
            if problem:
                raise fail(f"{path}.appProtocol", problem)
        node_port = port.nodePort or 0
        if node_port:
            if service_type == "ClusterIP":
                raise fail(f"{path}.nodePort", "not allowed on a ClusterIP Service")
            if (protocol, node_port) in node_ports:
                raise fail(f"{path}.nodePort", f"duplicate node port {node_port}/{protocol}")
            node_ports.add((protocol, node_port))
        out.append(ServicePort(name=name, port=port.port, protocol=protocol, target_port=target, node_port=node_port))
    return out


# -- EndpointSlice ---------------------------------------------------------------


def _slice_event(endpoint_slice: EndpointSlice, api_version: str, action: str, where: str) -> Event:
    if action == "delete":
        namespace, name, _ = _identity(endpoint_slice.metadata, "EndpointSlice", where, True, rules.dns1123_subdomain)
        return SliceDeleted(namespace, name, _service_of(endpoint_slice))
    return SliceUpserted(*slice_parts(endpoint_slice, api_version, where))


def _service_of(endpoint_slice: EndpointSlice) -> Optional[str]:
    return (endpoint_slice.metadata.labels or {}).get(SERVICE_NAME_LABEL) or None


def slice_parts(endpoint_slice: EndpointSlice, api_version: str, where: str) -> tuple:
    """A decoded slice, checked against the API server's rules, as the
    arguments of ``SliceUpserted``: (namespace, name, service, address
    type, ports, endpoint columns)."""
    namespace, name, described = _identity(
        endpoint_slice.metadata, "EndpointSlice", where, True, rules.dns1123_subdomain
    )
    address_type = endpoint_slice.addressType
    if address_type is None:
        raise InputError(f"{described}: addressType: required field is missing")
    ports = _slice_ports(endpoint_slice.ports or (), described)
    endpoints = endpoint_slice.endpoints or []
    if api_version.endswith("v1beta1"):
        _from_topology(endpoints, described)
    # The one pass over the endpoints on the ingest path, in compiled code.
    columns = EndpointColumns(*kernels.columns_from_endpoints(endpoints))
    if endpoints:
        _check_endpoints(columns, address_type, described)
    return namespace, name, _service_of(endpoint_slice), address_type, ports, columns


def _from_topology(endpoints: list[Endpoint], described: str) -> None:
    """discovery.k8s.io/v1beta1 kept the zone (and, by convention, the node)
    in the endpoint's topology labels: read them as v1 fields."""
    for index, endpoint in enumerate(endpoints):
        topology = endpoint.topology or {}
        for key, value in topology.items():
            problem = rules.qualified_name(key) or rules.label_value(value)
            if problem:
                raise InputError(f"{described}: endpoints[{index}].topology.{_shown(key)}: {problem}")
        endpoint.zone = endpoint.zone or topology.get(ZONE_LABEL) or None
        endpoint.nodeName = endpoint.nodeName or topology.get(HOSTNAME_LABEL)


def _slice_ports(ports, described: str) -> tuple[SlicePort, ...]:
    out = []
    names: set[str] = set()
    for index, port in enumerate(ports):
        name = port.name or ""
        if name:
            problem = rules.dns1123_label(name)
            if problem:
                raise InputError(f"{described}: ports[{index}].name: {problem}")
        if name in names:
            raise InputError(f"{described}: ports[{index}].name: duplicate port name {_quoted(name)}")
        names.add(name)
        if port.appProtocol is not None:
            problem = rules.qualified_name(port.appProtocol)
            if problem:
                raise InputError(f"{described}: ports[{index}].appProtocol: {problem}")
        out.append(SlicePort(name, port.port, port.protocol or "TCP"))
    return tuple(out)


_FAMILY = {"IPv4": 4, "IPv6": 6, "FQDN": None}


def _check_endpoints(columns: EndpointColumns, address_type: str, described: str) -> None:
    """The rules for a slice's endpoints: each distinct node, hostname and
    hint name is checked once, all IPv4 addresses in one compiled pass.
    Only a failure looks for where it is."""
    nodes, hostnames, zone_hints, node_hints, repeated_hint = kernels.endpoint_strings(
        columns.strings, columns.n, columns.data
    )

    def fail(index: int, field: str, problem: str) -> InputError:
        return InputError(f"{described}: endpoints[{index}].{field}: {problem}")

    endpoints = columns  # as Endpoint values, built only to say where a check failed
    if address_type != "IPv4" or not kernels.usable_ipv4_addresses(columns.strings, columns.n, columns.data):
        family = _FAMILY[address_type]
        for index, endpoint in enumerate(endpoints):
            for position, address in enumerate(endpoint.addresses):
                problem = rules.fqdn(address) if family is None else rules.endpoint_ip(address, family)
                if problem:
                    raise fail(index, f"addresses[{position}]", f"{_quoted(address)}: {problem}")
    for values, field, rule in (
        (nodes, "node_name", rules.dns1123_subdomain),
        (hostnames, "hostname", rules.dns1123_label),
    ):
        refused = rules.first_refused(values, rule)
        if refused:
            value, problem = refused
            index = next(i for i, e in enumerate(endpoints) if getattr(e, field) == value)
            raise fail(index, "nodeName" if field == "node_name" else field, f"{_quoted(value)}: {problem}")
    for values, field, shown, rule in (
        (zone_hints, "for_zones", "hints.forZones", rules.label_value),
        (node_hints, "for_nodes", "hints.forNodes", rules.dns1123_subdomain),
    ):
        refused = rules.first_refused(values, rule)
        if refused:
            value, problem = refused
            index = next(i for i, e in enumerate(endpoints) if value in getattr(e, field))
            position = getattr(endpoints[index], field).index(value)
            raise fail(index, f"{shown}[{position}].name", f"{_quoted(value)}: {problem}")
    if repeated_hint:
        for index, endpoint in enumerate(endpoints):
            for field, shown in (("for_zones", "hints.forZones"), ("for_nodes", "hints.forNodes")):
                names = getattr(endpoint, field)
                if len(set(names)) < len(names):
                    duplicate = next(n for n in names if names.count(n) > 1)
                    raise fail(index, shown, f"duplicate name {_quoted(duplicate)}")


# -- msgspec's errors as our line ---------------------------------------------------

_AT = re.compile(r" - at `(?:key` in `)?\$(.*)`$")
_EXPECTED = re.compile(r"Expected `([^`]+)`, got `([^`]+)`")
_LENGTH = re.compile(r"Expected `(\w+)` of length ([<>])= (\d+)")
_BOUND = re.compile(r"Expected `int` ([<>])= (-?\d+)")
_ENUM = re.compile(r"Invalid enum value (.*)")
_MISSING = re.compile(r"Object missing required field `([^`]+)`")
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")

_A = {
    "int": "an integer",
    "str": "a string",
    "bool": "a boolean",
    "float": "a number",
    "null": "null",
    "object": "an object",
    "array": "a list",
}
_FOUND = {"int": "integer", "str": "string", "bool": "boolean", "float": "number", "object": "object", "array": "list"}


def _describe(exc: msgspec.ValidationError, obj: dict, kind: str, where: str) -> str:
    """The error line for a msgspec validation error in ``obj``."""
    message = str(exc)
    at = _AT.search(message)
    raw_path = at.group(1) if at else ""
    text = _message_text(message)
    missing = _MISSING.match(text)
    if missing:
        raw_path += "." + missing.group(1)
    path, value = _walk(obj, raw_path)
    if missing:
        problem = "required field is missing"
    elif at is not None and "`key` in" in message:
        problem = "keys must be strings"
    else:
        problem = _problem(text, value, raw_path)
    who = f"{where} ({kind} {_name_of(obj, kind)})" if _name_of(obj, kind) else f"{where} ({kind})"
    return f"{who}: {path}: {problem}" if path else f"{who}: {problem}"


def _name_of(obj: dict, kind: str) -> Optional[str]:
    """``namespace/name`` (``name`` for a Node) of an object that failed its types, if it has one."""
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        return None
    if kind == "Node":
        return _shown(name)
    namespace = meta.get("namespace")
    return f"{_shown(namespace) if isinstance(namespace, str) and namespace else 'default'}/{_shown(name)}"


def _message_text(message: str) -> str:
    return _AT.sub("", message)


def _problem(text: str, value: Any, raw_path: str) -> str:
    expected = _EXPECTED.match(text)
    if expected:
        wanted = " or ".join(_A.get(t, t) for t in expected.group(1).split(" | ") if t != "null")
        found = expected.group(2)
        return f"expected {wanted}, found {_FOUND.get(found, found)}"
    length = _LENGTH.match(text)
    if length:
        what, sign, limit = length.groups()
        if sign == ">":
            return "must not be empty" if limit == "1" else f"needs at least {limit} entries"
        count = f"{len(value)} " if hasattr(value, "__len__") else ""
        return f"{count}{'characters' if what == 'str' else 'entries'} exceed the API limit of {limit}"
    bound = _BOUND.match(text)
    if bound:
        sign, limit = bound.groups()
        return f"{value} is {'below the minimum' if sign == '>' else 'above the maximum'} {limit}"
    enum = _ENUM.match(text)
    if enum:
        supported = ENUMS.get(raw_path.rsplit(".", 1)[-1])
        tail = f" (supported: {', '.join(supported)})" if supported else ""
        return f"unsupported value {enum.group(1)}{tail}"
    return _lower_first(text)


def _walk(obj: Any, raw_path: str) -> tuple[str, Any]:
    """A msgspec path (``$.spec.ports[0].port``) in the parsed object: the
    path as we print it and the value there.  msgspec names a dict entry
    ``[...]``; it is taken to be the first entry that is not a string (the
    only entries our types can refuse), and named by its key."""
    path = ""
    value = obj
    for name, index in _PATH_PART.findall(raw_path):
        if name:
            path += f".{name}"
            value = value.get(name) if isinstance(value, dict) else None
        elif index == "...":
            key = (
                next((k for k, v in value.items() if not isinstance(v, str)), None) if isinstance(value, dict) else None
            )
            path += f".{_shown(key)}" if isinstance(key, str) else "[...]"
            value = value.get(key) if key is not None else None
        else:
            path += f"[{index}]"
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
    return path.lstrip("."), value


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _type_name(value: object) -> str:
    return {
        dict: "object",
        list: "list",
        str: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        type(None): "null",
    }.get(type(value), type(value).__name__)
