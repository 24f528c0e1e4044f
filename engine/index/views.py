"""Reading a port's address map: the facts the Linkerd rule decides on, the
rows a decision keeps, and the values callers get.

Values (``SelectedEndpoint``) are built only here, at the edge, and only
when read: a selection is a sorted array of rows, and ``EndpointList`` turns
a row into a value the first time it is asked for.  A row's value is kept
until a write touches the row, so repeated answers hand out the same
objects.  An ``EndpointList`` remembers where each of its rows came from
(the slice version, endpoint and address), so it keeps answering what was
true when it was made even after later writes reuse those rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..events import SliceUpserted
from ..policies import linkerd
from ..values import BuiltOnRead, SelectedEndpoint

if TYPE_CHECKING:
    from .book import AddressBook, PortState


def build_value(
    book: AddressBook, es: SliceUpserted, e: int, a: int, row_port: int, port: Optional[int] = None
) -> SelectedEndpoint:
    """The value of address ``a`` of endpoint ``e`` of slice ``es``, as a
    row holding it with endpoint port ``row_port`` gives it (``port``
    overrides the port shown: the shared map of undeclared ports)."""
    cols = es.endpoints
    strings = cols.strings
    cond, node, zone, host, kind, namespace, name, addresses, zones, nodes = book.core.endpoint_fields(
        cols.n, cols.data, e
    )
    address = strings[addresses[a]]
    hostname = None if host < 0 else strings[host]
    kind_name = None if kind < 0 else strings[kind]
    ns_name = "" if namespace < 0 else strings[namespace]
    target_name = "" if name < 0 else strings[name]
    if kind_name is None:
        identity = ("", f"{book.service_name}-{address}-{row_port}", hostname or "")
        target = None
    else:
        target = f"{kind_name}/{ns_name}/{target_name}"
        if kind_name == linkerd.POD:
            identity = (ns_name, target_name, es.address_type)
        else:
            identity = (es.namespace, target_name, "")
    return SelectedEndpoint(
        address,
        row_port if port is None else port,
        None if node < 0 else strings[node],
        None if zone < 0 else strings[zone],
        tuple(strings[z] for z in zones),
        tuple(strings[z] for z in nodes),
        target,
        hostname,
        identity,
    )


class CandidateSet:
    """A port's candidates as the Linkerd rule reads them (``linkerd.AddressSet``):
    one publisher's rows, all of them or those with one hostname; ``port``
    set for the shared map of undeclared ports (answering with that number)."""

    __slots__ = ("book", "state", "port", "host", "_rows")

    def __init__(self, book: AddressBook, state: PortState, port: Optional[int] = None, host: int = -2, rows=None):
        self.book = book
        self.state = state
        self.port = port
        self.host = host  # HOST_ANY, or the hostname's string id (HOST_UNKNOWN: no such string)
        self._rows = rows  # the hostname's rows, when restricted

    @property
    def publisher(self):
        return self.state.publisher

    def __len__(self) -> int:
        return self.publisher.size if self._rows is None else len(self._rows)

    def unhinted(self) -> int:
        return self.publisher.unhinted if self._rows is None else self.publisher.facts(self._rows)[1]

    def node_unhinted(self) -> int:
        return self.publisher.node_unhinted if self._rows is None else self.publisher.facts(self._rows)[2]

    def hinted_for_zone(self, zone: str) -> int:
        zid = self.zone_id(zone)
        if zid < 0:
            return 0
        if self._rows is None:
            return self.publisher.zone_count(zid)
        return self.publisher.count_passing(self._rows, self.book.core.F_ZONE, zid)

    def hinted_for_node(self, node: str) -> int:
        return self._count(self.book.core.F_NODE_HINT, self.book.table.find(node))

    def on_node(self, node: Optional[str]) -> int:
        return 0 if node is None else self._count(self.book.core.F_LOCAL, self.book.table.find(node))

    def _count(self, kind: int, arg: int) -> int:
        if arg < 0:
            return 0
        rows = self.publisher.rows() if self._rows is None else self._rows
        return self.publisher.count_passing(rows, kind, arg)

    def with_hostname(self, hostname: str) -> CandidateSet:
        host = self.book.table.find(hostname)
        core = self.book.core
        if host < 0:
            return CandidateSet(self.book, self.state, self.port, core.HOST_UNKNOWN, ())
        return CandidateSet(self.book, self.state, self.port, host, self.publisher.host_rows(host))

    def zone_id(self, zone: Optional[str]) -> int:
        sid = self.book.table.find(zone)
        return -1 if sid < 0 else self.book.zones.find(sid)

    # -- applying a decision ---------------------------------------------------

    def filter_of(self, decision: linkerd.Decision) -> tuple[int, int, int]:
        """``decision`` as the kernel's (filter, argument, hostname) integers."""
        core = self.book.core
        host = core.HOST_ANY
        if decision.hostname is not None:
            host = self.book.table.find(decision.hostname)
            if host < 0:
                host = core.HOST_UNKNOWN
        keep, arg = decision.keep, decision.argument
        if keep == linkerd.KEEP_ALL:
            return core.F_ALL, 0, host
        if keep == linkerd.KEEP_LOCAL:
            return core.F_LOCAL, self.book.table.find(arg), host
        if keep == linkerd.KEEP_NODE_HINT:
            return core.F_NODE_HINT, self.book.table.find(arg), host
        if keep == linkerd.KEEP_ZONE:
            return core.F_ZONE, self.zone_id(arg), host
        return core.F_NONE, 0, host

    def select(self, decision: linkerd.Decision):
        """The rows ``decision`` keeps, after the address-family step, sorted as answers list them."""
        kind, arg, host = self.filter_of(decision)
        pub = self.publisher
        return pub.sort(self.book.table, pub.select(self.book.identities, kind, arg, host, decision.ipv6))

    def endpoints(self, rows) -> EndpointList:
        return EndpointList(self, rows)

    def value(self, row: int) -> SelectedEndpoint:
        """The value of a held row, now."""
        state = self.state
        if self.port is None:
            cached = state.value(row)
            if cached is not None:
                return cached
        kind, family, row_port, address, node, host, number, e, a = self.publisher.row(row)
        value = build_value(self.book, self.book.slices[number], e, a, row_port, self.port)
        if self.port is None:
            state.keep_value(row, value)
        return value


class EndpointList(BuiltOnRead[int, SelectedEndpoint]):
    """A selection's endpoints, sorted; each value built when first read."""

    __slots__ = ("_view", "_rows", "_sources", "_slices")

    def __init__(self, view: CandidateSet, rows):
        super().__init__(range(len(rows)), self._value_at)
        self._view = view
        self._rows = rows
        # Where each row's value comes from now: later writes may reuse a
        # row for another identity, and this list must not change with it.
        self._sources = view.publisher.sources(rows)
        self._slices = tuple(view.book.slices)

    def _value_at(self, i: int) -> SelectedEndpoint:
        view = self._view
        row = self._rows[i]
        number, e, a, port = self._sources[4 * i : 4 * i + 4]
        es = self._slices[number]
        current = view.publisher.row(row) if view.publisher.holds(row) else None
        if (
            current is not None
            and current[6:] == (number, e, a)
            and current[2] == port
            and view.book.slices[number] is es
        ):
            return view.value(row)  # still what the row holds: share the row's value
        return build_value(view.book, es, e, a, port, view.port)
