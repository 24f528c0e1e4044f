"""One service's Linkerd address maps, kept event by event.

A destination controller that has watched since the start of the log keeps
a port publisher per port the Service has ever declared; so does the
``AddressBook``.  History matters, exactly as in Linkerd: updating or
deleting a slice removes every identity that slice gave, even when another
slice still lists it, until that other slice is written again.  A publisher
whose target changes (the Service appears, renames or drops the port)
re-lists the current slices.  Deleting the Service empties every map (later
slice events fill them again) but changes neither the targets nor the
traffic policy, which only a Service update sets.

A port the Service never declared is answered as by a publisher created at
the moment of asking (Linkerd creates one on the first subscription to a
port): built from the current slices, oldest write first, kept until the
next event touching the service.  Every such port resolves each slice to
the port number itself, so their maps differ only in that number: one map,
with port 0 standing in, serves them all.  Keeping it out of the fold
halves the work of every slice write.

The maps themselves are the kernel's ``Publisher`` columns over identities
interned once for the whole service (``Identities``); the folding is the
kernel's too.  Each ``PortState`` keeps beside its publisher what the
engine caches of it: selections per client, with what they depend on, and
built values per row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional, Union

from ..events import ServiceUpserted, SliceUpserted
from ..policies import linkerd
from .views import CandidateSet

ALL = ("all", 0)  # a cached selection that depends on every row


class PortState:
    """A publisher and what is cached of it (each cache made when first filled:
    most services are small and never asked)."""

    __slots__ = ("target", "publisher", "values", "answers", "written", "view")

    def __init__(self, core, target: Union[int, str]):
        self.target = target
        self.publisher = core.Publisher()
        self.values: Optional[dict[int, object]] = None  # row -> its SelectedEndpoint, until a write touches it
        # cache key -> (rule, EndpointList, what the answer depends on)
        self.answers: Optional[dict[tuple, tuple]] = None
        self.written = -1  # the fold that last wrote the publisher
        self.view: Optional[CandidateSet] = None  # what the policy reads of it, made when first asked

    def mode(self) -> tuple[bool, bool, bool]:
        """The facts whose flip re-decides every client's rule."""
        pub = self.publisher
        return pub.size > 0, pub.unhinted > 0, pub.node_unhinted > 0

    def answer(self, key: tuple) -> Optional[tuple]:
        return None if self.answers is None else self.answers.get(key)

    def remember(self, key: tuple, answer: tuple) -> None:
        if self.answers is None:
            self.answers = {}
        self.answers[key] = answer

    def forget_answers(self) -> None:
        self.answers = None

    def value(self, row: int):
        return None if self.values is None else self.values.get(row)

    def keep_value(self, row: int, value) -> None:
        if self.values is None:
            self.values = {}
        self.values[row] = value

    def written_by(self, mode_before: tuple[bool, bool, bool]) -> None:
        """After a write: drop the values of the rows it touched, and the
        cached selections it may have changed (all of them when the mode
        flipped, else those reading a zone, node or hostname a touched row
        named, before or after)."""
        pub = self.publisher
        values = self.values
        if values:
            for row in pub.log_rows():
                values.pop(row, None)
        if mode_before != self.mode():
            self.forget_answers()
            return
        answers = self.answers
        if not answers:
            return
        # Few answers are cached, a write names many nodes: look at each answer's side.
        zones, nodes, hint_nodes, hosts = (set(names) for names in pub.touched())
        named = {"zone": zones, "node": nodes, "hint-node": hint_nodes, "host": hosts}
        stale = [
            key for key, (_, _, deps) in answers.items() if any(dep == ALL or dep[1] in named[dep[0]] for dep in deps)
        ]
        for key in stale:
            del answers[key]


