"""Values the engine hands to callers: one selected endpoint, one selection,
one step of a policy's decision."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, Optional, TypeVar, overload

import attrs

T = TypeVar("T")
V = TypeVar("V")


def target_text(service: str, port: int, protocol: str = "TCP") -> str:
    """``namespace/name:port``, with ``/PROTOCOL`` when it is not TCP (the default)."""
    return f"{service}:{port}" if protocol == "TCP" else f"{service}:{port}/{protocol}"


@attrs.frozen(slots=True, order=True)
class SelectedEndpoint:
    """An address a client may talk to, with the facts that explain why."""

    address: str
    port: int
    node: Optional[str] = attrs.field(default=None, order=False)
    zone: Optional[str] = attrs.field(default=None, order=False)
    for_zones: tuple[str, ...] = attrs.field(default=(), order=False)
    for_nodes: tuple[str, ...] = attrs.field(default=(), order=False)
    target: Optional[str] = attrs.field(default=None, order=False)  # "Pod/ns/name"
    hostname: Optional[str] = attrs.field(default=None, order=False)
    # The key the policy gives the address (Linkerd's, see policies/linkerd.py;
    # kube-proxy's IP:port): what an Add replaces and a Remove removes, when
    # applying updates in order.
    identity: tuple = attrs.field(default=(), order=False, eq=False, repr=False)

    def to_json(self) -> dict:
        return {
            "address": self.address,
            "port": self.port,
            "node": self.node,
            "zone": self.zone,
            "for_zones": list(self.for_zones),
            "for_nodes": list(self.for_nodes),
            "target": self.target,
        }


@attrs.frozen(slots=True)
class Selection:
    """What one client gets for one service port under one policy."""

    service: str  # "namespace/name"
    port: int
    node: Optional[str]
    zone: Optional[str]
    policy: str
    rule: str  # which rule decided; see engine.policies.RULES
    # Sorted by (address, port); a read-only sequence (for the Linkerd
    # policies, one that builds each value when first read).
    endpoints: Sequence[SelectedEndpoint]
    candidates: int = 0  # how many endpoints the rule chose from
    protocol: str = "TCP"

    @property
    def service_port(self) -> str:
        """What was asked: ``namespace/name:port[/PROTOCOL]``."""
        return target_text(self.service, self.port, self.protocol)

    def to_json(self) -> dict:
        return {
            "service": self.service,
            "port": self.port,
            "protocol": self.protocol,
            "node": self.node,
            "zone": self.zone,
            "policy": self.policy,
            "rule": self.rule,
            "candidates": self.candidates,
            "endpoints": [e.to_json() for e in self.endpoints],
        }


@attrs.frozen(slots=True)
class Step:
    """One step of a policy's decision, as ``explain`` shows it."""

    name: str
    count: int  # endpoints left after this step
    detail: str

    def to_json(self) -> dict:
        return {"step": self.name, "count": self.count, "detail": self.detail}


class BuiltOnRead(Sequence[V], Generic[T, V]):
    """``make(item)`` for each of ``items``, each built when first read and kept."""

    __slots__ = ("_items", "_make", "_built")

    def __init__(self, items: Sequence[T], make: Callable[[T], V]):
        self._items = items
        self._make = make
        self._built: Optional[list] = None

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, i: int) -> V: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[V, ...]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(len(self._items))))
        if i < 0:
            i += len(self._items)
        if not 0 <= i < len(self._items):
            raise IndexError("index out of range")
        built = self._built
        if built is None:
            built = self._built = [None] * len(self._items)
        value = built[i]
        if value is None:
            value = built[i] = self._make(self._items[i])
        return value

    def __iter__(self):
        return (self[i] for i in range(len(self._items)))

    def __eq__(self, other) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == len(self) and tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))
