"""The zone index: per service port, the candidate set and its hint matches.

Built on first use from the reducer's state and dropped for exactly the
services a ``Change`` names, so a query for an unchanged service never
recomputes anything.
"""
from __future__ import annotations

from .policies import linkerd
from .state import Change, ClusterState


class ZoneIndex:
    def __init__(self, state: ClusterState):
        self._state = state
        self._by_service: dict[str, dict[int, linkerd.CandidateSet]] = {}

    def candidates(self, service_key: str, port: int) -> linkerd.CandidateSet:
        ports = self._by_service.setdefault(service_key, {})
        found = ports.get(port)
        if found is None:
            state = self._state
            found = linkerd.candidates(
                service_key, state.services.get(service_key), state.slices_of(service_key), port
            )
            ports[port] = found
        return found

    def invalidate(self, change: Change) -> None:
        for service in change.services:
            self._by_service.pop(service, None)

    def clear(self) -> None:
        self._by_service.clear()
