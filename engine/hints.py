"""The hints the EndpointSlice controller writes on a service's slices.

Three modes (SEMANTICS section 4):

- ``auto``: the topology annotation says ``Auto``/``auto``.  Endpoints are
  shared out between zones in proportion to the allocatable CPU of ready
  worker nodes, with at most 20% overload per zone, or no hints at all when
  that cannot be done safely.
- ``prefer-same-zone`` / ``prefer-same-node``: a valid ``trafficDistribution``
  and no ``Auto`` annotation.  Every ready endpoint is hinted to its own zone
  (and, for PreferSameNode, its own node); no capacity maths.
- ``none``: every hint is removed.

The controller works per address type and sorts a service's slices into
those it rewrites anyway (created or updated for other reasons) and those it
would leave alone; an untouched slice keeps recorded hints that are still
valid.  ``reconcile`` takes that split explicitly; ``compute_hints`` answers
the two questions a caller asks of a recorded cluster: "what would a full
rewrite produce" and "what would a resync of these very slices leave".

"Ready" here is the controller's reading: the condition must be explicitly
true.  An unset condition counts as not ready, unlike the routing policies'
reading (``Endpoint.is_ready``).

Where the controller iterates Go maps the order is random; every such place
below says which order we use and why the results do not depend on it, or
which of the equally valid upstream outcomes we pick.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Optional

import attrs

from .errors import ArgumentError
from .events import Endpoint, NodeUpserted, ServiceUpserted, SliceUpserted

OVERLOAD_THRESHOLD = 0.2
# The controller multiplies by this factor rather than dividing by 1.2; doing
# the same keeps our floats equal to its floats bit for bit.
_MINIMUM_FACTOR = 1 / (1 + OVERLOAD_THRESHOLD)

MODES = ("auto", "prefer-same-zone", "prefer-same-node", "none")
# PreferClose is the deprecated spelling of PreferSameZone.
_MODE_ALIASES = {"prefer-close": "prefer-same-zone"}
# The modes a person names, in `hints --mode` and as `whatif` scenarios.
MODE_NAMES = ("auto", "prefer-same-zone", "prefer-close", "prefer-same-node")
_TRAFFIC_DISTRIBUTION_MODES = {
    "PreferClose": "prefer-same-zone",
    "PreferSameZone": "prefer-same-zone",
    "PreferSameNode": "prefer-same-node",
}

# Why no hints were written: stable codes (the CLI and fixtures use them) and
# what each means.  The first five match the controller's
# TopologyAwareHintsDisabled events.
REASONS = {
    "insufficient-node-info": "insufficient node information: a ready worker node has no zone or no "
    "allocatable CPU, or fewer than two zones have ready worker nodes",
    "nodes-in-one-zone": "ready worker nodes are in one zone only",
    "insufficient-endpoints": "fewer ready endpoints than zones",
    "minimum-exceeds-threshold": "the per-zone minimums needed to stay under the overload threshold "
    "add up to more than the ready endpoints",
    "no-zone-on-endpoint": "a ready endpoint has no zone",
    "not-requested": "neither the topology annotation nor trafficDistribution asks for hints",
    "nothing-to-hint": "no ready endpoint has a zone (or, for PreferSameNode, a node) to hint",
    "no-slices": "the service has no endpoint slices",
}

Hint = tuple[tuple[str, ...], tuple[str, ...]]  # (for_zones, for_nodes)
FROM_NODES = object()  # compute_hints: work the zone ratios out from the nodes given
_NO_HINT: Hint = ((), ())


@attrs.frozen(slots=True)
class Allocation:
    """How many endpoints one zone should get for ``n`` ready endpoints."""

    minimum: int
    maximum: int
    desired: float


@attrs.frozen(slots=True)
class AddressTypeHints:
    """The controller's outcome for the slices of one address type."""

    address_type: str
    written: bool
    reason: Optional[str]  # a REASONS key when nothing was written
    zones: dict[str, int]  # ready endpoints hinted to each zone
    allocations: dict[str, Allocation]  # empty unless mode "auto" got that far
    hints: dict[tuple[str, int], Hint]  # (slice key, endpoint index) -> hint, every endpoint
    updated: tuple[str, ...]  # keys of the slices the controller writes


