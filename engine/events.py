"""Cluster events: the only things the log stores and the reducer folds.

Each event holds just the fields the routing rules read (SEMANTICS section 1),
already normalised by engine/kube.py: absent optional values are ``None``,
absent lists are empty tuples.  Events are frozen so a value taken from the
log can be shared by the state, the index and every caller without copying.

On disk an event is a msgpack array ``[type_code, field, field, ...]``
(``to_record``/``from_record``).  Type codes are part of the log format and
never change meaning; new event kinds take new codes.
"""
from __future__ import annotations

from typing import Optional, Union

import attrs

from .errors import RecordError

# ---------------------------------------------------------------------------
# Values nested in events


@attrs.frozen(slots=True)
class ServicePort:
    name: str  # "" when the Service port is unnamed
    port: int
    protocol: str = "TCP"
    target_port: Union[int, str, None] = None
    node_port: int = 0


@attrs.frozen(slots=True)
class SlicePort:
    name: str  # "" when the slice port is unnamed
    port: Optional[int]  # None: "all ports" (only meaningful with no name)
    protocol: str = "TCP"


@attrs.frozen(slots=True)
class Endpoint:
    """One entry of ``EndpointSlice.endpoints``.

    The three conditions keep Kubernetes' tri-state: ``None`` is "unset",
    which each consumer reads with its own default (ready/serving: true,
    terminating: false).
    """

    addresses: tuple[str, ...]
    ready: Optional[bool] = None
    serving: Optional[bool] = None
    terminating: Optional[bool] = None
    node_name: Optional[str] = None
    zone: Optional[str] = None
    hostname: Optional[str] = None
    target_kind: Optional[str] = None
    target_namespace: Optional[str] = None
    target_name: Optional[str] = None
    for_zones: tuple[str, ...] = ()
    for_nodes: tuple[str, ...] = ()

    @property
    def is_ready(self) -> bool:
        return self.ready is not False

    @property
    def is_serving(self) -> bool:
        return self.serving is not False

    @property
    def is_terminating(self) -> bool:
        return self.terminating is True

    @property
    def target(self) -> Optional[str]:
        """``Kind/namespace/name`` of the target reference, if any."""
        if self.target_kind is None:
            return None
        return f"{self.target_kind}/{self.target_namespace or ''}/{self.target_name or ''}"


# ---------------------------------------------------------------------------
# Events


@attrs.frozen(slots=True)
class NodeUpserted:
    name: str
    zone: Optional[str] = None  # topology.kubernetes.io/zone; None when missing or empty
    cpu_millis: int = 0  # status.allocatable.cpu
    ready: bool = True
    control_plane: bool = False  # control-plane or master role label


@attrs.frozen(slots=True)
class NodeDeleted:
    name: str


@attrs.frozen(slots=True)
class ServiceUpserted:
    namespace: str
    name: str
    ports: tuple[ServicePort, ...] = ()
    internal_traffic_policy: str = "Cluster"
    external_traffic_policy: str = "Cluster"
    type: str = "ClusterIP"
    # externalIPs or load-balancer ingress present: makes the service
    # externally accessible for kube-proxy even without a node port.
    external_addresses: bool = False
    traffic_distribution: Optional[str] = None
    # The topology annotation in force: topology-aware-hints if present,
    # else topology-mode.
    topology_mode: Optional[str] = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@attrs.frozen(slots=True)
class ServiceDeleted:
    namespace: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@attrs.frozen(slots=True)
