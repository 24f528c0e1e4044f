"""What-if analysis: where a service's requests go, under the recorded hints
and under scenarios computed on a copy of the cluster state.

Traffic model
=============

*Clients.*  Requests come from client sites, each a node (or, failing that,
a zone) with a share of all requests; the shares add up to 1.

- ``clients="service:NS/NAME"``: every ready endpoint of that service is one
  client on its node (``ready`` not explicitly false, as Linkerd reads it).
  Its zone is its node's zone label, else the endpoint's own zone.
- ``clients="cpu"`` (and ``None``, the default): every Ready worker node
  (not control-plane) weighted by its allocatable CPU, the capacity the
  ``Auto`` hint allocator assumes traffic follows.
- ``clients={"zone-a": 60, "zone-b": 30}``: explicit per-zone weights.  A
  weight says how much a zone sends, not how its nodes split it, so it is
  divided evenly over the zone's Ready worker nodes.  Clients sit on nodes
  (not at one zone-wide point) because ``internalTrafficPolicy: Local`` and
  node hints select per node.  A zone with no such node gets one
  representative client that has a zone and no node (it then receives what
  an unknown node receives: nothing under ITP Local, no node hints).

*Requests.*  Each client spreads its requests evenly over the endpoints its
policy selects for it (``Engine.endpoints`` from its node).  This is the
model's main simplification: Linkerd's balancer is load-aware (EWMA of
latency over a power-of-two-choices pick), so a real client leans away from a
slow or busy endpoint within its selected set; kube-proxy picks at random per
connection, closer to this model.  The model therefore says what the
*selection* allows, not the load a latency-aware balancer ends up with, and
it ignores request cost differences, connection reuse and retries.  A client
whose selection is empty sends requests that fail (``unserved``).

*Results*, as shares of all requests:

- ``matrix[from][to]``: requests from clients in zone ``from`` served by
  endpoints in zone ``to`` (a row sums to that zone's client share, less what
  went unserved).  An endpoint's zone is its slice ``zone``, else its node's.
- ``cross_zone_share``: the off-diagonal sum.  Traffic to or from an unknown
  zone ("") counts as crossing: nothing shows it stays.
- ``load`` of an endpoint: its requests divided by an even share (served
  requests / candidate endpoints); 1.0 = even, 0 = idle.  Candidates are the
  endpoints any client could be given (Linkerd's set with filtering off,
  plus whatever the policy selected).  ``max_overload`` is the largest load.
- A zone is *flooded* when its endpoints' mean load is above 1.2 and
  *starved* when below 0.8 (the Auto allocator's 20% overload threshold).
- Cost, when prices are given: GB moved between each zone pair for
  ``requests`` requests of ``bytes_per_request`` bytes (1 GB = 10^9 bytes),
  times the pair's price.

*Rates.*  With a request rate (requests per second over all clients) and a
mean request latency, every endpoint also carries its ``rps`` (its share of
all requests times the rate) and its requests in flight, ``inflight`` =
rps x latency (Little's law: on average that many requests are under way on
it).  In-flight requests are what HAZL's load band is measured in.

Scenarios
=========

``recorded`` queries the engine as folded from the log.  Every other
scenario builds a fresh engine from the current objects (nodes, services,
slices in write order) with the service's slices changed; the log is never
touched.  A fresh engine sees the slices as a newly started controller does,
so Linkerd's history effects (an identity lost when the slice that gave it is
rewritten) are not carried over.

- ``none``: every hint of the service removed: each client gets every candidate.
- ``auto`` / ``prefer-close`` / ``prefer-same-node``: hints rewritten as the
  EndpointSlice controller writes them in that mode (``engine.hints``).
  ``prefer-same-node`` is evaluated with ``linkerd+nodes`` when the policy is
  ``linkerd`` (Linkerd itself never reads node hints).  When the Auto
  allocator refuses, the hints are removed and the scenario's note says why.
- ``drain:ZONE`` / ``drain-nodes:N1,N2``: the service's endpoints in that
  zone / on those nodes are removed, then hints are recomputed in the
  Service's own mode, as the controller would rewrite them.  Only the
  service's endpoints go: clients and nodes stay (CPU shares unchanged).
- ``scale:N``: N ready endpoints spread over zones in proportion to the
  current ready endpoints per zone (largest remainder; ties to the zone with
  more endpoints, then by name).  A zone keeps its first endpoints and gains
  copies placed round-robin on the nodes of its existing ones; not-ready
  endpoints are dropped.  Hints are recomputed in the Service's own mode.
  ``internalTrafficPolicy`` stays as recorded in every scenario.
- ``hazl`` / ``hazl:LOW,HIGH``: Buoyant's High Availability Zonal Load
  balancing, modelled plainly (its exact algorithm is not public; see
  HAZL below).  Needs a request rate and latency; the default scenarios
  with a rate are recorded, none, auto and hazl.

HAZL
====

HAZL balances inside the Linkerd proxy, so its candidates are what Linkerd
would consider before the zone step: ready endpoints with the port mapped,
hints ignored (filtering off gives exactly that set).  A client that
``internalTrafficPolicy: Local`` governs keeps that rule: its node's
endpoints, no band.  Every other client zone z, with share s of all
requests, n candidates in its zone out of N and demand D = rate x s x
latency (its requests in flight), gets a *pool* of m endpoints' worth:

- n = 0: m = N, its requests spread evenly over every candidate;
- D/n <= HIGH: m = n, it stays local;
- else m = min(N, ceil(D/HIGH)): its n own endpoints plus m - n drawn from
  the other zones' N - n candidates in proportion to their counts (so
  fractions of an endpoint each), its requests spread evenly over the m
  slots: 1/m to each local endpoint, (m - n)/((N - n) m) to each other one.

Along a log (``timeline``) a zone that has spilled (m > n) remembers its
pool from one event to the next and the band adds hysteresis: it keeps m
while LOW <= D/m <= HIGH, grows it to ceil(D/HIGH) when D/m > HIGH and
shrinks it to max(n, floor(D/LOW)) when D/m < LOW, always within n..N.  The
shrink stops at ceil(D/HIGH): in a band narrower than 2:1 floor(D/LOW) can
leave more than HIGH per endpoint (band 4,5 and D = 6: a pool of 2 would
shrink to 1, at 6), and the next event would grow it back.  A zone that is
local (or new) starts from m = n, which gives the rules above (``hazl_pool``
is the one implementation of both).

Assumptions: each zone's demand is static (share x rate x one latency for
every endpoint); its clients act as one balancer spreading evenly over the
pool, where the real one picks per request by latency (power of two
choices over EWMA); and the spill a zone receives from others does not feed
back into its own decision, where HAZL's measured latency would rise with
it.  HAZL also reacts to failures and latency it observes, which this
model does not see.

The timeline folds a log event by event and evaluates the recorded state,
or ``hazl`` with each zone's pool carried along, after every event that
touches the service (its Service or slices, a node that changed, or the
client service); ``engine.timeline`` does it for many services in one pass.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Optional, Union

import attrs

from . import arguments
from . import hints as hint_writer
from .api import Engine
from .errors import ArgumentError, EngineError
from .events import Endpoint, Event, SliceUpserted
from .policies import linkerd
from .values import SelectedEndpoint

DEFAULT_SCENARIOS = ("recorded", "none", "auto")
RATE_SCENARIOS = (*DEFAULT_SCENARIOS, "hazl")  # the default when a request rate is given
# The hint modes are named as ``hints --mode`` names them (prefer-close: the
# deprecated spelling of prefer-same-zone).
_SCENARIO_ARGUMENTS = {"drain": "ZONE", "drain-nodes": "N1,N2", "scale": "N"}
SCENARIO_KINDS = ("recorded", "none", *hint_writer.MODE_NAMES, *_SCENARIO_ARGUMENTS, "hazl")
SCENARIO_NAMES = ", ".join(
    (
        "recorded",
        "none",
        *hint_writer.MODE_NAMES,
        *(f"{kind}:{what}" for kind, what in _SCENARIO_ARGUMENTS.items()),
        "hazl[:LOW,HIGH]",
    )
)
TIMELINE_SCENARIOS = ("recorded", "hazl")  # what a timeline can follow
FLOOD_LOAD = 1 + hint_writer.OVERLOAD_THRESHOLD
STARVE_LOAD = 1 - hint_writer.OVERLOAD_THRESHOLD
BYTES_PER_GB = 10**9
# Loads and demands are sums and products of decimals (1000 rps x 0.6 x 0.01 s);
# a value within this relative margin of a limit counts as on it, so 6.000000000000001
# requests in flight over a limit of 2 still need a pool of 3, and a zone at 1.2000000000000002
# times an even share is not flooded.
_MARGIN = 1e-9

Clients = Union[None, str, Mapping[str, float]]
Prices = Union[None, float, Mapping[tuple[str, str], float]]


# ---------------------------------------------------------------------------
# Values


@attrs.frozen(slots=True)
class ClientSite:
    """One place requests come from: a node (or only a zone) and its share."""

    node: Optional[str]
    zone: str  # "" when unknown
    share: float


def _finite_at_least_zero(what: str):
    def check(instance, attribute, value) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ArgumentError(f"{what}: must be a finite number of 0 or more, not {value!r}", argument=attribute.name)

    return check


@attrs.frozen(slots=True)
class Rate:
    """How much traffic there is: what turns shares of requests into requests in flight."""

    rps: float = attrs.field(validator=_finite_at_least_zero("request rate"))  # over all clients
    latency: float = attrs.field(validator=_finite_at_least_zero("request rate"))  # mean seconds per request

    def inflight(self, share: float) -> float:
        """Requests under way, on average, for ``share`` of all requests (Little's law)."""
        return self.rps * share * self.latency


@attrs.frozen(slots=True)
class Band:
    """HAZL's load band, in requests in flight per endpoint (Buoyant's defaults)."""

    low: float = attrs.field(default=0.8, validator=_finite_at_least_zero("hazl band"))
    high: float = attrs.field(default=2.0, validator=_finite_at_least_zero("hazl band"))

    def __attrs_post_init__(self) -> None:
        if not self.high > 0 or self.low > self.high:
            raise ArgumentError(f"hazl band {self.low:g},{self.high:g}: expected 0 <= LOW <= HIGH and HIGH > 0")


@attrs.frozen(slots=True)
class ZonePool:
    """What HAZL gives one client zone: its pool of ``pool`` endpoints' worth."""

    zone: str
    inflight: float  # the zone's demand: requests in flight from its clients
    local: int  # candidates in the zone
    pool: int  # endpoints' worth its requests spread over, the local ones first

    @property
    def spilled(self) -> bool:
        return self.pool > self.local

    def to_json(self) -> dict:
        return {"inflight": round(self.inflight, 6), "local": self.local, "pool": self.pool}


@attrs.frozen(slots=True)
class EndpointLoad:
    address: str
    port: int
    zone: str
    node: Optional[str]
    traffic: float  # share of all requests
    load: float  # traffic / even share
    rps: Optional[float] = None  # with a request rate: traffic x rps
    inflight: Optional[float] = None  # rps x latency

    def to_json(self) -> dict:
        out = {"address": self.address, "zone": self.zone, "load": round(self.load, 6)}
        if self.rps is not None:
            out.update(rps=round(self.rps, 6), inflight=round(self.inflight, 6))
        return out


@attrs.frozen(slots=True)
class Cost:
    requests: int
    bytes_per_request: float
    cross_zone_gb: float
    amount: float

    def to_json(self) -> dict:
        return {
            "requests": self.requests,
            "bytes_per_request": self.bytes_per_request,
            "cross_zone_gb": round(self.cross_zone_gb, 9),
            "amount": round(self.amount, 9),
        }


@attrs.frozen(slots=True)
class ScenarioResult:
    name: str
    policy: str
    cross_zone_share: float
    unserved_share: float
    max_overload: float
    matrix: dict[str, dict[str, float]]
    endpoints: tuple[EndpointLoad, ...]
    flooded: tuple[str, ...]
    starved: tuple[str, ...]
    note: str = ""
    cost: Optional[Cost] = None
    band: Optional[Band] = None  # hazl: the band and each client zone's pool
    pools: tuple[ZonePool, ...] = ()

    def to_json(self) -> dict:
        out = {
            "name": self.name,
            "policy": self.policy,
            "cross_zone_share": round(self.cross_zone_share, 6),
            "max_overload": round(self.max_overload, 6),
            "matrix": {f: {t: round(v, 6) for t, v in row.items()} for f, row in self.matrix.items()},
            "endpoints": [e.to_json() for e in self.endpoints],
        }
        if self.cost is not None:
            out["cost"] = self.cost.to_json()
        if self.band is not None:
            out["hazl"] = {
                "low": self.band.low,
                "high": self.band.high,
                "zones": {p.zone: p.to_json() for p in self.pools},
            }
        return out


@attrs.frozen(slots=True)
class WhatIfReport:
    service: str
    port: int
    clients_basis: str  # how the client shares were found
    clients: dict[str, float]  # zone -> share of all requests
    scenarios: tuple[ScenarioResult, ...]
    rate: Optional[Rate] = None

    def to_json(self) -> dict:
        out = {
            "service": self.service,
            "clients": {zone: round(share, 6) for zone, share in self.clients.items()},
            "scenarios": [s.to_json() for s in self.scenarios],
        }
        if self.rate is not None:
            out.update(rps=self.rate.rps, latency=self.rate.latency)
        return out


# ---------------------------------------------------------------------------
# Parsing what people type


def parse_clients(text: str) -> Clients:
    """``cpu``, ``service:NS/NAME`` or ``zone-a=60,zone-b=30``."""
    text = text.strip()
    if text == "cpu" or text.startswith("service:"):
        return text
    weights: dict[str, float] = {}
    for part in text.split(","):
        zone, sep, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not sep or not zone.strip() or not math.isfinite(weight) or weight < 0:
            raise ArgumentError(
                f"{part!r} is not ZONE=WEIGHT (expected cpu, service:NS/NAME or zone-a=60,zone-b=40)",
                argument="clients",
            )
        weights[zone.strip()] = weight
    return weights


def parse_prices(text: str) -> Prices:
    """``0.01`` (every cross-zone pair) or ``zone-a:zone-b=0.01,...`` (per pair)."""
    try:
        return float(text)
    except ValueError:
        pass
    prices: dict[tuple[str, str], float] = {}
    for part in text.split(","):
        pair, sep, value = part.partition("=")
        source, colon, target = pair.partition(":")
        try:
            price = float(value)
        except ValueError:
            price = -1.0
        if not sep or not colon or price < 0:
            raise ArgumentError(f"{part!r} is not FROM:TO=PRICE or a single price per GB", argument="price_per_gb")
        prices[(source.strip(), target.strip())] = price
    return prices


@attrs.frozen(slots=True)
class Scenario:
    kind: str
    argument: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.kind if not self.argument else f"{self.kind}:{','.join(self.argument)}"


def parse_scenario(text: str) -> Scenario:
    kind, sep, rest = text.partition(":")
    if kind not in SCENARIO_KINDS:
        raise ArgumentError(f"{text!r}: unknown (known: {SCENARIO_NAMES})", argument="scenario")
    if kind == "hazl":
        return _parse_hazl(text, sep, rest)
    takes_argument = kind in _SCENARIO_ARGUMENTS
    if takes_argument != bool(sep):
        raise ArgumentError(
            f"{text!r}: {kind} " + ("needs an argument after ':'" if takes_argument else "takes no argument"),
            argument="scenario",
        )
    if not takes_argument:
        return Scenario(kind)
    argument = tuple(part.strip() for part in rest.split(",") if part.strip())
    if not argument or (kind != "drain-nodes" and len(argument) != 1):
        raise ArgumentError(f"{text!r}: expected {kind}:{_SCENARIO_ARGUMENTS[kind]}", argument="scenario")
    if kind == "scale" and not (argument[0].isdigit() and int(argument[0]) > 0):
        raise ArgumentError(f"{text!r}: the endpoint count must be a positive integer", argument="scenario")
    return Scenario(kind, argument)


def _parse_hazl(text: str, sep: str, rest: str) -> Scenario:
    """``hazl`` (the default band) or ``hazl:LOW,HIGH``; the band is checked here."""
    if not sep:
        return Scenario("hazl")
    argument = tuple(part.strip() for part in rest.split(","))
    try:
        low, high = (float(part) for part in argument)
    except ValueError:
        raise ArgumentError(
            f"{text!r}: expected hazl:LOW,HIGH, two numbers (default 0.8,2.0)", argument="scenario"
        ) from None
    try:
        Band(low, high)
    except ArgumentError as exc:
        raise ArgumentError(f"{text!r}: {exc}", argument="scenario") from None
    return Scenario("hazl", argument)


def band_of(scenario: Scenario) -> Band:
    """The load band a ``hazl`` scenario names."""
    return Band(*(float(part) for part in scenario.argument))


# ---------------------------------------------------------------------------
# Clients


def client_sites(engine: Engine, clients: Clients = None) -> tuple[str, list[ClientSite]]:
    """Where requests come from, with shares adding up to 1; and a description."""
    state = engine.state
    weights: dict[tuple[Optional[str], str], float] = defaultdict(float)
    if clients is None or clients == "cpu":
        basis = "allocatable CPU of Ready worker nodes"
        for node in state.nodes.values():
            if node.ready and not node.control_plane:
                weights[(node.name, node.zone or "")] += node.cpu_millis
    elif isinstance(clients, str):
        if not clients.startswith("service:"):
            raise ArgumentError(f"{clients!r}: expected cpu, service:NS/NAME or zone weights", argument="clients")
        source = clients[len("service:") :]
        if source not in state.service_keys():
            raise arguments.unknown_name("service", source, state.service_keys(), argument="clients")
        basis = f"ready endpoints of {source}"
        seen: set = set()
        for es in state.slices_of(source):
            for endpoint in es.endpoints:
                identity = endpoint.target or (endpoint.addresses[:1], endpoint.node_name)
                if not endpoint.is_ready or identity in seen:
                    continue  # a pod listed in two slices (two address types) is one client
                seen.add(identity)
                zone = state.node_zone(endpoint.node_name) or endpoint.zone or ""
                weights[(endpoint.node_name, zone)] += 1
    else:
        basis = "explicit zone weights"
        for zone, weight in clients.items():
            if weight < 0:
                raise ArgumentError(f"zone {zone} has a negative weight", argument="clients")
            if zone not in engine.zones():
                raise arguments.unknown_name("zone", zone, engine.zones(), argument="clients")
            nodes = sorted(n.name for n in state.nodes.values() if n.zone == zone and n.ready and not n.control_plane)
            # A zone without a schedulable node still has its clients: one place, no node.
            places: list[Optional[str]] = [*nodes] or [None]
            for name in places:
                weights[(name, zone)] += weight / max(len(nodes), 1)
    total = sum(weights.values())
    if total <= 0:
        return basis, []
    sites = [ClientSite(node, zone, w / total) for (node, zone), w in sorted(weights.items(), key=_site_order) if w > 0]
    return basis, sites


def _site_order(item) -> tuple:
    (node, zone), _ = item
    return zone, node or ""


def _zone_shares(sites: Iterable[ClientSite]) -> dict[str, float]:
    shares: dict[str, float] = defaultdict(float)
    for site in sites:
        shares[site.zone] += site.share
    return dict(sorted(shares.items()))


class SiteGroups(Sequence[ClientSite]):
    """Client sites, grouped once so that ``alike`` can merge them for any service.

    The policies read a client's node only to compare it with the nodes the
    service's endpoints name: their ``nodeName`` under
    ``internalTrafficPolicy: Local``, their node hints otherwise.  Clients on
    the other nodes of one zone get the same answer, so for each service they
    are one site (on the first of those nodes): a 5,000-node cluster asks a
    few questions per zone instead of 5,000, and merging costs time in
    proportion to the nodes a service names, not to the sites.  As a
    sequence it is the sites themselves.
    """

    def __init__(self, engine: Engine, sites: Sequence[ClientSite]):
        self.sites = tuple(sites)
        state = engine.state
        # (site zone, the zone the policy reads: the node's label, a site without a node)
        self._groups: dict[tuple, list[int]] = {}
        self._totals: dict[tuple, float] = defaultdict(float)
        self._by_node: dict[str, list[tuple[int, tuple]]] = defaultdict(list)
        for position, site in enumerate(self.sites):
            key = (site.zone, site.zone if site.node is None else state.node_zone(site.node), site.node is None)
            self._groups.setdefault(key, []).append(position)
            self._totals[key] += site.share
            if site.node is not None:
                self._by_node[site.node].append((position, key))
        self.zones = sorted({site.zone for site in self.sites})

    def __len__(self) -> int:
        return len(self.sites)

    def __getitem__(self, index):
        return self.sites[index]

    def alike(self, engine: Engine, service: str) -> list[ClientSite]:
        """The sites ``service``'s rules can tell apart, shares of the others added up."""
        state = engine.state
        svc = state.services.get(service)
        local = svc is None or svc.internal_traffic_policy == "Local"  # a Service gone may still be Local for Linkerd
        named: set = set()
        for es in state.slices_of(service):
            for e in es.endpoints:
                named.update(e.for_nodes)
                if local and e.node_name is not None:
                    named.add(e.node_name)
        apart = sorted(found for node in named for found in self._by_node.get(node, ()))
        taken: dict[tuple, float] = defaultdict(float)
        counted: dict[tuple, int] = defaultdict(int)
        chosen: list[tuple[int, ClientSite]] = []
        for position, key in apart:
            chosen.append((position, self.sites[position]))
            taken[key] += self.sites[position].share
            counted[key] += 1
        for key, positions in self._groups.items():
            if counted[key] == len(positions):
                continue
            first = next(p for p in positions if self.sites[p].node not in named)
            site = self.sites[first]
            chosen.append((first, ClientSite(site.node, site.zone, self._totals[key] - taken[key])))
        chosen.sort(key=lambda item: item[0])
        return [site for _, site in chosen]


# ---------------------------------------------------------------------------
# The model


# A client's requests as (endpoint, fraction of them) pairs, the fractions
# adding up to 1; empty when the client is given nothing.
Spread = Callable[[ClientSite], Sequence[tuple[SelectedEndpoint, float]]]


def evaluate(
    engine: Engine,
    service: str,
    port: int,
    sites: Sequence[ClientSite],
    policy: str,
    name: str = "recorded",
    note: str = "",
    prices: Prices = None,
    bytes_per_request: Optional[float] = None,
    requests: int = 1_000_000,
    *,
    rate: Optional[Rate] = None,
    spread: Optional[Spread] = None,
    protocol: str = "TCP",
) -> ScenarioResult:
    """Send every client's requests where ``spread`` says: by default evenly
    over what ``policy`` selects for it (for ``protocol``, as the policy
    matches it), the sites merged where the policy cannot tell them apart
    (``SiteGroups``; pass one when many services or scenarios share the
    sites).  The candidates, the denominator of each load, are Linkerd's set
    with filtering off, which matches the port by number alone."""
    state = engine.state
    groups = sites if isinstance(sites, SiteGroups) else SiteGroups(engine, sites)
    if spread is None:
        spread = even_spread(engine, service, port, policy, protocol)
        sites = groups.alike(engine, service)
    universe: dict[tuple[str, int], SelectedEndpoint] = {
        (e.address, e.port): e for e in engine.endpoints(service, port, filtering=False, strict=False).endpoints
    }
    traffic: dict[tuple[str, int], float] = defaultdict(float)
    flows: dict[tuple[str, str], float] = defaultdict(float)
    unserved = 0.0
    for site in sites:
        parts = spread(site)
        if not parts:
            unserved += site.share
            continue
        for e, fraction in parts:
            key = (e.address, e.port)
            universe.setdefault(key, e)
            traffic[key] += site.share * fraction
            flows[(site.zone, _endpoint_zone(e, state))] += site.share * fraction

    served = 1.0 - unserved if sites else 0.0
    even = served / len(universe) if universe else 0.0
    loads = tuple(
        _endpoint_load(e, _endpoint_zone(e, state), traffic.get(key, 0.0), even, rate)
        for key, e in sorted(universe.items(), key=lambda kv: (_endpoint_zone(kv[1], state), kv[0]))
    )
    client_zones = groups.zones
    endpoint_zones = sorted({e.zone for e in loads} | {t for _, t in flows})
    matrix = {f: {t: flows.get((f, t), 0.0) for t in endpoint_zones} for f in client_zones}
    cross = sum(share for (f, t), share in flows.items() if _crosses(f, t))
    flooded, starved = _zone_extremes(loads)
    cost = _cost(flows, prices, bytes_per_request, requests) if prices is not None else None
    return ScenarioResult(
        name=name,
        policy=policy,
        cross_zone_share=cross,
        unserved_share=unserved,
        max_overload=max((e.load for e in loads), default=0.0),
        matrix=matrix,
        endpoints=loads,
        flooded=flooded,
        starved=starved,
        note=note,
        cost=cost,
    )


def even_spread(engine: Engine, service: str, port: int, policy: str, protocol: str = "TCP") -> Spread:
    """Each client's requests spread evenly over what ``policy`` selects for it."""

    def spread(site: ClientSite) -> Sequence[tuple[SelectedEndpoint, float]]:
        return _evenly(
            engine.endpoints(
                service, port, node=site.node, zone=site.zone or None, policy=policy, protocol=protocol, strict=False
            ).endpoints
        )

    return spread


def zone_rules(
    engine: Engine, service: str, port: int, sites: Sequence[ClientSite], policy: str
) -> dict[str, dict[str, float]]:
    """The rule that decides for each client zone: zone -> rule -> share of all requests."""
    groups = sites if isinstance(sites, SiteGroups) else SiteGroups(engine, sites)
    found: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for site in groups.alike(engine, service):
        selection = engine.endpoints(service, port, node=site.node, zone=site.zone or None, policy=policy, strict=False)
        found[site.zone][selection.rule] += site.share
    return {zone: dict(sorted(rules.items())) for zone, rules in sorted(found.items())}


def _evenly(chosen: Sequence[SelectedEndpoint]) -> list[tuple[SelectedEndpoint, float]]:
    return [(e, 1 / len(chosen)) for e in chosen]


def _endpoint_load(e: SelectedEndpoint, zone: str, traffic: float, even: float, rate: Optional[Rate]) -> EndpointLoad:
    load = traffic / even if even > 0 else 0.0
    if rate is None:
        return EndpointLoad(e.address, e.port, zone, e.node, traffic, load)
    return EndpointLoad(
        e.address, e.port, zone, e.node, traffic, load, rps=traffic * rate.rps, inflight=rate.inflight(traffic)
    )


def _endpoint_zone(e: SelectedEndpoint, state) -> str:
    return e.zone or state.node_zone(e.node) or ""


def _crosses(source: str, target: str) -> bool:
    return source != target or source == ""


def _zone_extremes(loads: Sequence[EndpointLoad]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    by_zone: dict[str, list[float]] = defaultdict(list)
    for e in loads:
        by_zone[e.zone].append(e.load)
    if not any(e.traffic for e in loads):
        return (), ()
    mean = {zone: sum(values) / len(values) for zone, values in sorted(by_zone.items())}
    return (
        tuple(z for z, m in mean.items() if m > FLOOD_LOAD * (1 + _MARGIN)),
        tuple(z for z, m in mean.items() if m < STARVE_LOAD * (1 - _MARGIN)),
    )


def _cost(
    flows: Mapping[tuple[str, str], float], prices: Prices, bytes_per_request: Optional[float], requests: int
) -> Cost:
    if bytes_per_request is None or bytes_per_request < 0:
        raise ArgumentError("a price needs a non-negative bytes_per_request", argument="bytes_per_request")
    gb_per_share = requests * bytes_per_request / BYTES_PER_GB
    amount = 0.0
    cross_gb = 0.0
    for (source, target), share in flows.items():
        gb = share * gb_per_share
        if _crosses(source, target):
            cross_gb += gb
        if isinstance(prices, Mapping):
            # Providers price most zone pairs symmetrically: a pair given one way serves both.
            price = prices.get((source, target), prices.get((target, source), 0.0))
        else:
            price = float(prices) if _crosses(source, target) else 0.0
        amount += gb * price
    return Cost(requests, bytes_per_request, cross_gb, amount)


# ---------------------------------------------------------------------------
# HAZL


def hazl_pool(inflight: float, local: int, total: int, band: Band, previous: Optional[int] = None) -> int:
    """How many endpoints' worth a client zone's requests spread over.

    ``inflight`` is the zone's demand, ``local`` of the ``total`` candidates
    are in the zone, ``previous`` is the pool the zone had spilled to at the
    last decision (None: it was local, or is new).  See HAZL in the module
    documentation for the rules.
    """
    if local == 0:
        return total  # nothing in the zone: every candidate, evenly
    pool = local if previous is None else min(max(previous, local), total)
    per_endpoint = inflight / pool
    if per_endpoint > band.high * (1 + _MARGIN):
        pool = _fitting_under(inflight, band.high)
    elif per_endpoint < band.low * (1 - _MARGIN):
        # Never below what the top allows: in a band narrower than 2:1 floor(D/LOW)
        # can land above HIGH, and the next decision would grow it straight back.
        pool = max(math.floor(inflight / band.low * (1 + _MARGIN)), _fitting_under(inflight, band.high))
    return min(max(pool, local), total)


def _fitting_under(inflight: float, high: float) -> int:
    """The fewest endpoints that carry ``inflight`` at no more than ``high`` each."""
    return math.ceil(inflight / high * (1 - _MARGIN))


def evaluate_hazl(
    engine: Engine,
    service: str,
    port: int,
    sites: Sequence[ClientSite],
    rate: Rate,
    band: Band = Band(),
    previous: Optional[Mapping[str, int]] = None,
    name: str = "hazl",
    prices: Prices = None,
    bytes_per_request: Optional[float] = None,
    requests: int = 1_000_000,
) -> ScenarioResult:
    """Where requests go under the HAZL model; ``previous`` maps each zone
    that had spilled to its pool then (see ``spilled_pools``)."""
    state = engine.state
    previous = previous or {}
    candidates = engine.endpoints(service, port, filtering=False, strict=False).endpoints
    in_zone: dict[str, list[SelectedEndpoint]] = defaultdict(list)
    for e in candidates:
        in_zone[_endpoint_zone(e, state)].append(e)
    in_zone.pop("", None)  # an endpoint of no known zone is local to nobody

    # internalTrafficPolicy Local decides before any zone logic, and HAZL leaves it be.
    own_rule: dict[ClientSite, Sequence[tuple[SelectedEndpoint, float]]] = {}
    demand: dict[str, float] = defaultdict(float)
    for site in sites:
        selection = engine.endpoints(
            service, port, node=site.node, zone=site.zone or None, policy="linkerd", strict=False
        )
        if selection.rule == linkerd.LOCAL_TRAFFIC_POLICY:
            own_rule[site] = _evenly(selection.endpoints)
        else:
            demand[site.zone] += site.share
    pools: dict[str, ZonePool] = {}
    for zone, share in sorted(demand.items()):
        inflight, local = rate.inflight(share), len(in_zone.get(zone, ()))
        pools[zone] = ZonePool(
            zone, inflight, local, hazl_pool(inflight, local, len(candidates), band, previous.get(zone))
        )
    spreads = {zone: _pool_spread(candidates, in_zone.get(zone, ()), pool.pool) for zone, pool in pools.items()}

    def spread(site: ClientSite) -> Sequence[tuple[SelectedEndpoint, float]]:
        return own_rule[site] if site in own_rule else spreads[site.zone]

    note = f"band {band.low:g}-{band.high:g} in flight per endpoint, hints ignored"
    if own_rule:
        note += "; internalTrafficPolicy Local: clients keep their node's endpoints"
    result = evaluate(
        engine,
        service,
        port,
        sites,
        "linkerd",
        name,
        note,
        prices,
        bytes_per_request,
        requests,
        rate=rate,
        spread=spread,
    )
    return attrs.evolve(result, band=band, pools=tuple(pools.values()))


def _pool_spread(
    candidates: Sequence[SelectedEndpoint], local: Sequence[SelectedEndpoint], pool: int
) -> list[tuple[SelectedEndpoint, float]]:
    """A zone's requests over a pool of ``pool`` slots: one per local endpoint,
    the rest shared evenly by the other candidates."""
    if not pool:
        return []
    own = {(e.address, e.port) for e in local}
    others = len(candidates) - len(own)
    borrowed = (pool - len(own)) / others / pool if others else 0.0
    return [
        (e, 1 / pool if (e.address, e.port) in own else borrowed)
        for e in candidates
        if (e.address, e.port) in own or borrowed
    ]


def spilled_pools(result: ScenarioResult) -> dict[str, int]:
    """The zones a hazl result spilled, with their pools: what the next decision remembers."""
    return {p.zone: p.pool for p in result.pools if p.spilled}


# ---------------------------------------------------------------------------
# Scenarios


def whatif(
    engine: Engine,
    service: str,
    port: int,
    *,
    clients: Clients = None,
    scenarios: Optional[Sequence[Union[str, Scenario]]] = None,
    policy: str = "linkerd",
    price_per_gb: Prices = None,
    bytes_per_request: Optional[float] = None,
    requests: int = 1_000_000,
    rps: Optional[float] = None,
    latency: Optional[float] = None,
    protocol: str = "TCP",
) -> WhatIfReport:
    """Evaluate ``scenarios`` for ``service`` port ``port`` side by side.

    ``rps`` (requests per second over all clients) and ``latency`` (mean
    seconds per request) go together; with them every endpoint carries its
    rate and requests in flight, ``hazl`` can be evaluated, and the default
    scenarios add it (``RATE_SCENARIOS``; else ``DEFAULT_SCENARIOS``).
    """
    # strict: bad arguments, an unknown service or port raise here
    engine.endpoints(service, port, policy=policy, protocol=protocol)
    rate = rate_of(rps, latency)
    if price_per_gb is not None and bytes_per_request is None:
        raise ArgumentError("a price per GB needs bytes_per_request", argument="price_per_gb")
    basis, sites = client_sites(engine, clients)
    if not sites:
        raise EngineError(f"what-if {service}: no clients ({basis}: nothing found or all weights zero)")
    if scenarios is None:
        scenarios = DEFAULT_SCENARIOS if rate is None else RATE_SCENARIOS
    results = []
    groups = SiteGroups(engine, sites)  # scenario engines copy the nodes: the same groups serve them all
    for item in scenarios:
        scenario = parse_scenario(item) if isinstance(item, str) else item
        if scenario.kind == "hazl":
            _needs_tcp(protocol, scenario)
            results.append(
                evaluate_hazl(
                    engine,
                    service,
                    port,
                    sites,
                    _needs_rate(rate, scenario),
                    band_of(scenario),
                    name=scenario.name,
                    prices=price_per_gb,
                    bytes_per_request=bytes_per_request,
                    requests=requests,
                )
            )
            continue
        target, scenario_policy, note = _scenario_engine(engine, service, scenario, policy)
        results.append(
            evaluate(
                target,
                service,
                port,
                groups,
                scenario_policy,
                scenario.name,
                note,
                price_per_gb,
                bytes_per_request,
                requests,
                rate=rate,
                protocol=protocol,
            )
        )
    return WhatIfReport(service, port, basis, _zone_shares(sites), tuple(results), rate)


def rate_of(rps: Optional[float], latency: Optional[float]) -> Optional[Rate]:
    """The request rate given as its two halves (both or neither)."""
    if rps is None and latency is None:
        return None
    if rps is None or latency is None:
        raise ArgumentError(
            "a request rate needs both rps and latency (in flight = rps x latency)",
            argument="rps" if rps is None else "latency",
        )
    return Rate(rps, latency)


def _needs_tcp(protocol: str, scenario: Scenario) -> None:
    if protocol != "TCP":
        raise ArgumentError(
            f"scenario {scenario.name} models Linkerd's balancer, which carries TCP only, not {protocol}",
            argument="scenario",
        )


def _needs_rate(rate: Optional[Rate], scenario: Scenario) -> Rate:
    if rate is None:
        raise ArgumentError(
            f"{scenario.name} needs a request rate and latency (rps, latency): its band is in requests in flight",
            argument="scenario",
        )
    return rate


def _scenario_engine(engine: Engine, service: str, scenario: Scenario, policy: str) -> tuple[Engine, str, str]:
    """The engine to query, the policy to query it with, and a note."""
    slices, policy, note = scenario_slices(engine, service, scenario, policy)
    return (engine if slices is None else with_slices(engine, {service: slices})), policy, note


def scenario_slices(
    engine: Engine, service: str, scenario: Scenario, policy: str, ratios: object = hint_writer.FROM_NODES
) -> tuple[Optional[list[SliceUpserted]], str, str]:
    """The service's slices under ``scenario`` (None: as recorded), the policy
    to query them with, and a note.  ``ratios``: the nodes' zone ratios, when
    known already (``hints.compute_hints``)."""
    state = engine.state
    svc = state.services.get(service)
    slices = list(state.slices_of(service))
    kind = scenario.kind
    if kind == "recorded":
        return None, policy, ""
    if kind == "none":
        return [_hinted(s, {}) for s in slices], policy, ""
    if kind in hint_writer.MODE_NAMES:
        mode = kind
        if kind == "prefer-same-node" and policy == "linkerd":
            policy = "linkerd+nodes"
    else:
        mode = None  # the Service's own mode, as the controller would rewrite
        if kind == "drain":
            slices = _drain_zone(state, slices, scenario.argument[0])
        elif kind == "drain-nodes":
            slices = _drain_nodes(state, slices, scenario.argument)
        else:
            slices = _scaled(state, service, slices, int(scenario.argument[0]))
    written = hint_writer.compute_hints(
        svc, slices, state.nodes.values(), mode=mode, service_key=service, ratios=ratios
    )
    note = f"hints {written.mode}" + ("" if written.written else f": none written ({written.message})")
    return [_hinted(s, written.hints) for s in slices], policy, note


def _hinted(
    s: SliceUpserted, hints: Mapping[tuple[str, int], tuple[tuple[str, ...], tuple[str, ...]]]
) -> SliceUpserted:
    """``s`` with each endpoint's hints from ``hints`` (absent: no hint); ``s``
    itself when nothing changes (a whole cluster's worth of copies is slow)."""
    endpoints = []
    for index, e in enumerate(s.endpoints):
        wanted = hints.get((s.key, index), ((), ()))
        endpoints.append(
            e if (e.for_zones, e.for_nodes) == wanted else attrs.evolve(e, for_zones=wanted[0], for_nodes=wanted[1])
        )
    if all(new is old for new, old in zip(endpoints, s.endpoints)):
        return s
    return attrs.evolve(s, endpoints=tuple(endpoints))


def with_slices(engine: Engine, replaced: Mapping[str, Sequence[SliceUpserted]]) -> Engine:
    """A log-less engine holding the current nodes and each service of
    ``replaced`` with its Service and the slices given for it.

    Nothing else is copied: a service's selections read only the nodes, its
    Service and its own slices.  Slices keep their write order (Linkerd
    resolves shared identities in favour of the last written); new slices
    come after the service's last.
    """
    state = engine.state
    events: list[Event] = [*state.nodes.values()]
    events.extend(state.services[key] for key in replaced if key in state.services)
    for key, slices in replaced.items():
        # Columns of their own: adopting columns that index this engine's
        # string table into the copy's would intern that whole table, slice by slice.
        replacement = {s.key: attrs.evolve(s, endpoints=tuple(s.endpoints)) for s in slices}
        events.extend(replacement.pop(s.key) for s in state.slices_of(key) if s.key in replacement)
        events.extend(replacement.values())
    copy = Engine()
    copy.apply_all(events)
    return copy


def _zone_of(state, e: Endpoint) -> str:
    return e.zone or state.node_zone(e.node_name) or ""


def _drain_zone(state, slices: list[SliceUpserted], zone: str) -> list[SliceUpserted]:
    known = state.zones() | {_zone_of(state, e) for s in slices for e in s.endpoints}
    if zone not in known:
        raise EngineError(f"scenario drain:{zone}: no such zone (zones: {', '.join(sorted(z for z in known if z))})")
    return [attrs.evolve(s, endpoints=tuple(e for e in s.endpoints if _zone_of(state, e) != zone)) for s in slices]


def _drain_nodes(state, slices: list[SliceUpserted], nodes: Sequence[str]) -> list[SliceUpserted]:
    unknown = [
        n for n in nodes if n not in state.nodes and not any(e.node_name == n for s in slices for e in s.endpoints)
    ]
    if unknown:
        raise EngineError(f"scenario drain-nodes: unknown node(s) {', '.join(unknown)}")
    drained = set(nodes)
    return [attrs.evolve(s, endpoints=tuple(e for e in s.endpoints if e.node_name not in drained)) for s in slices]


def apportion(total: int, counts: Mapping[str, int]) -> dict[str, int]:
    """``total`` split in proportion to ``counts`` by largest remainder.

    Ties go to the zone with more endpoints now, then to the first by name,
    so the split is repeatable.
    """
    whole = sum(counts.values())
    quotas = {zone: total * count / whole for zone, count in counts.items()}
    shares = {zone: math.floor(q) for zone, q in quotas.items()}
    left = total - sum(shares.values())
    order = sorted(counts, key=lambda z: (-(quotas[z] - shares[z]), -counts[z], z))
    for zone in order[:left]:
        shares[zone] += 1
    return shares


def _scaled(state, service: str, slices: list[SliceUpserted], total: int) -> list[SliceUpserted]:
    """The service's slices with ``total`` ready endpoints per address type."""
    by_type: dict[str, list[SliceUpserted]] = defaultdict(list)
    for s in slices:
        by_type[s.address_type].append(s)
    result: list[SliceUpserted] = []
    for address_type, group in by_type.items():
        ready: dict[str, list[tuple[SliceUpserted, int]]] = defaultdict(list)
        for s in group:
            for index, e in enumerate(s.endpoints):
                if e.is_ready:
                    ready[_zone_of(state, e)].append((s, index))
        if not ready:
            raise EngineError(
                f"scenario scale:{total}: {service} has no ready {address_type} endpoint to take the zone spread from"
            )
        quota = apportion(total, {zone: len(found) for zone, found in ready.items()})
        kept: set[tuple[str, int]] = set()
        extra: dict[str, list[Endpoint]] = defaultdict(list)  # slice key -> new endpoints
        for zone, found in sorted(ready.items()):
            kept.update((s.key, index) for s, index in found[: quota[zone]])
            for k in range(quota[zone] - len(found)):
                source, index = found[k % len(found)]
                extra[source.key].append(_copy_of(source.endpoints[index], zone, k + 1))
        for s in group:
            result.append(
                attrs.evolve(s, endpoints=tuple(e for index, e in enumerate(s.endpoints) if (s.key, index) in kept))
            )
        for s in group:
            if extra[s.key]:
                result.append(attrs.evolve(s, name=f"{s.name}-scaled", endpoints=tuple(extra[s.key])))
    return result


def _copy_of(template: Endpoint, zone: str, number: int) -> Endpoint:
    """A new ready endpoint on ``template``'s node; its address names what it is."""
    label = f"scaled-{zone or 'nozone'}-{number}"
    return attrs.evolve(
        template,
        addresses=(label,),
        ready=True,
        serving=True,
        terminating=False,
        hostname=None,
        target_name=f"{template.target_name}-{label}" if template.target_name else None,
        for_zones=(),
        for_nodes=(),
    )


# ---------------------------------------------------------------------------
# Rendering


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def render_whatif(report: WhatIfReport, out: IO[str]) -> None:
    """The scenarios side by side: one column each."""
    clients = "  ".join(f"{zone or '(no zone)'} {_percent(share)}" for zone, share in report.clients.items())
    out.write(f"{report.service} port {report.port}\nclients ({report.clients_basis}): {clients}\n")
    if report.rate is not None:
        out.write(
            f"rate: {report.rate.rps:g} rps, mean latency {report.rate.latency:g} s, "
            f"{report.rate.inflight(1.0):g} requests in flight\n"
        )
    out.write("\n")
    rows: list[list[str]] = [["", *(s.name for s in report.scenarios)]]
    rows.append(["policy", *(s.policy for s in report.scenarios)])
    rows.append(["cross-zone", *(_percent(s.cross_zone_share) for s in report.scenarios)])
    rows.append(["max overload", *(f"{s.max_overload:.2f}" for s in report.scenarios)])
    if any(s.unserved_share for s in report.scenarios):
        rows.append(["unserved", *(_percent(s.unserved_share) for s in report.scenarios)])
    rows.append(["flooded zones", *(",".join(s.flooded) or "-" for s in report.scenarios)])
    rows.append(["starved zones", *(",".join(s.starved) or "-" for s in report.scenarios)])
    if any(s.cost is not None for s in report.scenarios):
        rows.append(["cost", *(f"{s.cost.amount:.4g}" if s.cost else "-" for s in report.scenarios)])
    pairs = sorted({(f, t) for s in report.scenarios for f, row in s.matrix.items() for t, v in row.items() if v})
    for source, target in pairs:
        rows.append(
            [
                f"{source or '?'} -> {target or '?'}",
                *(_percent(s.matrix.get(source, {}).get(target, 0.0)) for s in report.scenarios),
            ]
        )
    endpoints = sorted({(e.zone, e.address) for s in report.scenarios for e in s.endpoints})
    figures = [("load", "load", "{:.2f}")]
    if report.rate is not None:
        figures += [("rps", "rps", "{:.1f}"), ("in flight", "inflight", "{:.2f}")]
    for label, field, fmt in figures:
        for zone, address in endpoints:
            cells = []
            for s in report.scenarios:
                value = next((getattr(e, field) for e in s.endpoints if e.address == address), None)
                cells.append("-" if value is None else fmt.format(value))
            rows.append([f"{label} {address} ({zone or '?'})", *cells])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n")
    notes = [
        (s.name, "; ".join(filter(None, (s.note, _pools_text(s.pools))))) for s in report.scenarios if s.note or s.pools
    ]
    if notes:
        out.write("\n")
        for name, note in notes:
            out.write(f"{name}: {note}\n")
    if any(s.cost is not None for s in report.scenarios):
        cost = next(s.cost for s in report.scenarios if s.cost is not None)
        out.write(f"cost: per {cost.requests} requests of {cost.bytes_per_request:g} bytes\n")


def _pools_text(pools: Sequence[ZonePool]) -> str:
    """Which zones spill, to how many endpoints' worth, and which stay local."""
    parts = [
        f"{p.zone or '(no zone)'} spills ({p.inflight:.3g} in flight over {p.local} local "
        f"endpoint{'s' if p.local != 1 else ''}, pool {p.pool})"
        for p in pools
        if p.spilled
    ]
    local = [p.zone or "(no zone)" for p in pools if not p.spilled]
    if local:
        parts.append(f"{', '.join(local)} stay{'s' if len(local) == 1 else ''} local")
    return "; ".join(parts)


# ---------------------------------------------------------------------------
# Timeline


@attrs.frozen(slots=True)
class TimelineRow:
    seq: int
    time: float  # when the event was written to the log (Unix seconds)
    event: str  # kind and key of the event
    endpoints: int  # candidate endpoints after the event
    cross_zone_share: Optional[float]  # None: no client was served
    max_overload: Optional[float]
    unserved_share: Optional[float]
    # hazl rows: (zone, pool) for each client zone whose pool reaches beyond
    # its own endpoints; None on rows of the recorded state.
    spilled: Optional[tuple[tuple[str, int], ...]] = None

    def to_json(self) -> dict:
        out = attrs.asdict(self, filter=lambda field, _: field.name != "spilled")
        if self.spilled is not None:
            out["spilled"] = dict(self.spilled)
        return out


TIMELINE_COLUMNS = tuple(f.name for f in attrs.fields(TimelineRow))

# What a timeline asks at each row: the scenario's result for the state as folded so far.
Follower = Callable[[Engine, Sequence[ClientSite]], ScenarioResult]


def timeline(
    log_path,
    service: str,
    port: int,
    *,
    clients: Clients = None,
    policy: str = "linkerd",
    every: int = 1,
    since: int = 0,
    scenario: Union[None, str, Scenario] = None,
    rps: Optional[float] = None,
    latency: Optional[float] = None,
    protocol: str = "TCP",
) -> list[TimelineRow]:
    """Cross-zone share and worst overload after each event that touches ``service``.

    The log is folded event by event from seq ``since`` (0: the start); with
    ``every`` N only every N-th touching event gives a row (the last always
    does).  Client shares follow the cluster as it changes.  ``scenario`` is
    ``recorded`` (the default) or ``hazl[:LOW,HIGH]``, which needs ``rps``
    and ``latency`` and is decided at every touching event, each zone's
    pool carried from one to the next (the band's hysteresis).  The
    one-service case of ``engine.timeline.timelines``.
    """
    from .timeline import timelines  # it builds on this module

    found = timelines(
        log_path,
        [(service, port)],
        clients=clients,
        policy=policy,
        every=every,
        since=since,
        scenario=scenario,
        rps=rps,
        latency=latency,
        protocol=protocol,
    )
    return [point.row for point in found[(service, port)]]


def follower(
    service: str,
    port: int,
    policy: str,
    scenario: Union[None, str, Scenario],
    rate: Optional[Rate],
    protocol: str = "TCP",
) -> Follower:
    """What a timeline of ``service`` asks at each row, under ``scenario``."""
    scenario = parse_scenario(scenario) if isinstance(scenario, str) else scenario or Scenario("recorded")
    if scenario.kind not in TIMELINE_SCENARIOS:
        raise ArgumentError(
            f"a timeline follows the recorded state or hazl[:LOW,HIGH], not {scenario.name}", argument="scenario"
        )
    if scenario.kind == "recorded":
        return lambda engine, sites: evaluate(engine, service, port, sites, policy, protocol=protocol)
    _needs_tcp(protocol, scenario)
    rate, band = _needs_rate(rate, scenario), band_of(scenario)
    memory: dict[str, int] = {}  # zone -> the pool it spilled to at the last decision

    def follow(engine: Engine, sites: Sequence[ClientSite]) -> ScenarioResult:
        result = evaluate_hazl(engine, service, port, sites, rate, band, memory, name=scenario.name)
        memory.clear()
        memory.update(spilled_pools(result))
        return result

    return follow


def timeline_row(
    engine: Engine, sites: Sequence[ClientSite], follow: Follower, seq: int, written: float, event: Event
) -> TimelineRow:
    """The row after event ``seq``, as ``follow`` sees the state folded so far."""
    label = f"{type(event).__name__} {getattr(event, 'key', getattr(event, 'name', ''))}"
    result = follow(engine, sites)
    served = bool(sites) and result.unserved_share < 1.0
    return TimelineRow(
        seq,
        written,
        label,
        len(result.endpoints),
        result.cross_zone_share if served else None,
        result.max_overload if served else None,
        result.unserved_share if sites else None,
        tuple(spilled_pools(result).items()) if result.band is not None else None,
    )


def write_timeline(rows: Sequence[TimelineRow], out: IO[str], fmt: str = "csv") -> None:
    """Rows as CSV (header first, empty cells for no value) or as a JSON list.

    The ``spilled`` column (``zone=pool`` pairs) is there for hazl rows only.
    """
    if fmt == "json":
        json.dump([row.to_json() for row in rows], out, indent=2)
        out.write("\n")
        return
    if fmt != "csv":
        raise ArgumentError(f"unknown timeline format {fmt!r} (csv or json)", argument="fmt")
    hazl = any(row.spilled is not None for row in rows)
    plain = tuple(name for name in TIMELINE_COLUMNS if name != "spilled")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((*plain, "spilled") if hazl else plain)
    for row in rows:
        cells = ["" if value is None else value for value in (getattr(row, name) for name in plain)]
        if hazl:
            cells.append(" ".join(f"{zone or '?'}={pool}" for zone, pool in row.spilled or ()))
        writer.writerow(cells)