@attrs.frozen(slots=True)
class ServiceHints:
    """The hints for every endpoint of one service, all address types."""

    service: str
    mode: str
    written: bool  # true when every address type got hints
    reason: Optional[str]  # the first address type's reason, in name order
    zones: dict[str, int]  # summed over address types
    hints: dict[tuple[str, int], Hint]
    by_address_type: dict[str, AddressTypeHints]

    @property
    def message(self) -> Optional[str]:
        return None if self.reason is None else REASONS[self.reason]


# ---------------------------------------------------------------------------
# Capacity


def zone_ratios(nodes: Iterable[NodeUpserted]) -> Optional[dict[str, float]]:
    """Each zone's share of the allocatable CPU of ready worker nodes.

    ``None`` means insufficient node information, which disables ``auto``
    hints for every service: a counted node without zone or CPU, no CPU at
    all, or fewer than two zones.
    """
    cpu_by_zone: dict[str, int] = defaultdict(int)
    for node in nodes:
        if node.control_plane or not node.ready:
            continue
        if not node.zone or node.cpu_millis == 0:
            return None
        cpu_by_zone[node.zone] += node.cpu_millis
    total = sum(cpu_by_zone.values())
    if total == 0 or len(cpu_by_zone) < 2:
        return None
    return {zone: cpu / total for zone, cpu in sorted(cpu_by_zone.items())}


def allocations(
    ratios: Optional[Mapping[str, float]], n_endpoints: int
) -> tuple[Optional[dict[str, Allocation]], Optional[str]]:
    """Per-zone allocations for ``n_endpoints`` ready endpoints, or the reason there are none."""
    if ratios is None:
        return None, "insufficient-node-info"
    if len(ratios) < 2:
        return None, "nodes-in-one-zone"
    if len(ratios) > n_endpoints:
        return None, "insufficient-endpoints"
    minimums: dict[str, int] = {}
    desired: dict[str, float] = {}
    # The controller stops at the first zone whose minimum overdraws the
    # endpoints; since every minimum is positive, that happens in some order
    # exactly when the total overdraws, so zone order does not matter.
    for zone, ratio in sorted(ratios.items()):
        share = ratio * n_endpoints
        minimums[zone] = math.ceil(share * _MINIMUM_FACTOR)
        desired[zone] = max(share, float(minimums[zone]))
    spare = n_endpoints - sum(minimums.values())
    if spare < 0:
        return None, "minimum-exceeds-threshold"
    return {zone: Allocation(minimum, minimum + spare, desired[zone]) for zone, minimum in minimums.items()}, None


def giving_and_receiving(
    desired: Mapping[str, float], allocated: Mapping[str, int]
) -> tuple[dict[str, int], dict[str, int]]:
    """How many whole endpoints each zone gives away and each zone receives.

    One endpoint at a time moves from the zone with the largest surplus to the
    zone with the largest shortfall, until both are below one or either is
    below one half.  Zones outside ``desired`` take no part.
    """
    surplus: dict[str, float] = {}
    shortfall: dict[str, float] = {}
    for zone, target in desired.items():
        have = float(allocated.get(zone, 0))
        if have > target:
            surplus[zone] = have - target
        elif have < target:
            shortfall[zone] = target - have
    giving: dict[str, int] = defaultdict(int)
    receiving: dict[str, int] = defaultdict(int)
    while True:
        giver = _largest(surplus)
        receiver = _largest(shortfall)
        if giver is None or receiver is None:
            break
        to_give, to_receive = surplus[giver], shortfall[receiver]
        if (to_give < 1.0 and to_receive < 1.0) or to_give < 0.5 or to_receive < 0.5:
            break
        giving[giver] += 1
        surplus[giver] -= 1
        receiving[receiver] += 1
        shortfall[receiver] -= 1
    return dict(giving), dict(receiving)


def _largest(amounts: Mapping[str, float]) -> Optional[str]:
    """The zone with the largest positive amount; ties go to the first zone by name.

    The controller breaks ties by Go map order, i.e. at random, so when two
    zones tie and only one endpoint moves, which of them gives (or receives)
    varies from run to run upstream.  Name order makes ours repeatable.
    """
    best, best_amount = None, 0.0
    for zone in sorted(amounts):
        if amounts[zone] > best_amount:
            best, best_amount = zone, amounts[zone]
    return best


