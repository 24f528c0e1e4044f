"""The zone index: what the Linkerd policy reads, kept current event by event.

Per service it holds the ``AddressBook`` (Linkerd's address maps per port,
which depend on the order of past events and so must be folded, not
recomputed) and, per queried port, a ``CandidateSet`` with the hints
interned for the matching kernel and a cache of per-zone and per-node
matches.  Candidate sets are dropped for exactly the services an event
touched, so a query for an unchanged service never recomputes anything.
"""
from __future__ import annotations

from typing import Optional

from .events import Event, ServiceDeleted, ServiceUpserted, SliceDeleted, SliceUpserted
from .policies import linkerd
from .state import Change, ClusterState, slice_service_key


class ZoneIndex:
    def __init__(self, state: ClusterState):
        self._state = state
        self._books: dict[str, linkerd.AddressBook] = {}
        self._sets: dict[str, dict[int, linkerd.CandidateSet]] = {}

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
        for service in change.services:
            self._sets.pop(service, None)

    def _book(self, service_key: str) -> linkerd.AddressBook:
        book = self._books.get(service_key)
        if book is None:
            book = self._books[service_key] = linkerd.AddressBook(service_key.split("/", 1)[1])
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

    def candidates(self, service_key: str, port: int) -> linkerd.CandidateSet:
        ports = self._sets.setdefault(service_key, {})
        found = ports.get(port)
        if found is None:
            found = ports[port] = linkerd.CandidateSet(list(self._addresses(service_key, port).values()))
        return found

    def _addresses(self, service_key: str, port: int) -> dict:
        book = self._books.get(service_key)
        return {} if book is None else book.addresses(port)

    def local_traffic_policy(self, service_key: str) -> bool:
        book = self._books.get(service_key)
        return book is not None and book.local_traffic_policy

    # -- snapshots -----------------------------------------------------------

    def dump(self) -> list:
        return [[key, book.dump()] for key, book in self._books.items()]

    def load(self, image: list) -> None:
        self._books = {key: linkerd.AddressBook.load(key.split("/", 1)[1], book) for key, book in image}
        self._sets.clear()
