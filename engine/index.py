"""The zone index: what the Linkerd policy reads, kept current event by event.

Per service it holds the ``AddressBook``: Linkerd's address maps per port
(which depend on the order of past events and so must be folded, not
recomputed), stored as typed columns with interned zone and node ids, hint
bitmasks, per-zone and unhinted counts, and a cache of selections per (port,
client, traffic policy) that each fold step trims to the entries it may have
changed.  A slice write costs work proportional to the slice; only a flip of
a service-wide fact (its first unhinted endpoint, its last endpoint gone)
drops every cached selection of that service port.
"""
from __future__ import annotations

from typing import Optional

from .events import Event, ServiceDeleted, ServiceUpserted, SliceDeleted, SliceUpserted
from .policies import linkerd
from .state import Change, ClusterState, slice_service_key
from .values import SelectedEndpoint


class ZoneIndex:
    def __init__(self, state: ClusterState):
        self._state = state
        self._books: dict[str, linkerd.AddressBook] = {}
        # Node names interned once for every service (nodes outnumber zones).
        self._nodes: dict[str, int] = {}

    # -- folding -------------------------------------------------------------

    def apply(self, event: Event, change: Change) -> None:
        """Bring the address books up to date with ``event`` (already applied to the state)."""
        kind = type(event)
        if kind is SliceUpserted:
            self._slice_upserted(event, change.previous)
        elif kind is SliceDeleted:
            self._slice_deleted(change.previous)
        elif kind is ServiceUpserted:
            self._book(event.key).service_upserted(event, self._state.slices_of(event.key))
        elif kind is ServiceDeleted:
            book = self._books.get(event.key)
            if book is not None:
                book.service_deleted()

    def _book(self, service_key: str) -> linkerd.AddressBook:
        book = self._books.get(service_key)
        if book is None:
            book = self._books[service_key] = linkerd.AddressBook(service_key.split("/", 1)[1], self._nodes)
        return book

    def _slice_upserted(self, new: SliceUpserted, old: Optional[SliceUpserted]) -> None:
        service = slice_service_key(new)
        if old is not None and slice_service_key(old) != service:
            # Relabelled to another service: the old one loses the slice.
            self._slice_deleted(old)
            old = None
        if service is not None:
            self._book(service).slice_upserted(old, new)

    def _slice_deleted(self, old: Optional[SliceUpserted]) -> None:
        service = slice_service_key(old) if old is not None else None
        book = self._books.get(service) if service is not None else None
        if book is not None:
            book.slice_deleted(old)

    # -- reading -------------------------------------------------------------

    def book(self, service_key: str) -> Optional[linkerd.AddressBook]:
        return self._books.get(service_key)

    def candidates(self, service_key: str, port: int) -> linkerd.CandidateSet:
        book = self._books.get(service_key)
        if book is None:
            return linkerd.EMPTY
        return book.view(port, lambda: self._state.slices_of(service_key))

    def local_traffic_policy(self, service_key: str) -> bool:
        book = self._books.get(service_key)
        return book is not None and book.local_traffic_policy

    def select(self, service_key: str, port: int,
               client: linkerd.Client) -> tuple[str, tuple[SelectedEndpoint, ...], int]:
        """(rule, selected endpoints, candidate count) for ``client``: what
        ``Engine.endpoints`` answers for the Linkerd policies, with the
        endpoint tuple itself cached alongside the selection."""
        cands = self.candidates(service_key, port)
        book = cands.book
        local = book.local_traffic_policy
        cache = cands.publisher.selected
        key = linkerd.cache_key(cands, client, local)
        found = cache.get(key)
        if found is None:
            rule, picked = linkerd.select(cands, client, local)
            found = cache[key] = (rule, tuple(c.to_selected() for c in picked))
        # The count is read fresh: a cached answer outlives writes that change
        # the candidate set without touching anything the answer depends on.
        return (*found, len(cands))

    # -- snapshots -----------------------------------------------------------

    def dump(self) -> list:
        origin = {id(ep): (key, i) for key, es in self._state.slices.items() for i, ep in enumerate(es.endpoints)}

        def where(ep) -> tuple[str, int]:
            return origin[id(ep)]

        return [[key, book.dump(where)] for key, book in self._books.items()]

    def load(self, image: list) -> None:
        """Rebuild from ``dump()``; the state must already hold the same slices."""
        slices = self._state.slices

        def endpoint_at(key: str, index: int):
            return slices[key].endpoints[index]

        self._nodes = {}
        self._books = {key: linkerd.AddressBook.load(key.split("/", 1)[1], book, self._nodes, endpoint_at)
                       for key, book in image}
