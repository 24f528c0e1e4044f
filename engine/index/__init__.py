"""The zone index: what the Linkerd policy reads, kept current event by event.

Per service it holds the ``AddressBook`` (engine/index/book.py): Linkerd's
address maps per port, which depend on the order of past events and so are
folded, not recomputed, as columns the compiled core writes.  On top of it:

* ``select``: the answer for one client, cached per (port, client, traffic
  policy) with what it depends on; a slice write drops only the answers it
  can change (all of them when a service-wide fact flips, such as its first
  unhinted endpoint or its last endpoint gone);
* ``live``: selections that subscriptions keep up to date row by row
  (engine/index/live.py);
* ``proxy_endpoints``: kube-proxy's endpoints of a service port before any
  client, built from the same slices once per change of the service.
"""

from __future__ import annotations

from typing import Optional, cast

from ..events import Event, ServiceDeleted, ServiceUpserted, SliceDeleted, SliceUpserted
from ..policies import kube_proxy, linkerd
from ..state import Change, ClusterState, slice_service_key
from .book import ALL, AddressBook, PortState
from .live import LiveSelection
from .views import CandidateSet, EndpointList


class ZoneIndex:
    def __init__(self, state: ClusterState):
        self._state = state
        self._books: dict[str, AddressBook] = {}
        self.folds = 0  # events folded: tells which publishers the last one wrote
        self._written: list[PortState] = []  # the maps the fold under way wrote
        self._empty = CandidateSet(AddressBook("/", state, []), PortState(state.core, 0))  # an unknown service
        self._lives: dict[tuple, LiveSelection] = {}
        # service -> (port, protocol) -> kube-proxy's endpoints of that service port
        self._proxy: dict[str, dict[tuple[int, str], kube_proxy.PortEndpoints]] = {}

    # -- folding -------------------------------------------------------------

    def apply(self, event: Event, change: Change) -> None:
        """Bring the address books up to date with ``event`` (already applied to the state)."""
        self.folds += 1
        for service in change.services:
            self._proxy.pop(service, None)
        # What a slice event replaced or deleted is always a slice.
        if type(event) is SliceUpserted:
            self._slice_upserted(self._state.slices[event.key], cast(Optional[SliceUpserted], change.previous))
        elif type(event) is SliceDeleted:
            self._slice_deleted(cast(Optional[SliceUpserted], change.previous))
        elif type(event) is ServiceUpserted:
            self._book(event.key).service_upserted(event, self._state.slices_of(event.key), self.folds)
        elif type(event) is ServiceDeleted:
            book = self._books.get(event.key)
            if book is not None:
                book.service_deleted(self.folds)

    def _book(self, service_key: str) -> AddressBook:
        book = self._books.get(service_key)
        if book is None:
            book = self._books[service_key] = AddressBook(service_key, self._state, self._written)
        return book

    def _slice_upserted(self, new: SliceUpserted, old: Optional[SliceUpserted]) -> None:
        service = slice_service_key(new)
        if old is not None and slice_service_key(old) != service:
            # Relabelled to another service: the old one loses the slice.
            self._slice_deleted(old)
            old = None
        if service is not None:
            self._book(service).slice_upserted(old, new, self.folds)

    def _slice_deleted(self, old: Optional[SliceUpserted]) -> None:
        if old is None:
            return
        service = slice_service_key(old)
        book = self._books.get(service) if service is not None else None
        if book is not None:
            book.slice_deleted(old, self.folds)

    def settle(self) -> None:
        """The fold is over and its subscriptions served: forget the write logs."""
        for state in self._written:
            state.publisher.end()
        self._written.clear()

    # -- reading -------------------------------------------------------------

    def book(self, service_key: str) -> Optional[AddressBook]:
        return self._books.get(service_key)

    def candidates(self, service_key: str, port: int) -> CandidateSet:
        book = self._books.get(service_key)
        if book is None:
            return self._empty
        return book.view(port, self._state.slices_of(service_key))

    def proxy_endpoints(self, service_key: str, port: int, protocol: str = "TCP") -> kube_proxy.PortEndpoints:
        """kube-proxy's endpoints of the service port (number and protocol),
        for no client yet; raises LookupFailed as ``kube_proxy.port_endpoints`` does."""
        ports = self._proxy.setdefault(service_key, {})
        found = ports.get((port, protocol))
        if found is None:
            state = self._state
            found = ports[(port, protocol)] = kube_proxy.port_endpoints(
                state.services.get(service_key), list(state.slices_of(service_key)), port, protocol=protocol
            )
        return found

    def local_traffic_policy(self, service_key: str) -> bool:
        book = self._books.get(service_key)
        return book is not None and book.local_traffic_policy

    def select(self, service_key: str, port: int, client: linkerd.Client) -> tuple[str, EndpointList, int]:
        """(rule, selected endpoints, candidate count) for ``client``: what
        ``Engine.endpoints`` answers for the Linkerd policies."""
        cands = self.candidates(service_key, port)
        local = self.local_traffic_policy(service_key)
        state = cands.state
        key = cache_key(cands, client, local)
        found = state.answer(key)
        if found is None:
            decision = linkerd.decide(cands, client, local)
            found = (
                decision.rule,
                cands.endpoints(cands.select(decision)),
                self._dependencies(cands, decision, client),
            )
            if cands is not self._empty:
                state.remember(key, found)
        # The count is read fresh: a cached answer outlives writes that change
        # the candidate set without touching anything the answer depends on.
        return found[0], found[1], len(cands)

    def _dependencies(self, cands: CandidateSet, decision: linkerd.Decision, client: linkerd.Client) -> tuple:
        """What a cached answer must be dropped for: rows naming these (before
        or after a write).  A name no row has yet has no id to depend on, so
        such an answer depends on every row."""
        table = cands.book.table
        if decision.hostname is not None:
            host = table.find(decision.hostname)
            return (("host", host),) if host >= 0 else (ALL,)
        rule = decision.rule
        if rule == linkerd.LOCAL_TRAFFIC_POLICY:
            if client.node is None:
                return ()  # keeps nothing whatever the rows
            node = table.find(client.node)
            return (("node", node),) if node >= 0 else (ALL,)
        if rule == linkerd.NODE_HINTS:
            return (("hint-node", table.find(client.node)),)
        if rule == linkerd.ZONE_HINTS:
            deps: tuple = (("zone", cands.zone_id(decision.argument)),)
            if client.node_hints and client.node is not None:
                # Node hints win once one names the client's node.
                node = table.find(client.node)
                deps += (("hint-node", node),) if node >= 0 else (ALL,)
            return deps
        return (ALL,)

    def live(self, service_key: str, port: int, client: linkerd.Client) -> LiveSelection:
        """The kept-up-to-date selection for ``client`` (normalised as
        ``cache_key`` does), shared by every subscription group that asks
        for it; ``release`` it when a group leaves."""
        local = self.local_traffic_policy(service_key)
        normalised = cache_key(self.candidates(service_key, port), client, local)[1]
        key = (service_key, port, normalised, local)
        found = self._lives.get(key)
        if found is None:
            found = self._lives[key] = LiveSelection(self, service_key, port, normalised, key)
        found.users += 1
        return found

    def release(self, live: LiveSelection) -> None:
        live.users -= 1
        if not live.users:
            del self._lives[live.key]

    def policy_version(self, service_key: str) -> int:
        book = self._books.get(service_key)
        return 0 if book is None else book.policy_version

    # -- snapshots -----------------------------------------------------------

    def dump(self) -> list:
        return [[key, book.dump()] for key, book in self._books.items()]

    def load(self, image: list) -> None:
        """Rebuild from ``dump()``; the state must already hold the same slices."""
        self._books = {key: AddressBook.load(key, book, self._state, self._written) for key, book in image}


def cache_key(cands: CandidateSet, client: linkerd.Client, local_traffic_policy: bool) -> tuple:
    """What a cached answer is filed under.  The client's node matters only to
    ``internalTrafficPolicy: Local`` and node hints; leaving it out otherwise
    lets every node of a zone share one answer (and one diff, for
    subscriptions)."""
    if client.node is not None and not local_traffic_policy and not client.node_hints:
        client = linkerd.Client(None, client.zone, client.hostname, client.filtering, client.ipv6, client.node_hints)
    return (cands.port, client, local_traffic_policy)