class AddressBook:
    """Linkerd's address maps for one service (see the module docstring)."""

    def __init__(self, service_key: str, state, written: list):
        self.namespace, self.service_name = service_key.split("/", 1)
        self.written = written  # the index's list of the maps this fold wrote
        self.core = state.core
        self.table = state.strings
        self.local_traffic_policy = False
        self.policy_version = 0  # bumped when the traffic policy flips
        self.identities = self.core.Identities()
        self.zones = self.core.ZoneMap()
        # Slices by number: rows name their slice by number, so a row costs
        # no reference; a number is reused once its slice is gone.
        self.slices: list[Optional[SliceUpserted]] = []
        self._numbers: dict[str, int] = {}
        self._free_numbers: list[int] = []
        self.ports: dict[int, PortState] = {}  # every port a Service has declared
        self.undeclared: Optional[PortState] = None  # built when asked, see the module docstring
        self._undeclared_views: dict[int, CandidateSet] = {}  # port -> its view of that map

    # -- reading ---------------------------------------------------------------

    def view(self, port: int, slices: Iterable[SliceUpserted]) -> CandidateSet:
        """The candidates for ``port``; ``slices`` gives the service's current
        slices, oldest write first, should an undeclared port's map be built."""
        state = self.ports.get(port)
        if state is not None:
            if state.view is None:
                state.view = CandidateSet(self, state)
            return state.view
        if self.undeclared is None:
            self.undeclared = PortState(self.core, 0)
            self._relist(self.undeclared, list(slices), fold=-1)
        found = self._undeclared_views.get(port)
        if found is None:
            found = self._undeclared_views[port] = CandidateSet(self, self.undeclared, port)
        return found

    # -- folding ---------------------------------------------------------------

    def service_upserted(self, service: ServiceUpserted, slices: Iterable[SliceUpserted], fold: int) -> None:
        self._forget_undeclared()
        self.identities.settle()
        local = service.internal_traffic_policy == "Local"
        if local != self.local_traffic_policy:
            self.local_traffic_policy = local
            self.policy_version += 1
            for held in self.ports.values():
                held.forget_answers()
        slices = list(slices)
        for port in sorted({spec.port for spec in service.ports} | set(self.ports)):
            target = linkerd.target_for(service, port)
            state = self.ports.get(port)
            if state is None or state.target != target:
                if state is None:
                    state = self.ports[port] = PortState(self.core, target)
                state.target = target
                self._relist(state, slices, fold)

    def _relist(self, state: PortState, slices: list[SliceUpserted], fold: int) -> None:
        """Fill the map afresh from ``slices``, oldest write first (a later
        slice's address replaces an earlier one's with the same identity)."""
        mode = self._begin(state, fold)
        state.publisher.clear(self.identities, self.slices)
        for es in slices:
            number = self._number(es.key)
            self.slices[number] = es
            self._put(state, es, number)
        self._end(state, mode)

    def service_deleted(self, fold: int) -> None:
        self._forget_undeclared()
        self.identities.settle()
        for state in self.ports.values():
            mode = self._begin(state, fold)
            state.publisher.clear(self.identities, self.slices)
            self._end(state, mode)

    def slice_upserted(self, old: Optional[SliceUpserted], new: SliceUpserted, fold: int) -> None:
        self._forget_undeclared()
        self.identities.settle()
        number = self._number(new.key)
        modes = []
        for state in self.ports.values():
            modes.append(self._begin(state, fold))
            if old is not None:
                self._take_back(state, old)
            self._put(state, new, number)
        # Only now: the writes above read the rows' previous sources.
        self.slices[number] = new
        for state, mode in zip(self.ports.values(), modes):
            self._end(state, mode)

    def slice_deleted(self, old: SliceUpserted, fold: int) -> None:
        self._forget_undeclared()
        self.identities.settle()
        modes = []
        for state in self.ports.values():
            modes.append(self._begin(state, fold))
            self._take_back(state, old)
        for state, mode in zip(self.ports.values(), modes):
            self._end(state, mode)
        number = self._numbers.pop(old.key, None)
        if number is not None:  # (a slice that never gave a row here has none)
            self.slices[number] = None
            self._free_numbers.append(number)

    def _begin(self, state: PortState, fold: int) -> tuple[bool, bool, bool]:
        state.publisher.begin()
        state.written = fold
        self.written.append(state)
        return state.mode()

    def _end(self, state: PortState, mode_before: tuple[bool, bool, bool]) -> None:
        state.written_by(mode_before)

    def _take_back(self, state: PortState, es: SliceUpserted) -> None:
        port = linkerd.resolve_port(es.ports, state.target)
        if port is not None:
            cols = es.endpoints
            state.publisher.take_back(
                self.identities,
                cols.n,
                cols.data,
                port,
                self.table.find(es.namespace),
                self.table.find(es.address_type),
                self.slices,
            )

    def _put(self, state: PortState, es: SliceUpserted, number: int) -> None:
        port = linkerd.resolve_port(es.ports, state.target)
        if port is not None:
            cols = es.endpoints
            state.publisher.put(
                self.identities,
                self.zones,
                cols.n,
                cols.data,
                port,
                self.table.find(es.namespace),
                self.table.find(es.address_type),
                number,
                self.slices,
            )

    def _number(self, key: str) -> int:
        number = self._numbers.get(key)
        if number is None:
            if self._free_numbers:
                number = self._free_numbers.pop()
            else:
                number = len(self.slices)
                self.slices.append(None)
            self._numbers[key] = number
        return number

    def _forget_undeclared(self) -> None:
        """An event touched the service: the map for undeclared ports is stale."""
        if self.undeclared is not None:
            self.undeclared.publisher.clear(self.identities, self.slices)
            self.undeclared = None
            self._undeclared_views = {}

    # -- snapshots -------------------------------------------------------------

    def dump(self) -> list:
        """The maps as rows in map order: ``[slice key, endpoint, address]``
        each, naming where the row comes from rather than copying it (every
        row comes from the current version of some slice, since a slice
        write or delete first takes back all that the slice gave)."""
        ports = []
        for port, state in self.ports.items():
            pub = state.publisher
            sources = pub.sources(pub.map_order())
            rows = [[self.slices[sources[i]].key, sources[i + 1], sources[i + 2]] for i in range(0, len(sources), 4)]
            ports.append([port, state.target, rows])
        return [self.local_traffic_policy, ports]

    @classmethod
    def load(cls, service_key: str, image: list, state, written: list) -> AddressBook:
        book = cls(service_key, state, written)
        local, ports = image
        book.local_traffic_policy = bool(local)
        for port, target, rows in ports:
            port_state = book.ports[port] = PortState(book.core, target)
            pub = port_state.publisher
            for key, e, a in rows:
                es = state.slices[key]
                number = book._number(key)
                book.slices[number] = es
                cols = es.endpoints
                pub.put_one(
                    book.identities,
                    book.zones,
                    cols.n,
                    cols.data,
                    linkerd.resolve_port(es.ports, target),
                    book.table.find(es.namespace),
                    book.table.find(es.address_type),
                    number,
                    e,
                    a,
                    book.slices,
                )
        return book
