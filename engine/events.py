"""Cluster events: the only things the log stores and the reducer folds.

Each event holds just the fields the routing rules read (SEMANTICS section 1),
already normalised by engine/kube.py: absent optional values are ``None``,
absent lists are empty tuples.  Events are frozen so a value taken from the
log can be shared by the state, the index and every caller without copying.

A slice's endpoints are held as columns (``EndpointColumns``): a few
buffers per slice, never an object per endpoint, so that decoding and
folding cost no per-endpoint allocation.  They read as a sequence of
``Endpoint`` values, built on demand, for analysis and for callers that
build slices endpoint by endpoint.  engine/records.py turns events into the
log's records and back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Optional, Union, overload

import attrs

from . import kernels

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


def _endpoint_row(e: Endpoint) -> list:
    return [
        list(e.addresses),
        e.ready,
        e.serving,
        e.terminating,
        e.node_name,
        e.zone,
        e.hostname,
        e.target_kind,
        e.target_namespace,
        e.target_name,
        list(e.for_zones),
        list(e.for_nodes),
    ]


class EndpointColumns(Sequence[Endpoint]):
    """A slice's endpoints as columns: ``n`` endpoints laid out in ``data``
    as engine/_fastsel_py.py describes, their string ids indexing
    ``strings`` (the slice's own tuple, or the engine's StringTable once
    adopted).  Read as a sequence, they are ``Endpoint`` values, built all
    at once on the first read and kept (the columns never change)."""

    __slots__ = ("strings", "n", "data", "_values")

    def __init__(self, strings, n: int, data: bytes):
        self.strings = strings
        self.n = n
        self.data = data
        self._values: Optional[tuple[Endpoint, ...]] = None

    @classmethod
    def from_rows(cls, rows: list) -> EndpointColumns:
        return cls(*kernels.columns_from_rows(rows))

    @classmethod
    def from_endpoints(cls, endpoints: Iterable[Endpoint]) -> EndpointColumns:
        return cls.from_rows([_endpoint_row(e) for e in endpoints])

    def values(self) -> tuple[Endpoint, ...]:
        found = self._values
        if found is None:
            found = self._values = kernels.endpoint_values(self.strings, self.n, self.data, Endpoint)
        return found

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, i: int) -> Endpoint: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[Endpoint, ...]: ...

    def __getitem__(self, i):
        return self.values()[i]

    def __iter__(self):
        return iter(self.values())

    def __eq__(self, other) -> bool:
        if isinstance(other, EndpointColumns) and other.strings is self.strings:
            return other.n == self.n and other.data == self.data
        if isinstance(other, Sequence):
            return self.values() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.values())

    def __repr__(self) -> str:
        return repr(self.values())


def _endpoint_columns(value) -> EndpointColumns:
    return value if isinstance(value, EndpointColumns) else EndpointColumns.from_endpoints(value)


@attrs.frozen(slots=True)
class SliceUpserted:
    namespace: str
    name: str
    service: Optional[str]  # owning Service name in the same namespace
    address_type: str = "IPv4"
    ports: tuple[SlicePort, ...] = ()
    # Given as Endpoint values or as columns; always held as columns.
    endpoints: EndpointColumns = attrs.field(default=(), converter=_endpoint_columns)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_rows(
        cls,
        namespace: str,
        name: str,
        service: Optional[str],
        address_type: str,
        ports: tuple[SlicePort, ...],
        rows: list,
    ) -> SliceUpserted:
        """A slice from already validated endpoint rows, each laid out as in
        the log record: ``[addresses, ready, serving, terminating, node_name,
        zone, hostname, target_kind, target_namespace, target_name,
        for_zones, for_nodes]`` (lists for the list fields)."""
        return cls(namespace, name, service, address_type, tuple(ports), EndpointColumns.from_rows(rows))


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