class SliceUpserted:
    namespace: str
    name: str
    service: Optional[str]  # owning Service name in the same namespace
    address_type: str = "IPv4"
    ports: tuple[SlicePort, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_rows(cls, namespace: str, name: str, service: Optional[str], address_type: str,
                  ports: tuple[SlicePort, ...], rows: list) -> "SliceUpserted":
        """A slice from already validated endpoint rows, each laid out as in
        the log record: ``[addresses, ready, serving, terminating, node_name,
        zone, hostname, target_kind, target_namespace, target_name,
        for_zones, for_nodes]`` (lists for the list fields)."""
        return cls(namespace, name, service, address_type, tuple(ports), tuple(_endpoint(r) for r in rows))


@attrs.frozen(slots=True)
class SliceDeleted:
    namespace: str
    name: str
    # The deleted slice's service, when the deletion said it; the reducer
    # knows it from the stored slice anyway.
    service: Optional[str] = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


Event = Union[NodeUpserted, NodeDeleted, ServiceUpserted, ServiceDeleted, SliceUpserted, SliceDeleted]

# ---------------------------------------------------------------------------
# msgpack records

_CODES = {
    NodeUpserted: 1,
    NodeDeleted: 2,
    ServiceUpserted: 3,
    ServiceDeleted: 4,
    SliceUpserted: 5,
    SliceDeleted: 6,
}
_BY_CODE = {code: cls for cls, code in _CODES.items()}
EVENT_KINDS = tuple(cls.__name__ for cls in _CODES)


def to_record(event: Event) -> list:
    """The msgpack-ready array for ``event``."""
    cls = type(event)
    if cls is SliceUpserted:
        return [
            5,
            event.namespace,
            event.name,
            event.service,
            event.address_type,
            [[p.name, p.port, p.protocol] for p in event.ports],
            [
                [
                    list(e.addresses), e.ready, e.serving, e.terminating, e.node_name, e.zone,
                    e.hostname, e.target_kind, e.target_namespace, e.target_name,
                    list(e.for_zones), list(e.for_nodes),
                ]
                for e in event.endpoints
            ],
        ]
    if cls is ServiceUpserted:
        return [
            3,
            event.namespace,
            event.name,
            [[p.name, p.port, p.protocol, p.target_port, p.node_port] for p in event.ports],
            event.internal_traffic_policy,
            event.external_traffic_policy,
            event.type,
            event.external_addresses,
            event.traffic_distribution,
            event.topology_mode,
        ]
    code = _CODES.get(cls)
    if code is None:
        raise TypeError(f"not an event: {event!r}")
    return [code, *attrs.astuple(event, recurse=False)]


def from_record(record) -> Event:
    """Decode one record; raises RecordError on any shape or type mismatch.

    Records come from disk, so nothing is trusted: a log written by a newer
    version, or damaged in a way its checksum missed, must not become a
    silently wrong event.
    """
    try:
        code = record[0]
        cls = _BY_CODE[code]
        if cls is SliceUpserted:
            _, ns, name, service, address_type, ports, endpoints = record
            event = SliceUpserted(
                _str(ns), _str(name), _opt_str(service), _str(address_type),
                tuple(SlicePort(_str(n), _opt_int(p), _str(proto)) for n, p, proto in ports),
                tuple(_endpoint(e) for e in endpoints),
            )
        elif cls is ServiceUpserted:
            _, ns, name, ports, itp, etp, svc_type, external, td, mode = record
            event = ServiceUpserted(
                _str(ns), _str(name),
                tuple(
                    ServicePort(_str(n), _int(p), _str(proto), _port_ref(tp), _int(np_))
                    for n, p, proto, tp, np_ in ports
                ),
                _str(itp), _str(etp), _str(svc_type), _bool(external), _opt_str(td), _opt_str(mode),
            )
        elif cls is NodeUpserted:
            _, name, zone, cpu, ready, control_plane = record
            event = NodeUpserted(_str(name), _opt_str(zone), _int(cpu), _bool(ready), _bool(control_plane))
        elif cls is SliceDeleted:
            _, ns, name, service = record
            event = SliceDeleted(_str(ns), _str(name), _opt_str(service))
        elif cls is ServiceDeleted:
            _, ns, name = record
            event = ServiceDeleted(_str(ns), _str(name))
        else:
            _, name = record
            event = NodeDeleted(_str(name))
    except RecordError:
        raise
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise RecordError(f"malformed event record: {exc}") from None
    return event


def _endpoint(e) -> Endpoint:
    (addresses, ready, serving, terminating, node, zone, hostname,
     kind, tns, tname, for_zones, for_nodes) = e
    return Endpoint(
        tuple(_str(a) for a in addresses), _opt_bool(ready), _opt_bool(serving), _opt_bool(terminating),
        _opt_str(node), _opt_str(zone), _opt_str(hostname), _opt_str(kind), _opt_str(tns), _opt_str(tname),
        tuple(_str(z) for z in for_zones), tuple(_str(n) for n in for_nodes),
    )


def _str(v) -> str:
    if type(v) is not str:
        raise RecordError(f"expected a string, found {type(v).__name__}")
    return v


def _opt_str(v) -> Optional[str]:
    return None if v is None else _str(v)


def _int(v) -> int:
    if type(v) is not int:
        raise RecordError(f"expected an integer, found {type(v).__name__}")
    return v


def _opt_int(v) -> Optional[int]:
    return None if v is None else _int(v)


def _bool(v) -> bool:
    if type(v) is not bool:
        raise RecordError(f"expected a boolean, found {type(v).__name__}")
    return v


def _opt_bool(v) -> Optional[bool]:
    return None if v is None else _bool(v)


def _port_ref(v) -> Union[int, str, None]:
    if v is None or type(v) in (int, str):
        return v
    raise RecordError(f"expected a port number or name, found {type(v).__name__}")