def redistribute(
    endpoints: Sequence[Endpoint], giving: Mapping[str, int], receiving: Mapping[str, int]
) -> tuple[dict[int, str], dict[str, int]]:
    """Re-hint endpoints of giving zones to receiving zones, in endpoint order.

    Returns the moves (endpoint index -> zone it is now hinted to) and the
    change in endpoints per zone.  Each ready endpoint whose own zone still
    has some to give goes to a receiving zone that still needs some; the
    controller takes that zone in Go map order (at random), we take the first
    by name.
    """
    giving = {zone: count for zone, count in giving.items() if count > 0}
    receiving = {zone: count for zone, count in receiving.items() if count > 0}
    moves: dict[int, str] = {}
    changes: dict[str, int] = defaultdict(int)
    for index, endpoint in enumerate(endpoints):
        if not giving or not receiving:
            break
        if not _controller_ready(endpoint) or not endpoint.zone or endpoint.zone not in giving:
            continue
        source = endpoint.zone
        target = min(receiving)
        moves[index] = target
        changes[source] -= 1
        changes[target] += 1
        for counts, zone in ((giving, source), (receiving, target)):
            counts[zone] -= 1
            if counts[zone] == 0:
                del counts[zone]
    return moves, dict(changes)


def hints_by_zone(
    endpoints: Sequence[Endpoint], already_allocated: Mapping[str, int], allocations: Mapping[str, Allocation]
) -> Optional[dict[str, int]]:
    """Zone hints a slice's ready endpoints already carry, or ``None`` if the slice must be rewritten.

    A slice must be rewritten when a ready endpoint has no zone hint, hints a
    zone without an allocation, or its hints would push a zone past its
    maximum on top of ``already_allocated``.
    """
    counts: dict[str, int] = defaultdict(int)
    for endpoint in endpoints:
        if not _controller_ready(endpoint):
            continue
        if not endpoint.for_zones:
            return None
        for zone in endpoint.for_zones:
            if zone not in allocations:
                return None
            counts[zone] += 1
    for zone, count in counts.items():
        if count + already_allocated.get(zone, 0) > allocations[zone].maximum:
            return None
    return dict(counts)


def ready_endpoint_count(slices: Iterable[SliceUpserted]) -> int:
    """Endpoints whose ready condition is explicitly true."""
    return sum(1 for s in slices for e in s.endpoints if _controller_ready(e))


def _controller_ready(endpoint: Endpoint) -> bool:
    return endpoint.ready is True


# ---------------------------------------------------------------------------
# One address type


def reconcile(
    mode: str,
    rewrite: Sequence[SliceUpserted],
    unchanged: Sequence[SliceUpserted] = (),
    ratios: Optional[Mapping[str, float]] = None,
) -> AddressTypeHints:
    """The controller's hint pass over the slices of one address type.

    ``rewrite`` are the slices it creates or updates anyway, in that order,
    with the hints they carry at that point (usually none: the controller
    builds changed endpoints afresh).  ``unchanged`` are slices it leaves
    alone unless their hints need fixing.  ``ratios`` (from ``zone_ratios``)
    is read in mode ``auto`` only.
    """
    mode = _canonical_mode(mode)
    address_type = next((s.address_type for s in (*rewrite, *unchanged)), "IPv4")
    if mode == "auto":
        return _reconcile_auto(address_type, ratios, rewrite, unchanged)
    if mode == "none":
        return _removed(address_type, rewrite, unchanged, "not-requested")
    return _reconcile_own_zone(address_type, mode == "prefer-same-node", rewrite, unchanged)


