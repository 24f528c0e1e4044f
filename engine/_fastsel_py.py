"""Pure-Python twin of engine/_fastsel.pyx: the same classes, functions,
results and errors, used when ENGINE_NO_EXTENSIONS=1 or the compiled module
is missing.  Each algorithm is written here plainly; the compiled module
follows it step for step over C arrays.

What the core holds, and the layouts both twins share:

``StringTable``
    Every string the engine has seen, interned once, append-only: an id
    never changes meaning, so ids can be stored in the log and in
    snapshots.  The first ids are reserved (``RESERVED_STRINGS``), so the
    address families and target kinds the rules compare are fixed integers.

Endpoint columns (one slice's endpoints)
    ``n`` endpoints as native int32 words, in this order:

    * seven columns of ``n``: conditions (ready | serving << 2 |
      terminating << 4, each 0 unset, 1 false, 2 true), then the string ids
      of node, zone, hostname, target kind, target namespace and target
      name (-1 when absent);
    * three offset arrays of ``n + 1`` into one list region, for addresses,
      zone hints and node hints: endpoint ``i``'s addresses are
      ``lists[a[i]:a[i + 1]]``; the zone hint offsets start where the
      addresses end and the node hint offsets where the zone hints end;
    * the list region: string ids.

    The ids index a dictionary: a slice built from Kubernetes objects
    carries its own tuple of strings; the engine adopts it into its
    ``StringTable``, after which the ids are the table's.

``Identities``
    A service's Linkerd address identities interned to row numbers, with a
    count of the publishers holding each.  A row whose count drops to zero
    is freed only when the write that dropped it is settled, so an identity
    keeps its row through a slice rewrite (and diffs can compare row by row).

``Publisher``
    One Linkerd port publisher's address map, columnar: row ``r`` holds the
    identity interned as ``r``.  A slice write takes back what the slice's
    previous version gave and writes what the new version gives, keeping
    per-zone and unhinted counts and a ``WriteLog`` of the rows it touched
    with their previous content, from which cached selections are
    invalidated and subscriptions diffed.  Zone hints are interned per
    service (``ZoneMap``) so a row's first 64 zones fit one mask word.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Optional, TypeVar, Union

from .errors import RecordError
from .ipv4 import STRICT_DOTTED_QUAD

# ---------------------------------------------------------------------------
# Strings

RESERVED_STRINGS = ("", "IPv4", "IPv6", "FQDN", "Pod", "ExternalWorkload")
S_EMPTY, S_IPV4, S_IPV6, S_FQDN, S_POD, S_EXTERNAL_WORKLOAD = range(len(RESERVED_STRINGS))


# What the column functions take as strings (a slice's own tuple, or a
# table) and what they give: ``(strings, n, data)``.
Strings = Union[Sequence[str], "StringTable"]
Columns = tuple[tuple[str, ...], int, bytes]
T = TypeVar("T")  # what endpoint_values' ``make`` builds


class StringTable:
    """Strings interned to ids 0, 1, 2, ... in the order first seen."""

    def __init__(self) -> None:
        self._strings: list[str] = []
        self._ids: dict[str, int] = {}
        for s in RESERVED_STRINGS:
            self.intern(s)

    def __len__(self) -> int:
        return len(self._strings)

    def __getitem__(self, sid: int) -> str:
        if not 0 <= sid < len(self._strings):
            raise IndexError(f"string id {sid} is not in the table")
        return self._strings[sid]

    def intern(self, s: str) -> int:
        found = self._ids.get(s)
        if found is None:
            if type(s) is not str:
                raise TypeError(f"expected a string, found {type(s).__name__}")
            _utf8(s)
            found = self._ids[s] = len(self._strings)
            self._strings.append(s)
        return found

    def find(self, s: Optional[str]) -> int:
        """The id of ``s``, or -1 if it was never interned (None never is)."""
        return -1 if s is None else self._ids.get(s, -1)

    def tail(self, start: int) -> tuple[bytes, bytes]:
        """The strings from id ``start`` on: their UTF-8 bytes back to back,
        and their byte lengths as uint32."""
        encoded = [_utf8(s) for s in self._strings[start:]]
        return b"".join(encoded), array("I", map(len, encoded)).tobytes()

    def extend(self, first: int, blob: bytes, lengths: bytes) -> None:
        """Strings ``first``, ``first + 1``, ... are those encoded (as ``tail``
        encodes them): append the ones past the end of the table, and check
        that the ones already in it are the same."""
        sizes = _uint32s(lengths)
        if sum(sizes) != len(blob):
            raise RecordError(f"string lengths add up to {sum(sizes)} bytes, the strings hold {len(blob)}")
        if not 0 <= first <= len(self._strings):
            raise RecordError(f"strings from id {first} do not follow the table's {len(self._strings)}")
        added: dict[str, None] = {}
        pos = 0
        for i, size in enumerate(sizes):
            try:
                s = bytes(blob[pos : pos + size]).decode("utf-8")
            except UnicodeDecodeError:
                raise RecordError(f"string at byte {pos} is not valid UTF-8") from None
            pos += size
            sid = first + i
            if sid < len(self._strings):
                if self._strings[sid] != s:
                    raise RecordError(f"string {sid} is {s[:40]!r} here but {self._strings[sid][:40]!r} in the table")
            elif s in self._ids or s in added:
                raise RecordError(f"string {s[:40]!r} is already in the string table")
            else:
                added[s] = None
        for s in added:
            self._ids[s] = len(self._strings)
            self._strings.append(s)

    def truncate(self, size: int) -> None:
        """Forget the strings from id ``size`` on (what an append that failed added)."""
        if not len(RESERVED_STRINGS) <= size <= len(self._strings):
            raise ValueError(f"cannot truncate {len(self._strings)} strings to {size}")
        for s in self._strings[size:]:
            del self._ids[s]
        del self._strings[size:]

    def adopt(self, strings: Strings, n: int, data: bytes) -> bytes:
        """``data``, endpoint columns whose ids index ``strings`` (a slice's own
        tuple, or another table), with the ids made this table's: the strings
        the columns use are interned in the order of their old ids."""
        if strings is self:
            return data
        words = array("i")
        words.frombytes(data)
        places = [*range(n, FIXED_COLUMNS * n), *range(_lists_start(n), len(words))]
        used = sorted({words[i] for i in places if words[i] >= 0})
        ids = {old: self.intern(strings[old]) for old in used}
        for i in places:
            if words[i] >= 0:
                words[i] = ids[words[i]]
        return words.tobytes()


def _utf8(s: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordError(f"string {s[:40]!r} is not valid Unicode (a lone surrogate?)") from None


def _uint32s(data: bytes) -> array:
    if len(data) % 4:
        raise RecordError(f"string lengths take {len(data)} bytes, not a whole number of uint32")
    values = array("I")
    values.frombytes(data)
    return values


# ---------------------------------------------------------------------------
# Endpoint columns

FIXED_COLUMNS = 7
COND, NODE, ZONE, HOSTNAME, TARGET_KIND, TARGET_NAMESPACE, TARGET_NAME = range(FIXED_COLUMNS)
ADDRESS_LISTS, ZONE_HINT_LISTS, NODE_HINT_LISTS = range(3)
_TRISTATE = {None: 0, False: 1, True: 2}
NOT_READY = 1  # the ready field of a condition word when ready is explicitly false


def _words(data: bytes) -> memoryview:
    """The column words of ``data``, without copying them."""
    return memoryview(data).cast("i")


def _lists_start(n: int) -> int:
    return FIXED_COLUMNS * n + 3 * (n + 1)


def _offsets(n: int, which: int) -> int:
    """Word index of offset array ``which`` (ADDRESS_LISTS, ...)."""
    return FIXED_COLUMNS * n + which * (n + 1)


def columns_from_rows(rows: Sequence[Sequence[Any]]) -> Columns:
    """Endpoint columns from endpoint rows laid out as in the version-1 log
    record: ``[addresses, ready, serving, terminating, node, zone,
    hostname, target kind, target namespace, target name, zone hints, node
    hints]``.

    Returns ``(strings, n, data)``: the slice's own strings in the order
    first met (endpoint by endpoint, field by field), the endpoint count and
    the column words.  A wrong shape or type raises RecordError naming the
    endpoint and field.
    """
    if type(rows) not in (list, tuple):
        raise RecordError(f"endpoints: expected a list, found {type(rows).__name__}")
    strings: dict[str, int] = {}

    def sid(value: object, i: int, what: str) -> int:
        if value is None:
            return -1
        if type(value) is not str:
            raise RecordError(f"endpoint {i}: {what}: expected a string, found {type(value).__name__}")
        found = strings.get(value)
        if found is None:
            _utf8(value)
            found = strings[value] = len(strings)
        return found

    def tristate(value: object, i: int, what: str) -> int:
        if value is not None and type(value) is not bool:
            raise RecordError(f"endpoint {i}: {what}: expected a boolean, found {type(value).__name__}")
        return _TRISTATE[value]

    def id_list(values: Any, i: int, what: str) -> list[int]:
        if type(values) not in (list, tuple):
            raise RecordError(f"endpoint {i}: {what}: expected a list, found {type(values).__name__}")
        found = []
        for value in values:
            if value is None:
                raise RecordError(f"endpoint {i}: {what}: expected a string, found NoneType")
            found.append(sid(value, i, what))
        return found

    n = len(rows)
    fixed = [array("i", bytes(4 * n)) for _ in range(FIXED_COLUMNS)]
    lists: list[list[list[int]]] = [[], [], []]
    for i, row in enumerate(rows):
        if type(row) not in (list, tuple) or len(row) != 12:
            raise RecordError(f"endpoint {i}: expected a list of 12 fields")
        (addresses, ready, serving, terminating, node, zone, hostname, kind, namespace, name, for_zones, for_nodes) = (
            row
        )
        lists[ADDRESS_LISTS].append(id_list(addresses, i, "addresses"))
        fixed[COND][i] = (
            tristate(ready, i, "ready")
            | tristate(serving, i, "serving") << 2
            | tristate(terminating, i, "terminating") << 4
        )
        fixed[NODE][i] = sid(node, i, "nodeName")
        fixed[ZONE][i] = sid(zone, i, "zone")
        fixed[HOSTNAME][i] = sid(hostname, i, "hostname")
        fixed[TARGET_KIND][i] = sid(kind, i, "targetRef.kind")
        fixed[TARGET_NAMESPACE][i] = sid(namespace, i, "targetRef.namespace")
        fixed[TARGET_NAME][i] = sid(name, i, "targetRef.name")
        lists[ZONE_HINT_LISTS].append(id_list(for_zones, i, "hints.forZones"))
        lists[NODE_HINT_LISTS].append(id_list(for_nodes, i, "hints.forNodes"))
    words = array("i")
    for column in fixed:
        words.extend(column)
    region = array("i")
    for groups in lists:
        words.append(len(region))
        for ids in groups:
            region.extend(ids)
            words.append(len(region))
    words.extend(region)
    return tuple(strings), n, words.tobytes()


def columns_from_endpoints(endpoints: Sequence[Any]) -> Columns:
    """Endpoint columns from decoded EndpointSlice endpoints (the values of
    engine/kube/schema.py, read by their Kubernetes field names: addresses,
    conditions.{ready,serving,terminating}, nodeName, zone, hostname,
    targetRef.{kind,namespace,name}, hints.{forZones,forNodes}[].name; an
    empty zone is no zone): what ``columns_from_rows`` gives for the same
    endpoints as rows, without building the rows."""
    rows = []
    for e in endpoints:
        c, r, h = e.conditions, e.targetRef, e.hints
        rows.append(
            [
                e.addresses,
                None if c is None else c.ready,
                None if c is None else c.serving,
                None if c is None else c.terminating,
                e.nodeName,
                e.zone or None,
                e.hostname,
                None if r is None else r.kind,
                None if r is None else r.namespace,
                None if r is None else r.name,
                [] if h is None or not h.forZones else [z.name for z in h.forZones],
                [] if h is None or not h.forNodes else [z.name for z in h.forNodes],
            ]
        )
    return columns_from_rows(rows)


def endpoint_strings(strings: Strings, n: int, data: bytes) -> tuple[set[str], set[str], set[str], set[str], bool]:
    """What a slice's endpoints name, for checking each name once: (node
    names, hostnames, zone hints, node hints, whether some endpoint lists a
    hint twice)."""
    words = _words(data)
    nodes = {strings[words[NODE * n + e]] for e in range(n) if words[NODE * n + e] >= 0}
    hostnames = {strings[words[HOSTNAME * n + e]] for e in range(n) if words[HOSTNAME * n + e] >= 0}
    zone_hints: set[str] = set()
    node_hints: set[str] = set()
    repeated = False
    for e in range(n):
        for which, names in ((ZONE_HINT_LISTS, zone_hints), (NODE_HINT_LISTS, node_hints)):
            ids = _span(words, n, which, e)
            repeated = repeated or len(set(ids)) < len(ids)
            names.update(strings[i] for i in ids)
    return nodes, hostnames, zone_hints, node_hints, repeated


# What an endpoint may not use, by its text (a valid address has no leading
# zeros, so its text says its range): the unspecified address, loopback
# 127/8, link-local 169.254/16, link-local multicast 224.0.0/24.
_UNUSABLE_IPV4_PREFIXES = ("127.", "169.254.", "224.0.0.")


def usable_ipv4_addresses(strings: tuple[str, ...], n: int, data: bytes) -> bool:
    """True when every address of the endpoints is certainly a usable IPv4
    endpoint address; False means only "not certainly", and the exact rule
    then says which address is wrong."""
    words = _words(data)
    for i in words[
        _lists_start(n) + words[_offsets(n, ADDRESS_LISTS)] : _lists_start(n) + words[_offsets(n, ZONE_HINT_LISTS)]
    ]:
        address = strings[i]
        if (
            not STRICT_DOTTED_QUAD.fullmatch(address)
            or address == "0.0.0.0"
            or address.startswith(_UNUSABLE_IPV4_PREFIXES)
        ):
            return False
    return True


def check_columns(n: int, data: bytes, limit: int) -> None:
    """Raise RecordError unless ``data`` is a whole layout of ``n``
    endpoints whose string ids lie below ``limit``: what a record read from
    disk must be before anything indexes into it."""
    if n < 0 or len(data) % 4:
        raise RecordError("endpoint columns: not whole int32 words")
    words = _words(data)
    start = _lists_start(n)
    if len(words) < start:
        raise RecordError(f"endpoint columns: {len(words)} words cannot hold {n} endpoints")
    for i in range(n):
        cond = words[i]
        if cond & ~0x3F or any(cond >> shift & 3 == 3 for shift in (0, 2, 4)):
            raise RecordError(f"endpoint columns: endpoint {i} has an invalid condition word {cond}")
    for i in range(n, FIXED_COLUMNS * n):
        if not -1 <= words[i] < limit:
            raise RecordError(f"endpoint columns: string id {words[i]} out of range")
    previous = 0
    for which in range(3):
        base = _offsets(n, which)
        if words[base] != previous:
            raise RecordError("endpoint columns: offset arrays do not follow each other")
        for i in range(n):
            if words[base + i + 1] < words[base + i]:
                raise RecordError("endpoint columns: offsets decrease")
        previous = words[base + n]
    if start + previous != len(words):
        raise RecordError(f"endpoint columns: offsets end at {previous}, the lists hold {len(words) - start}")
    for i in range(start, len(words)):
        if not 0 <= words[i] < limit:
            raise RecordError(f"endpoint columns: string id {words[i]} out of range")


def _span(words: memoryview, n: int, which: int, e: int) -> tuple[int, ...]:
    """Endpoint ``e``'s ids in list ``which`` (ADDRESS_LISTS, ...)."""
    base = _offsets(n, which)
    lists = _lists_start(n)
    return tuple(words[lists + words[base + e] : lists + words[base + e + 1]])


