"""Destination-style subscriptions: Add/Remove updates per client.

Subscribers with the same filter key (service, port, node, hostname,
filtering, policy, IPv6) share one group, as in Linkerd's filtered listener
groups: a change is filtered and diffed once per group and the resulting
updates fanned out to every subscriber in it.

What a subscriber receives, and when (Linkerd's contract):

* on subscribe, ``add`` of the current selection if it is not empty;
* after each event that touches the service, or the client node's zone,
  ``add`` of the endpoints that are new or changed (an endpoint counts as
  changed when its address, port or sorted zone hints differ: a hint change
  re-sends it) and ``remove`` of those gone, each only when non-empty; each
  endpoint carries its ``identity``, so an ``add`` of a changed endpoint
  replaces the one with the same identity;
* the selection becoming empty is therefore a ``remove`` of everything.

One deliberate difference: Linkerd reads the client node's zone label once,
when the group is created; here the group follows the node's current zone,
so a node that appears or is relabelled later re-filters its subscribers.

Failure isolation: a callback that raises is unsubscribed and its exception
kept on its handle (``Subscription.error``); other subscribers, and what
the group was sent, are unaffected.  The async form has a bounded queue; when
a consumer falls that far behind its stream is closed with ``Overflow``,
like Linkerd closing a Destination stream whose send queue is full.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Optional, Union

import attrs

from .errors import Overflow
from .index.live import LiveSelection, diff_by_identity
from .policies import linkerd
from .state import Change
from .values import SelectedEndpoint, target_text

ADD = "add"
REMOVE = "remove"


@attrs.frozen(slots=True)
class WatchKey:
    """A filter key: everything that decides what a subscriber sees."""

    service: str
    port: int
    node: Optional[str] = None
    hostname: Optional[str] = None
    filtering: bool = True
    policy: str = "linkerd"
    ipv6: bool = False
    zone: Optional[str] = None  # a client in a zone on no particular node (node is None)
    protocol: str = "TCP"  # kube-proxy matches it; the Linkerd policies answer TCP only

    def __str__(self) -> str:
        host = f"{self.hostname}." if self.hostname else ""
        where = self.node if self.node is not None else f"zone:{self.zone}" if self.zone is not None else "-"
        return f"{host}{target_text(self.service, self.port, self.protocol)}@{where}"


@attrs.frozen(slots=True)
class Update:
    seq: int  # the event that caused it (the current position for the initial add)
    watch: WatchKey
    op: str  # ADD or REMOVE
    endpoints: tuple[SelectedEndpoint, ...]  # sorted by (address, port)

    def to_json(self, time: Optional[float] = None) -> dict:
        return {
            "seq": self.seq,
            "time": time,
            "watch": str(self.watch),
            "op": self.op,
            "endpoints": [e.to_json() for e in self.endpoints],
        }


class Subscription:
    """A handle on one subscriber."""

    def __init__(self, hub: Subscriptions, group: _Group, callback: Callable[[Update], None]):
        self._hub = hub
        self._group = group
        self.callback = callback
        self.error: Optional[BaseException] = None
        self.active = True

    @property
    def key(self) -> WatchKey:
        return self._group.key

    def cancel(self) -> None:
        if self.active:
            self.active = False
            self._hub._drop(self)


class _KubeProxySelection:
    """kube-proxy's selection for one client, as a LiveSelection offers it:
    kube-proxy's answer is a function of the current objects, so it is
    recomputed (``Engine.endpoints``, cached per service) after each event
    touching the group, and compared by identity (IP:port)."""

    def __init__(self, engine, key: WatchKey):
        self._engine, self._key = engine, key
        self._sent = self._select()

    def _select(self) -> tuple[SelectedEndpoint, ...]:
        key = self._key
        return self._engine.endpoints(
            key.service, key.port, node=key.node, zone=key.zone, policy=key.policy, protocol=key.protocol, strict=False
        ).endpoints

    def values(self) -> tuple[SelectedEndpoint, ...]:
        return self._sent

    def refresh(self) -> tuple[tuple[SelectedEndpoint, ...], tuple[SelectedEndpoint, ...]]:
        before, self._sent = self._sent, self._select()
        return diff_by_identity(before, self._sent)


class _Group:
    __slots__ = ("key", "number", "live", "zone", "policy_version", "subscribers")

    def __init__(self, key: WatchKey, number: int):
        self.key = key
        self.number = number  # groups are served in the order they were made
        # the selection this group's subscribers follow
        self.live: Optional[Union[LiveSelection, _KubeProxySelection]] = None
        self.zone: Optional[str] = None  # the client's zone when ``live`` was chosen
        self.policy_version = 0  # the service's traffic-policy version then
        self.subscribers: list[Subscription] = []


class Subscriptions:
    """All subscription groups of one Engine.  The Engine calls ``publish``
    after folding each event."""

    def __init__(self, engine):
        self._engine = engine
        self._groups: dict[WatchKey, _Group] = {}
        self._made = 0
        self._by_service: dict[str, set[WatchKey]] = {}
        self._by_node: dict[str, set[WatchKey]] = {}

    def __len__(self) -> int:
        return sum(len(g.subscribers) for g in self._groups.values())

    @property
    def group_count(self) -> int:
        return len(self._groups)

    def subscribe(self, key: WatchKey, callback: Callable[[Update], None]) -> Subscription:
        group = self._groups.get(key)
        if group is None:
            self._made += 1
            group = _Group(key, self._made)
            self._follow(group)
            self._groups[key] = group
            self._by_service.setdefault(key.service, set()).add(key)
            if key.node is not None:
                self._by_node.setdefault(key.node, set()).add(key)
        subscription = Subscription(self, group, callback)
        group.subscribers.append(subscription)
        current = group.live.values()
        if current:
            self._deliver(subscription, Update(self._engine.seq, key, ADD, current))
        return subscription

    def publish(self, change: Change, seq: int) -> None:
        keys: set[WatchKey] = set()
        for service in change.services:
            keys |= self._by_service.get(service, set())
        for node in change.nodes:
            keys |= self._by_node.get(node, set())
        groups = sorted((self._groups[key] for key in keys), key=_made_order)
        index = self._engine.index
        # A group whose client moved to another zone, or whose service's
        # traffic policy flipped, follows another selection from now on: what
        # it saw before is taken before any selection is brought up to date.
        moving = []
        for group in groups:
            if (
                self._client_zone(group.key) != group.zone
                or index.policy_version(group.key.service) != group.policy_version
            ):
                moving.append((group, group.live, group.live.values()))
        for group, old, before in moving:
            self._follow(group)
            self._release(old)
            self._send(group, seq, *diff_by_identity(before, group.live.values()))
        moved = {id(group) for group, _, _ in moving}
        for group in groups:
            if id(group) not in moved:
                self._send(group, seq, *group.live.refresh())

    def _client_zone(self, key: WatchKey) -> Optional[str]:
        return self._engine.state.node_zone(key.node) if key.node is not None else key.zone

    def _follow(self, group: _Group) -> None:
        """Attach the group to the selection its client now gets."""
        index = self._engine.index
        group.zone = self._client_zone(group.key)
        group.policy_version = index.policy_version(group.key.service)
        if group.key.policy == "kube-proxy":
            group.live = _KubeProxySelection(self._engine, group.key)
            return
        client = linkerd.Client(
            node=group.key.node,
            zone=group.zone,
            hostname=group.key.hostname,
            filtering=group.key.filtering,
            ipv6=group.key.ipv6,
            node_hints=group.key.policy == "linkerd+nodes",
        )
        group.live = index.live(group.key.service, group.key.port, client)

    def _release(self, live: Union[LiveSelection, _KubeProxySelection]) -> None:
        if isinstance(live, LiveSelection):  # shared through the index; a kube-proxy one is the group's own
            self._engine.index.release(live)

    def _send(self, group: _Group, seq: int, added: tuple, removed: tuple) -> None:
        updates = []
        if added:
            updates.append(Update(seq, group.key, ADD, added))
        if removed:
            updates.append(Update(seq, group.key, REMOVE, removed))
        for subscription in list(group.subscribers):
            for update in updates:
                if subscription.active:
                    self._deliver(subscription, update)

    def _deliver(self, subscription: Subscription, update: Update) -> None:
        try:
            subscription.callback(update)
        except Exception as exc:  # isolate: one failing subscriber must not stop the others
            subscription.error = exc
            subscription.cancel()

    def _drop(self, subscription: Subscription) -> None:
        group = subscription._group
        group.subscribers.remove(subscription)
        if not group.subscribers:
            key = group.key
            del self._groups[key]
            self._release(group.live)
            self._by_service[key.service].discard(key)
            if not self._by_service[key.service]:
                del self._by_service[key.service]
            if key.node is not None:
                self._by_node[key.node].discard(key)
                if not self._by_node[key.node]:
                    del self._by_node[key.node]


def _made_order(group: _Group) -> int:
    return group.number


class AsyncUpdates:
    """``async for update in AsyncUpdates(...)``: a subscription as an async
    iterator over a bounded queue; raises Overflow when the queue fills."""

    def __init__(self, hub: Subscriptions, key: WatchKey, max_queue: int = 1000):
        self._queue: asyncio.Queue = asyncio.Queue(max_queue)
        self._overflowed = False
        self.subscription = hub.subscribe(key, self._put)

    def _put(self, update: Update) -> None:
        try:
            self._queue.put_nowait(update)
        except asyncio.QueueFull:
            self._overflowed = True
            raise Overflow(f"subscriber for {update.watch} fell {self._queue.maxsize} updates behind") from None

    def __aiter__(self) -> AsyncUpdates:
        return self

    async def __anext__(self) -> Update:
        if self._queue.empty() and self._overflowed:
            raise self.subscription.error or Overflow("subscription overflowed")
        return await self._queue.get()

    def cancel(self) -> None:
        self.subscription.cancel()