def _reconcile_auto(
    address_type: str,
    ratios: Optional[Mapping[str, float]],
    rewrite: Sequence[SliceUpserted],
    unchanged: Sequence[SliceUpserted],
) -> AddressTypeHints:
    n_ready = ready_endpoint_count(rewrite) + ready_endpoint_count(unchanged)
    allocs, reason = allocations(ratios, n_ready)
    if allocs is None:
        return _removed(address_type, rewrite, unchanged, reason)

    allocated: dict[str, int] = defaultdict(int)
    kept: list[SliceUpserted] = []
    to_fix: list[SliceUpserted] = []
    for s in unchanged:
        counts = hints_by_zone(s.endpoints, allocated, allocs)
        if counts is None:
            to_fix.append(s)
        else:
            kept.append(s)
            for zone, count in counts.items():
                allocated[zone] += count
    writable = [*rewrite, *to_fix]

    # Start from every ready endpoint hinted to its own zone.
    places: list[tuple[str, int]] = []
    flat: list[Endpoint] = []
    zone_of: dict[tuple[str, int], Optional[str]] = {}
    for s in writable:
        for index, endpoint in enumerate(s.endpoints):
            place = (s.key, index)
            places.append(place)
            flat.append(endpoint)
            if not _controller_ready(endpoint):
                zone_of[place] = None
                continue
            if not endpoint.zone:
                return _removed(address_type, rewrite, unchanged, "no-zone-on-endpoint")
            zone_of[place] = endpoint.zone
            allocated[endpoint.zone] += 1

    giving, receiving = giving_and_receiving({z: a.desired for z, a in allocs.items()}, allocated)
    moves, changes = redistribute(flat, giving, receiving)
    for index, zone in moves.items():
        zone_of[places[index]] = zone
    for zone, change in changes.items():
        allocated[zone] += change

    hints = _recorded(kept)
    for place, zone in zone_of.items():
        hints[place] = _NO_HINT if zone is None else ((zone,), ())
    zones = {zone: allocated.get(zone, 0) for zone in sorted({*allocs, *allocated})}
    return AddressTypeHints(
        address_type,
        True,
        None,
        zones,
        dict(allocs),
        _in_slice_order(hints, rewrite, unchanged),
        tuple(s.key for s in writable),
    )


def _reconcile_own_zone(
    address_type: str, same_node: bool, rewrite: Sequence[SliceUpserted], unchanged: Sequence[SliceUpserted]
) -> AddressTypeHints:
    kept: list[SliceUpserted] = []
    to_fix: list[SliceUpserted] = []
    for s in unchanged:
        (kept if _own_zone_hints_correct(s, same_node) else to_fix).append(s)
    writable = [*rewrite, *to_fix]
    hints = _recorded(kept)
    for s in writable:
        for index, endpoint in enumerate(s.endpoints):
            # The controller leaves a not-ready endpoint's hints as they are.
            hints[(s.key, index)] = (
                _own_zone_hint(endpoint, same_node)
                if _controller_ready(endpoint)
                else (endpoint.for_zones, endpoint.for_nodes)
            )
    by_key = {s.key: s for s in (*rewrite, *unchanged)}
    zones: Counter[str] = Counter()
    for (key, index), (for_zones, _) in hints.items():
        if _controller_ready(by_key[key].endpoints[index]):
            zones.update(for_zones)
    written = any(hint != _NO_HINT for hint in hints.values())
    return AddressTypeHints(
        address_type,
        written,
        None if written else "nothing-to-hint",
        dict(sorted(zones.items())),
        {},
        _in_slice_order(hints, rewrite, unchanged),
        tuple(s.key for s in writable),
    )


def _own_zone_hint(endpoint: Endpoint, same_node: bool) -> Hint:
    # A zone or node that is present but empty is still the controller's
    # "present": it hints it as it is.
    for_zones = () if endpoint.zone is None else (endpoint.zone,)
    for_nodes = (endpoint.node_name,) if same_node and endpoint.node_name is not None else ()
    return for_zones, for_nodes


def _own_zone_hints_correct(s: SliceUpserted, same_node: bool) -> bool:
    """Whether every ready endpoint of a slice already carries exactly its own-zone hint."""
    return all(
        (endpoint.for_zones, endpoint.for_nodes) == _own_zone_hint(endpoint, same_node)
        for endpoint in s.endpoints
        if _controller_ready(endpoint)
    )


def _removed(
    address_type: str, rewrite: Sequence[SliceUpserted], unchanged: Sequence[SliceUpserted], reason: str
) -> AddressTypeHints:
    """No hints anywhere; an untouched slice is written only if it carried some."""
    hints = {(s.key, i): _NO_HINT for s in (*rewrite, *unchanged) for i in range(len(s.endpoints))}
    carrying = [s.key for s in unchanged if any(e.for_zones or e.for_nodes for e in s.endpoints)]
    return AddressTypeHints(address_type, False, reason, {}, {}, hints, (*(s.key for s in rewrite), *carrying))


