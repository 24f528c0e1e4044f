"""Selections kept up to date row by row, for subscriptions.

A ``LiveSelection`` is one client's selection (as ``ZoneIndex.live`` files
it: every node of a zone shares one) with the set of rows it last sent.
After each event it re-decides the rule from the candidate set's counts;
when the decision stands, only the rows the event's write touched are
looked at (the kernel's ``Publisher.diff``), so an update costs work in
proportion to the slice written, not to the service.  When the decision
changes (a zone gains its first hinted endpoint, the traffic policy flips)
every row is looked at.  When the map itself is another one than before
(the shared map of undeclared ports is rebuilt after every event touching
the service; a service or port appears), the old and new selections are
compared by identity, as Linkerd's listeners compare address sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

from ..policies import linkerd
from ..values import SelectedEndpoint

if TYPE_CHECKING:
    from . import ZoneIndex
    from .views import CandidateSet

Values = tuple[SelectedEndpoint, ...]


class LiveSelection:
    def __init__(self, index: ZoneIndex, service: str, port: int, client: linkerd.Client, key: tuple):
        self.index = index
        self.service = service
        self.port = port
        self.client = client
        self.key = key
        self.users = 0
        self._view: CandidateSet = index.candidates(service, port)
        self._decision: linkerd.Decision = None  # type: ignore[assignment]
        self._member = bytearray()  # 1 for each row sent (and not removed since)
        self._sent: dict[int, SelectedEndpoint] = {}  # those rows' values, as sent
        self._values: Optional[Values] = None  # _sent, sorted, once asked
        # What the decision was made from; the same again means the same decision.
        self._facts: tuple = ()
        self._refreshed = index.folds
        self._changes: tuple[Values, Values] = ((), ())
        self._select_all()

    def values(self) -> Values:
        """What was sent so far, applied: the selection as of the last refresh,
        sorted (kept until it changes: every new subscriber's first Add)."""
        if self._values is None:
            rows = self._view.publisher.sort(self._view.book.table, list(self._sent))
            self._values = tuple(self._sent[row] for row in rows)
        return self._values

    def refresh(self) -> tuple[Values, Values]:
        """``(added or changed, removed)`` since the last refresh, each sorted
        by (address, port); asked again within the same fold, the same."""
        index = self.index
        if self._refreshed == index.folds:
            return self._changes
        self._refreshed = index.folds
        view = index.candidates(self.service, self.port)
        if view.state is not self._view.state or view.port is not None:
            before = self.values()
            self._view = view
            self._select_all()
            self._changes = diff_by_identity(before, self.values())
            return self._changes
        pub = view.publisher
        facts = self._facts_of(view)
        if facts and facts == self._facts:
            decision, full = self._decision, False
        else:
            decision = linkerd.decide(view, self.client, index.local_traffic_policy(self.service))
            full = decision != self._decision
        logged = view.state.written == index.folds
        self._facts = facts
        if not full and not logged:
            self._changes = ((), ())
            return self._changes
        self._decision = decision
        kind, arg, host = view.filter_of(decision)
        added, removed = pub.diff(
            view.book.identities, self._member, kind, arg, host, decision.ipv6, full, logged, view.book.slices
        )
        if added or removed:
            self._values = None
        gone = [self._sent.pop(row) for row in removed]
        gone.sort(key=_listed)
        new = []
        for row in pub.sort(view.book.table, added):
            value = self._sent[row] = view.value(row)
            new.append(value)
        self._changes = (tuple(new), tuple(gone))
        return self._changes

    def _facts_of(self, view: CandidateSet) -> tuple:
        """What the rule reads for this client, as far as the publisher
        tracks it: the version of its counts' zero crossings and the traffic
        policy.  Empty for clients whose decision reads other counts (a
        hostname's rows, node hints): they decide every time."""
        if self.client.hostname is not None or self.client.node_hints:
            return ()
        return view.publisher.facts_version, self.index.local_traffic_policy(self.service)

    def _select_all(self) -> None:
        view = self._view
        self._facts = self._facts_of(view)
        self._decision = linkerd.decide(view, self.client, self.index.local_traffic_policy(self.service))
        rows = view.select(self._decision)
        self._member = bytearray(view.publisher.capacity())
        for row in rows:
            self._member[row] = 1
        self._sent = {row: view.value(row) for row in rows}
        self._values = None


def _listed(value: SelectedEndpoint) -> tuple:
    return value.address, value.port


def diff_by_identity(old: Sequence[SelectedEndpoint], new: Sequence[SelectedEndpoint]) -> tuple[Values, Values]:
    """(added or changed, removed) between two sorted selections, comparing
    endpoints by identity: a value under an identity already sent is re-sent
    only when what a client sees of it changed (address, port, sorted zone
    hints).  Filtering the sorted inputs keeps each result sorted."""
    if not old or not new:
        return tuple(new), tuple(old)
    gone = {e.identity: e for e in old}
    added = []
    for e in new:
        before = gone.pop(e.identity, None)
        if before is None or _changed(before, e):
            added.append(e)
    kept = {id(e) for e in gone.values()}
    return tuple(added), tuple(e for e in old if id(e) in kept)


def _changed(old: SelectedEndpoint, new: SelectedEndpoint) -> bool:
    return (old.address, old.port, sorted(old.for_zones)) != (new.address, new.port, sorted(new.for_zones))