def endpoint_fields(
    n: int, data: bytes, i: int
) -> tuple[int, int, int, int, int, int, int, tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Endpoint ``i`` as ``(condition word, node, zone, hostname, target
    kind, target namespace, target name, addresses, zone hints, node
    hints)``, the last three as tuples of ids."""
    words = _words(data)
    cond, node, zone, hostname, kind, namespace, name = (words[column * n + i] for column in range(FIXED_COLUMNS))
    return (
        cond,
        node,
        zone,
        hostname,
        kind,
        namespace,
        name,
        _span(words, n, ADDRESS_LISTS, i),
        _span(words, n, ZONE_HINT_LISTS, i),
        _span(words, n, NODE_HINT_LISTS, i),
    )


def endpoint_values(strings: Strings, n: int, data: bytes, make: Callable[..., T]) -> tuple[T, ...]:
    """Every endpoint as ``make(addresses, ready, serving, terminating,
    node, zone, hostname, target kind, target namespace, target name, zone
    hints, node hints)``, in one pass: the values a slice's endpoints read
    as.  A name the slice repeats (node, zone, target, hint) is one string
    object for all its endpoints, however ``strings`` hands them out."""
    words = _words(data)
    lists = _lists_start(n)
    names: dict[int, str] = {}

    def one_copy(sid: int) -> str:
        found = names.get(sid)
        if found is None:
            found = names[sid] = strings[sid]
        return found

    def name(sid: int) -> Optional[str]:
        return None if sid < 0 else one_copy(sid)

    def listed(which: int, e: int, shared: bool) -> tuple[str, ...]:
        base = _offsets(n, which)
        ids = words[lists + words[base + e] : lists + words[base + e + 1]]
        return tuple(one_copy(i) for i in ids) if shared else tuple(strings[i] for i in ids)

    tristate = (None, False, True)
    return tuple(
        make(
            listed(ADDRESS_LISTS, e, False),
            tristate[words[e] & 3],
            tristate[words[e] >> 2 & 3],
            tristate[words[e] >> 4 & 3],
            *(name(words[column * n + e]) for column in range(1, FIXED_COLUMNS)),
            listed(ZONE_HINT_LISTS, e, True),
            listed(NODE_HINT_LISTS, e, True),
        )
        for e in range(n)
    )


# ---------------------------------------------------------------------------
# Identities

# Row kinds: what an endpoint's targetRef names; ABSENT marks an empty row.
ABSENT, NO_TARGET, POD_ROW, EXTERNAL_ROW = 0, 1, 2, 3


class Identities:
    """Identity keys interned to rows, counted by the publishers holding them."""

    def __init__(self) -> None:
        self.rows: dict[tuple, int] = {}
        self.keys: list[Optional[tuple]] = []
        self.refs: list[int] = []
        self._free: list[int] = []
        self._unheld: list[int] = []  # rows whose count reached 0 in the write under way

    def __len__(self) -> int:
        """Rows ever allocated (held or free)."""
        return len(self.keys)

    def _find(self, key: tuple) -> int:
        return self.rows.get(key, -1)

    def _acquire(self, key: tuple) -> int:
        row = self.rows.get(key)
        if row is None:
            if self._free:
                row = self._free.pop()
                self.keys[row] = key
            else:
                row = len(self.keys)
                self.keys.append(key)
                self.refs.append(0)
            self.rows[key] = row
        self.refs[row] += 1
        return row

    def _release(self, row: int) -> None:
        self.refs[row] -= 1
        if not self.refs[row]:
            self._unheld.append(row)

    def settle(self) -> None:
        """Free the rows no publisher holds any more, in the order they were
        let go.  Called as the next write begins, so that until then a
        dropped identity still names its row (subscriptions diffing the
        write look up a dropped pod's other address family)."""
        for row in self._unheld:
            key = self.keys[row]
            if not self.refs[row] and key is not None:
                del self.rows[key]
                self.keys[row] = None
                self._free.append(row)
        self._unheld.clear()

    def _pod_sibling(self, row: int, family: int) -> int:
        """The row of the same pod's identity in address family ``family``, or -1."""
        key = self.keys[row]
        if key is None or key[0] != POD_ROW:
            return -1
        return self.rows.get((POD_ROW, key[1], key[2], family), -1)


def _identity(
    kind: int, words: memoryview, n: int, e: int, address: int, port: int, namespace: int, family: int
) -> tuple:
    """Linkerd's identity of one address: a Pod by (namespace, name, address
    family), an ExternalWorkload by (namespace, name), an endpoint without
    targetRef by (IP, port, hostname).  Unset and empty strings are one."""
    if kind == POD_ROW:
        return POD_ROW, max(words[TARGET_NAMESPACE * n + e], 0), max(words[TARGET_NAME * n + e], 0), family
    if kind == EXTERNAL_ROW:
        return EXTERNAL_ROW, namespace, max(words[TARGET_NAME * n + e], 0)
    return NO_TARGET, address, port, max(words[HOSTNAME * n + e], 0)


def _kind(words: memoryview, n: int, e: int) -> int:
    """The row kind endpoint ``e`` gives, ABSENT for none: endpoints
    explicitly not ready and targetRefs of other kinds give nothing."""
    if words[e] & 3 == NOT_READY:
        return ABSENT
    target = words[TARGET_KIND * n + e]
    if target == -1:
        return NO_TARGET
    if target == S_POD:
        return POD_ROW
    if target == S_EXTERNAL_WORKLOAD:
        return EXTERNAL_ROW
    return ABSENT


def _slice_rows(
    words: memoryview, n: int, port: int, namespace: int, family: int
) -> Iterator[tuple[int, int, int, int, tuple]]:
    """``(endpoint, address index, kind, address, identity)`` for every
    address the slice gives a publisher, in slice order."""
    lists = _lists_start(n)
    base = _offsets(n, ADDRESS_LISTS)
    for e in range(n):
        kind = _kind(words, n, e)
        if kind == ABSENT:
            continue
        for a in range(words[base + e + 1] - words[base + e]):
            address = words[lists + words[base + e] + a]
            yield e, a, kind, address, _identity(kind, words, n, e, address, port, namespace, family)


# ---------------------------------------------------------------------------
# Zones of one service

MASK_BITS = 64  # zone ids below this live in a row's mask word


class ZoneMap:
    """A service's zone names (string ids) interned to small ids, in the order first seen."""

    def __init__(self) -> None:
        self._ids: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def _local(self, sid: int) -> int:
        found = self._ids.get(sid)
        if found is None:
            found = self._ids[sid] = len(self._ids)
        return found

    def find(self, sid: int) -> int:
        return self._ids.get(sid, -1)


# ---------------------------------------------------------------------------
# Publishers

# Filters a selection applies after the hostname step (see policies/linkerd.py).
F_NONE, F_ALL, F_LOCAL, F_NODE_HINT, F_ZONE = range(5)
HOST_ANY = -2  # no hostname restriction
HOST_UNKNOWN = -3  # a hostname no endpoint has


class WriteLog:
    """The rows one write touched, in first-touch order, and what each held before."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.before: dict[int, tuple] = {}

    def reset(self) -> None:
        self.rows = []
        self.before = {}

    def __len__(self) -> int:
        return len(self.rows)


class Publisher:
    """One port publisher's address map as row columns (see the module docstring)."""

    def __init__(self) -> None:
        self.kind: list[int] = []
        self.family: list[int] = []  # address type id for Pod rows, -1 otherwise
        self.port: list[int] = []
        self.address: list[int] = []
        self.node: list[int] = []
        self.hostname: list[int] = []
        self.node_hint: list[int] = []  # the first node hint, -1 for none
        self.zone_mask: list[int] = []
        self.order: list[int] = []  # map order: the tie-break after (address, port)
        self.src_slice: list[int] = []  # where the row comes from: the book's slice number,
        self.src_endpoint: list[int] = []  # the endpoint in it,
        self.src_address: list[int] = []  # and which of its addresses
        self.wide_zones: dict[int, tuple[int, ...]] = {}  # rows with a zone id >= MASK_BITS: all their ids
        self.wide_nodes: dict[int, tuple[int, ...]] = {}  # rows with several node hints: all of them
        self.zone_counts: list[int] = []
        self.size = 0
        self.unhinted = 0
        self.node_unhinted = 0
        # Bumped whenever a count the Linkerd rule reads crosses zero (the
        # rule reads them only as zero or not): an unchanged version means an
        # unchanged decision for every client that reads no other count.
        self.facts_version = 0
        self.next_order = 0
        self.log = WriteLog()

    # -- reading rows ----------------------------------------------------------

    def capacity(self) -> int:
        return len(self.kind)

    def holds(self, row: int) -> bool:
        return row < len(self.kind) and self.kind[row] != ABSENT

    def rows(self) -> array:
        """Every held row, ascending."""
        return array("i", [r for r, kind in enumerate(self.kind) if kind])

    def row(self, r: int) -> tuple[int, int, int, int, int, int, int, int, int]:
        """``(kind, family, port, address, node, hostname, slice, endpoint, address index)``."""
        return (
            self.kind[r],
            self.family[r],
            self.port[r],
            self.address[r],
            self.node[r],
            self.hostname[r],
            self.src_slice[r],
            self.src_endpoint[r],
            self.src_address[r],
        )

    def _zone_ids(self, r: int) -> tuple[int, ...]:
        wide = self.wide_zones.get(r)
        if wide is not None:
            return wide
        mask = self.zone_mask[r]
        return tuple(z for z in range(mask.bit_length()) if mask >> z & 1)

    def _node_hints(self, r: int) -> tuple[int, ...]:
        wide = self.wide_nodes.get(r)
        if wide is not None:
            return wide
        return () if self.node_hint[r] < 0 else (self.node_hint[r],)

    def zone_count(self, zone: int) -> int:
        return self.zone_counts[zone] if 0 <= zone < len(self.zone_counts) else 0

    # -- writing ---------------------------------------------------------------

    def begin(self) -> None:
        """Start a write: the log will hold what this write touches."""
        self.log.reset()

    def end(self) -> None:
        """Forget the last write's log (once whatever reads it has)."""
        self.log.reset()

    def take_back(
        self, ids: Identities, n: int, data: bytes, port: int, namespace: int, family: int, sources: list
    ) -> None:
        """Drop every identity the slice (its previous version) gave that this map holds."""
        words = _words(data)
        for _, _, _, _, key in _slice_rows(words, n, port, namespace, family):
            row = ids._find(key)
            if row >= 0 and self.holds(row):
                self._touch(row, sources)
                self._uncount(row)
                self.kind[row] = ABSENT
                self._resize(-1)
                ids._release(row)

    def put(
        self,
        ids: Identities,
        zones: ZoneMap,
        n: int,
        data: bytes,
        port: int,
        namespace: int,
        family: int,
        slice_number: int,
        sources: list,
    ) -> None:
        """Write what the slice gives; a held identity is overwritten in place
        (it keeps its place in map order), a new one goes to the end."""
        words = _words(data)
        for e, a, kind, address, key in _slice_rows(words, n, port, namespace, family):
            self._write(ids, zones, words, n, e, a, kind, address, key, port, family, slice_number, sources)

    def put_one(
        self,
        ids: Identities,
        zones: ZoneMap,
        n: int,
        data: bytes,
        port: int,
        namespace: int,
        family: int,
        slice_number: int,
        e: int,
        a: int,
        sources: list,
    ) -> None:
        """Write address ``a`` of endpoint ``e`` alone (loading a snapshot's rows in map order)."""
        words = _words(data)
        kind = _kind(words, n, e) if 0 <= e < n else ABSENT
        addresses = _span(words, n, ADDRESS_LISTS, e) if kind != ABSENT else ()
        if not 0 <= a < len(addresses):
            raise RecordError(f"snapshot row: endpoint {e} address {a} gives no row")
        key = _identity(kind, words, n, e, addresses[a], port, namespace, family)
        self._write(ids, zones, words, n, e, a, kind, addresses[a], key, port, family, slice_number, sources)

    def _write(
        self,
        ids: Identities,
        zones: ZoneMap,
        words: memoryview,
        n: int,
        e: int,
        a: int,
        kind: int,
        address: int,
        key: tuple,
        port: int,
        family: int,
        slice_number: int,
        sources: list,
    ) -> None:
        row = ids._acquire(key)
        self._touch(row, sources)
        if self.holds(row):
            ids._release(row)  # the acquire above was a look-up: this map already counted it
            self._uncount(row)
        else:
            self._grow(row + 1)
            self.order[row] = self.next_order
            self.next_order += 1
            self._resize(1)
        self.kind[row] = kind
        self.family[row] = family if kind == POD_ROW else -1
        self.port[row] = port
        self.address[row] = address
        self.node[row] = words[NODE * n + e]
        self.hostname[row] = words[HOSTNAME * n + e]
        self.src_slice[row], self.src_endpoint[row], self.src_address[row] = slice_number, e, a
        zone_ids = tuple(zones._local(sid) for sid in _span(words, n, ZONE_HINT_LISTS, e))
        mask = 0
        for z in zone_ids:
            if z < MASK_BITS:
                mask |= 1 << z
        self.zone_mask[row] = mask
        if any(z >= MASK_BITS for z in zone_ids):
            self.wide_zones[row] = zone_ids
        else:
            self.wide_zones.pop(row, None)
        node_ids = _span(words, n, NODE_HINT_LISTS, e)
        self.node_hint[row] = node_ids[0] if node_ids else -1
        if len(node_ids) > 1:
            self.wide_nodes[row] = node_ids
        else:
            self.wide_nodes.pop(row, None)
        self._count(row)

    def clear(self, ids: Identities, sources: list) -> None:
        """Drop every row (a Service deleted): each goes in the log."""
        for row in self.rows():
            self._touch(row, sources)
            self._uncount(row)
            self.kind[row] = ABSENT
            ids._release(row)
        if self.size:
            self.size = 0
            self.facts_version += 1

    def _resize(self, step: int) -> None:
        self.size += step
        if self.size == 0 or self.size == step:
            self.facts_version += 1

    def _grow(self, rows: int) -> None:
        extra = rows - len(self.kind)
        if extra > 0:
            extra = max(extra, len(self.kind) // 2, 16)  # amortised: grow by half
            for column, fill in (
                (self.kind, 0),
                (self.family, -1),
                (self.port, 0),
                (self.address, -1),
                (self.node, -1),
                (self.hostname, -1),
                (self.node_hint, -1),
                (self.zone_mask, 0),
                (self.order, 0),
                (self.src_slice, -1),
                (self.src_endpoint, 0),
                (self.src_address, 0),
            ):
                column.extend([fill] * extra)

    def _count(self, row: int) -> None:
        self._count_row(row, 1)

    def _uncount(self, row: int) -> None:
        self._count_row(row, -1)

    def _count_row(self, row: int, step: int) -> None:
        """Add (or with -1 take back) the row's share of the counts."""
        zone_ids = self._zone_ids(row)
        if not zone_ids:
            self.unhinted += step
            if self.unhinted == 0 or self.unhinted == step:
                self.facts_version += 1
        for z in set(zone_ids):
            if z >= len(self.zone_counts):
                self.zone_counts.extend([0] * (z + 1 - len(self.zone_counts)))
            self.zone_counts[z] += step
            if self.zone_counts[z] == 0 or self.zone_counts[z] == step:
                self.facts_version += 1
        if self.node_hint[row] < 0:
            self.node_unhinted += step
            if self.node_unhinted == 0 or self.node_unhinted == step:
                self.facts_version += 1

    def _touch(self, row: int, sources: list) -> None:
        """Note the row's content before its first change in this write."""
        log = self.log
        if row in log.before:
            return
        log.rows.append(row)
        if not self.holds(row):
            log.before[row] = (False, -1, 0, -1, -1, (), (), ())
            return
        source = sources[self.src_slice[row]].endpoints
        hints = endpoint_fields(source.n, source.data, self.src_endpoint[row])[8]
        log.before[row] = (
            True,
            self.address[row],
            self.port[row],
            self.node[row],
            self.hostname[row],
            tuple(sorted(hints)),
            self._zone_ids(row),
            self._node_hints(row),
        )

    # -- what a write changed --------------------------------------------------

    def log_rows(self) -> array:
        """The rows the last write touched, in first-touch order."""
        return array("i", self.log.rows)

    def _changed(self, row: int, sources: list) -> bool:
        """Whether the last write changed what a client sees of the row:
        present or not, address, port, or its (sorted) zone hints."""
        before = self.log.before.get(row)
        if before is None:
            return False
        if before[0] != self.holds(row):
            return True
        if not before[0]:
            return False
        source = sources[self.src_slice[row]].endpoints
        hints = tuple(sorted(endpoint_fields(source.n, source.data, self.src_endpoint[row])[8]))
        return (before[1], before[2], before[5]) != (self.address[row], self.port[row], hints)

    def touched(self) -> tuple[list[int], list[int], list[int], list[int]]:
        """What the last write's rows named, before and after: (zone ids,
        nodes, node hints, hostnames), for dropping the cached selections
        that depend on them."""
        zones, nodes, hint_nodes, hosts = set(), set(), set(), set()
        for row in self.log.rows:
            present, _, _, node, host, _, zone_ids, node_hints = self.log.before[row]
            if present:
                zones.update(zone_ids)
                nodes.add(node)
                hint_nodes.update(node_hints)
                hosts.add(host)
            if self.holds(row):
                zones.update(self._zone_ids(row))
                nodes.add(self.node[row])
                hint_nodes.update(self._node_hints(row))
                hosts.add(self.hostname[row])
        return sorted(zones), sorted(nodes - {-1}), sorted(hint_nodes), sorted(hosts - {-1})

    # -- selecting -------------------------------------------------------------

    def passes(self, row: int, kind: int, arg: int, host: int) -> bool:
        """Whether a held row survives the hostname step and filter ``kind``."""
        if not self.holds(row) or host != HOST_ANY and self.hostname[row] != host:
            return False
        if kind == F_ALL:
            return True
        if kind == F_LOCAL:
            return arg >= 0 and self.kind[row] == POD_ROW and self.node[row] == arg
        if kind == F_NODE_HINT:
            return arg in self._node_hints(row)
        if kind == F_ZONE:
            if 0 <= arg < MASK_BITS:
                return bool(self.zone_mask[row] >> arg & 1)
            return arg in self.wide_zones.get(row, ())
        return False

    def select(self, ids: Identities, kind: int, arg: int, host: int, ipv6: bool) -> array:
        """Rows a filter keeps, then Linkerd's address-family step, ascending."""
        rows = [r for r in range(len(self.kind)) if self.passes(r, kind, arg, host)]
        return array("i", self._family_step(ids, rows, ipv6))

    def _family_step(self, ids: Identities, rows: Sequence[int], ipv6: bool) -> list[int]:
        """Without IPv6, Pod IPv6 addresses are dropped; with it, a pod that
        has both families among ``rows`` keeps only its IPv6 address."""
        family = self.family
        if not ipv6:
            return [r for r in rows if family[r] != S_IPV6]
        kept = set(rows)
        return [r for r in rows if family[r] != S_IPV4 or ids._pod_sibling(r, S_IPV6) not in kept]

    def _member(self, ids: Identities, row: int, kind: int, arg: int, host: int, ipv6: bool) -> bool:
        """``row in select(...)``, for one row."""
        if not self.passes(row, kind, arg, host):
            return False
        family = self.family[row]
        if family == S_IPV6:
            return ipv6
        if family == S_IPV4 and ipv6:
            sibling = ids._pod_sibling(row, S_IPV6)
            return sibling < 0 or not self.passes(sibling, kind, arg, host)
        return True

    def facts(self, rows: Sequence[int]) -> tuple[int, int, int]:
        """(rows, rows without a zone hint, rows without a node hint) among ``rows``."""
        unhinted = sum(1 for r in rows if not self.zone_mask[r] and r not in self.wide_zones)
        node_unhinted = sum(1 for r in rows if self.node_hint[r] < 0)
        return len(rows), unhinted, node_unhinted

    def host_rows(self, host: int) -> array:
        return array("i", [r for r in range(len(self.kind)) if self.kind[r] and self.hostname[r] == host])

    def count_passing(self, rows: Sequence[int], kind: int, arg: int) -> int:
        return sum(1 for r in rows if self.passes(r, kind, arg, HOST_ANY))

    def diff(
        self,
        ids: Identities,
        member: bytearray,
        kind: int,
        arg: int,
        host: int,
        ipv6: bool,
        full: bool,
        logged: bool,
        sources: list,
    ) -> tuple[array, array]:
        """Bring a subscription's membership up to date: ``(added or changed
        rows, removed rows)``.  With ``logged`` the last write is what
        happened since (its log says which rows changed); only the rows it
        touched (and, with IPv6, their pods' other rows) are looked at unless
        ``full`` (the filter itself changed: every row is)."""
        if len(member) < len(self.kind):
            member.extend(bytes(len(self.kind) - len(member)))
        if full:
            candidates: Sequence[int] = range(len(member))
        elif not logged:
            return array("i"), array("i")
        else:
            candidates = list(self.log.rows)
            if ipv6:
                for row in self.log.rows:
                    sibling = ids._pod_sibling(row, S_IPV4)
                    if sibling >= 0 and sibling not in self.log.before:
                        candidates.append(sibling)
        added, removed = array("i"), array("i")
        for row in candidates:
            old = member[row]
            new = self._member(ids, row, kind, arg, host, ipv6)
            if old and not new:
                removed.append(row)
            elif new and (not old or logged and self._changed(row, sources)):
                added.append(row)
            member[row] = new
        return added, removed

    def sources(self, rows: Sequence[int]) -> array:
        """Where ``rows`` come from, four ints a row: (slice number, endpoint,
        address index, port)."""
        return array(
            "i", [v for r in rows for v in (self.src_slice[r], self.src_endpoint[r], self.src_address[r], self.port[r])]
        )

    # -- order -----------------------------------------------------------------

    def sort(self, table: StringTable, rows: Sequence[int]) -> array:
        """``rows`` by (address, port, map order): how selections are listed."""
        return array("i", sorted(rows, key=lambda r: (table[self.address[r]], self.port[r], self.order[r])))

    def map_order(self) -> array:
        """Every held row in map order (the order a snapshot lists them)."""
        return array("i", sorted(self.rows(), key=self.order.__getitem__))