def _recorded(slices: Iterable[SliceUpserted]) -> dict[tuple[str, int], Hint]:
    return {(s.key, i): (e.for_zones, e.for_nodes) for s in slices for i, e in enumerate(s.endpoints)}


def _in_slice_order(
    hints: Mapping[tuple[str, int], Hint], rewrite: Sequence[SliceUpserted], unchanged: Sequence[SliceUpserted]
) -> dict[tuple[str, int], Hint]:
    return {(s.key, i): hints[(s.key, i)] for s in (*rewrite, *unchanged) for i in range(len(s.endpoints))}


# ---------------------------------------------------------------------------
# A service


def mode_for(service: Optional[ServiceUpserted]) -> str:
    """The hint mode a Service asks for: the ``Auto`` annotation wins over the field.

    PreferSameZone and PreferSameNode count as valid, as with the
    controller's PreferSameTrafficDistribution option on (the default since
    Kubernetes 1.34); any other field value means no hints.
    """
    if service is None:
        return "none"
    if service.topology_mode in ("Auto", "auto"):
        return "auto"
    return _TRAFFIC_DISTRIBUTION_MODES.get(service.traffic_distribution or "", "none")


def compute_hints(
    service: Optional[ServiceUpserted],
    slices: Sequence[SliceUpserted],
    nodes: Iterable[NodeUpserted],
    mode: Optional[str] = None,
    keep_recorded: bool = False,
    service_key: Optional[str] = None,
    ratios: object = FROM_NODES,
) -> ServiceHints:
    """The hints the controller writes for ``slices`` (all of one service).

    ``mode`` overrides what the Service asks for (``mode_for``); ``prefer-close``
    is accepted for ``prefer-same-zone``.  With ``keep_recorded`` false every
    slice is rewritten from endpoints without hints, which is what the
    controller produces when it rebuilds them; with it true the slices are
    the controller's untouched ones, so recorded hints that are still valid
    stay, as after a resync with no endpoint change.

    Slices are taken in key order: the controller's own order comes from Go
    maps and informer listings, so no order is more faithful than another.

    ``ratios`` is ``zone_ratios(nodes)`` when the caller has it already (one
    set of nodes for many services); ``nodes`` is then not read.
    """
    mode = mode_for(service) if mode is None else _canonical_mode(mode)
    key = service.key if service is not None else service_key or ""
    if mode != "auto":
        ratios = None
    elif ratios is FROM_NODES:
        ratios = zone_ratios(nodes)
    by_type: dict[str, list[SliceUpserted]] = defaultdict(list)
    for s in sorted(slices, key=lambda s: s.key):
        by_type[s.address_type].append(s)

    results: dict[str, AddressTypeHints] = {}
    for address_type in sorted(by_type):
        group = by_type[address_type]
        if keep_recorded:
            results[address_type] = reconcile(mode, (), group, ratios)
        else:
            results[address_type] = reconcile(mode, [_without_hints(s) for s in group], (), ratios)

    if not results:
        return ServiceHints(key, mode, False, "no-slices", {}, {}, {})
    zones: Counter[str] = Counter()
    hints: dict[tuple[str, int], Hint] = {}
    for result in results.values():
        zones.update(result.zones)
        hints.update(result.hints)
    reason = next((r.reason for r in results.values() if r.reason is not None), None)
    return ServiceHints(
        key, mode, all(r.written for r in results.values()), reason, dict(sorted(zones.items())), hints, results
    )


def _without_hints(s: SliceUpserted) -> SliceUpserted:
    if not any(e.for_zones or e.for_nodes for e in s.endpoints):
        return s  # nothing to remove: no copy
    return attrs.evolve(
        s,
        endpoints=tuple(
            attrs.evolve(e, for_zones=(), for_nodes=()) if e.for_zones or e.for_nodes else e for e in s.endpoints
        ),
    )


def _canonical_mode(mode: str) -> str:
    mode = _MODE_ALIASES.get(mode, mode)
    if mode not in MODES:
        raise ArgumentError(
            f"unknown hint mode {mode!r} (expected one of {', '.join(MODES)} or prefer-close)", argument="mode"
        )
    return mode
