"""kube-proxy policy: upstream conformance tables, slice reading, properties."""

from __future__ import annotations

import json
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import LookupFailed
from engine.events import Endpoint, ServicePort, ServiceUpserted, SlicePort, SliceUpserted
from engine.policies import kube_proxy as kp
from engine.values import SelectedEndpoint

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "conformance" / "kube_proxy"
ZONE_LABEL = "topology.kubernetes.io/zone"
NS, SVC = "default", "web"
HTTP_8080 = (SlicePort("http", 8080, "TCP"),)


def _load_cases():
    cases = []
    for path in sorted(FIXTURES.glob("*.json")):
        for case in json.loads(path.read_text())["cases"]:
            cases.append(pytest.param(case, id=f"{path.stem}:{case['name']}"))
    return cases


CASES = _load_cases()


def _service(fields: dict, port: int = 80) -> ServiceUpserted:
    return ServiceUpserted(
        NS,
        SVC,
        ports=(ServicePort("", port, "TCP", port, fields["node_port"]),),
        internal_traffic_policy=fields["internal_traffic_policy"],
        external_traffic_policy=fields["external_traffic_policy"],
        type=fields["type"],
        external_addresses=fields["external_addresses"],
    )


def _client(case: dict) -> tuple:
    node = case["node"]
    zone = (node["labels"] or {}).get(ZONE_LABEL)
    return node["name"], zone


def _keys(endpoints) -> set:
    return {e.key for e in endpoints}


def _check_set(actual, expected, what: str):
    # The upstream harness: an expected nil demands nil; an expected set
    # (even empty) is compared as a set, a nil result counting as empty.
    if expected is None:
        assert actual is None, f"{what}: expected unused, got {sorted(_keys(actual))}"
    else:
        assert _keys(actual or ()) == set(expected), what


def test_fixture_counts():
    names = [c.values[0]["name"] for c in CASES]
    assert len(names) == len(set(names))
    upstream = [c.values[0] for c in CASES if "upstream" in c.values[0]]
    assert sum(1 for c in upstream if c["name"][:1] != "A") == 26
    assert {c["name"][:2] for c in upstream if c["name"][:1] == "A"} == {"A1", "A2", "A3", "A4"}


@pytest.mark.parametrize("case", CASES)
def test_categorize_conformance(case):
    endpoints = [
        kp.ProxyEndpoint(
            e["address"],
            e["port"],
            e["ready"],
            e["serving"],
            e["terminating"],
            e["is_local"],
            frozenset(e["zone_hints"]),
            frozenset(e["node_hints"]),
        )
        for e in case["endpoints"]
    ]
    node, zone = _client(case)
    result = kp.categorize(
        endpoints, _service(case["service"]), 80, node, zone, prefer_same_node=case["prefer_same_node"]
    )
    expected = case["expected"]
    _check_set(result.cluster, expected["cluster"], "cluster")
    _check_set(result.local, expected["local"], "local")
    assert _keys(result.all) == set(expected["all"])
    assert len(result.all) == len(expected["all"])
    assert result.has_any is expected["has_any"]
    assert result.rule == expected["rule"]


@pytest.mark.parametrize("case", CASES)
def test_conformance_through_slices(case):
    """The same table, entered as EndpointSlices and read back by select()."""
    node, zone = _client(case)
    if node is None and any(e["is_local"] for e in case["endpoints"]):
        node = "client-node"  # upstream gives locality directly; slices need a node to compare
    entries = tuple(
        Endpoint(
            (e["address"], "192.0.2.1"),  # a second address kube-proxy must ignore
            ready=e["ready"],
            serving=e["serving"],
            terminating=e["terminating"],
            node_name=node if e["is_local"] else "remote-node",
            for_zones=tuple(e["zone_hints"]),
            for_nodes=tuple(e["node_hints"]),
        )
        for e in case["endpoints"]
    )
    slices = [SliceUpserted(NS, f"{SVC}-abc", SVC, "IPv4", (SlicePort("", 80, "TCP"),), entries)]
    service = _service(case["service"])
    endpoints = kp.proxy_endpoints(service, slices, 80, node)
    assert [(e.address, e.is_local) for e in endpoints] == sorted(
        (e["address"], e["is_local"]) for e in case["endpoints"]
    )
    result = kp.categorize(endpoints, service, 80, node, zone, prefer_same_node=case["prefer_same_node"])
    expected = case["expected"]
    _check_set(result.cluster, expected["cluster"], "cluster")
    _check_set(result.local, expected["local"], "local")

    choice = kp.select(service, slices, 80, node, zone, prefer_same_node=case["prefer_same_node"])
    rule, selected = choice.rule, list(choice.endpoints)
    assert rule == expected["rule"]
    internal = expected["local"] if case["service"]["internal_traffic_policy"] == "Local" else expected["cluster"]
    wanted = sorted(internal or ()) if expected["has_any"] else []
    assert [f"{s.address}:{s.port}" for s in selected] == wanted
    assert selected == sorted(selected)


# ---------------------------------------------------------------------------
# Building endpoints from slices


def _svc(*ports: ServicePort, **fields) -> ServiceUpserted:
    return ServiceUpserted(NS, SVC, ports=ports or (ServicePort("http", 80, "TCP", 8080),), **fields)


def _slice(name: str, endpoints, ports=HTTP_8080, service=SVC, address_type="IPv4"):
    return SliceUpserted(NS, name, service, address_type, tuple(ports), tuple(endpoints))


def test_only_first_address_is_used():
    slc = _slice("s1", [Endpoint(("10.0.0.1", "10.0.0.2", "10.0.0.3"))])
    assert [e.address for e in kp.proxy_endpoints(_svc(), [slc], 80, "n1")] == ["10.0.0.1"]


def test_unset_conditions_read_as_ready_serving_not_terminating():
    (ep,) = kp.proxy_endpoints(_svc(), [_slice("s1", [Endpoint(("10.0.0.1",))])], 80, "n1")
    assert (ep.ready, ep.serving, ep.terminating) == (True, True, False)
    (ep,) = kp.proxy_endpoints(
        _svc(), [_slice("s1", [Endpoint(("10.0.0.1",), ready=False, serving=False, terminating=True)])], 80, "n1"
    )
    assert (ep.ready, ep.serving, ep.terminating) == (False, False, True)


def test_slice_ports_match_service_port_by_name_and_protocol():
    service = _svc(
        ServicePort("http", 80, "TCP", "web"),
        ServicePort("dns", 53, "UDP", 5353),
        ServicePort("dns-tcp", 53, "TCP", 5353),
    )
    entries = [Endpoint(("10.0.0.1",))]
    slices = [
        _slice(
            "a",
            entries,
            ports=[SlicePort("http", 8080, "TCP"), SlicePort("http", 9999, "UDP"), SlicePort("metrics", 9090, "TCP")],
        ),
        _slice("b", entries, ports=[SlicePort("dns", 5353, "UDP"), SlicePort("dns-tcp", 5354, "TCP")]),
    ]
    assert [e.key for e in kp.proxy_endpoints(service, slices, 80, None)] == ["10.0.0.1:8080"]
    assert [e.key for e in kp.proxy_endpoints(service, slices, 53, None)] == ["10.0.0.1:5353"]
    assert [e.key for e in kp.proxy_endpoints(service, slices, 53, None, protocol="TCP")] == ["10.0.0.1:5354"]


def test_unnamed_ports_match_each_other_and_numberless_slice_ports_are_ignored():
    service = _svc(ServicePort("", 80, "TCP", 8080))
    entries = [Endpoint(("10.0.0.1",))]
    slices = [
        _slice("a", entries, ports=[SlicePort("", 8080, "TCP")]),
        _slice("b", [Endpoint(("10.0.0.2",))], ports=[SlicePort("", None, "TCP")]),
        _slice("c", [Endpoint(("10.0.0.3",))], ports=[SlicePort("http", 8080, "TCP")]),
    ]
    assert [e.key for e in kp.proxy_endpoints(service, slices, 80, None)] == ["10.0.0.1:8080"]


def test_entries_without_addresses_and_foreign_slices_are_ignored():
    slices = [
        _slice("a", [Endpoint(()), Endpoint(("10.0.0.1",))]),
        _slice("b", [Endpoint(("10.0.0.2",))], service="other"),
        _slice("c", [Endpoint(("10.0.0.3",))], service=None),
        _slice("d", [Endpoint(("db.example.com",))], address_type="FQDN"),
    ]
    assert [e.address for e in kp.proxy_endpoints(_svc(), slices, 80, None)] == ["10.0.0.1"]


def test_one_address_family_per_view():
    slices = [
        _slice("v4", [Endpoint(("10.0.0.1",))]),
        _slice("v6", [Endpoint(("fd00::1",))], address_type="IPv6"),
    ]
    assert [e.key for e in kp.proxy_endpoints(_svc(), slices, 80, None)] == ["10.0.0.1:8080"]
    assert [e.key for e in kp.proxy_endpoints(_svc(), slices, 80, None, ip_family="IPv6")] == ["[fd00::1]:8080"]
    assert [e.key for e in kp.proxy_endpoints(_svc(), slices[1:], 80, None)] == ["[fd00::1]:8080"]
    with pytest.raises(LookupFailed):
        kp.proxy_endpoints(_svc(), slices, 80, None, ip_family="FQDN")


def test_addresses_are_canonicalised_before_keying():
    assert kp.canonical_ip("010.001.002.003") == "10.1.2.3"
    assert kp.canonical_ip("2001:DB8:0:0:0:0:0:1") == "2001:db8::1"
    assert kp.canonical_ip("::ffff:10.0.0.1") == "10.0.0.1"
    assert kp.canonical_ip("not-an-ip") == "not-an-ip"
    slices = [_slice("a", [Endpoint(("010.0.0.1",))]), _slice("b", [Endpoint(("10.0.0.1",), terminating=True)])]
    (ep,) = kp.proxy_endpoints(_svc(), slices, 80, None)
    assert (ep.key, ep.terminating) == ("10.0.0.1:8080", False)


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_duplicate_ip_port_prefers_the_non_terminating_entry(order):
    running = Endpoint(("10.0.0.1",), node_name="n2", target_kind="Pod", target_namespace=NS, target_name="new")
    leaving = Endpoint(
        ("10.0.0.1",),
        ready=False,
        serving=True,
        terminating=True,
        node_name="n1",
        target_kind="Pod",
        target_namespace=NS,
        target_name="old",
    )
    slices = [_slice("a", [leaving]), _slice("b", [running])]
    (ep,) = kp.proxy_endpoints(_svc(), [slices[i] for i in order], 80, "n1")
    assert ep.source.target == f"Pod/{NS}/new"
    assert not ep.is_local
    # Within one slice too, whichever comes first.
    (ep,) = kp.proxy_endpoints(_svc(), [_slice("a", [running, leaving])], 80, "n1")
    assert ep.source.target == f"Pod/{NS}/new"


def test_duplicate_non_terminating_entries_resolve_by_slice_name():
    first = Endpoint(("10.0.0.1",), node_name="n1")
    second = Endpoint(("10.0.0.1",), node_name="n2")
    slices = [_slice("b", [second]), _slice("a", [first])]
    (ep,) = kp.proxy_endpoints(_svc(), slices, 80, "n2")
    assert ep.source.node_name == "n2" and ep.is_local


def test_locality_needs_a_named_client_node():
    slices = [_slice("a", [Endpoint(("10.0.0.1",), node_name="n1"), Endpoint(("10.0.0.2",), node_name="")])]
    assert [e.is_local for e in kp.proxy_endpoints(_svc(), slices, 80, "n1")] == [True, False]
    assert [e.is_local for e in kp.proxy_endpoints(_svc(), slices, 80, None)] == [False, False]
    # An empty node name matches nothing, not even an entry with an empty nodeName.
    assert [e.is_local for e in kp.proxy_endpoints(_svc(), slices, 80, "")] == [False, False]


def test_unproxied_services_and_unknown_ports():
    slices = [_slice("a", [Endpoint(("10.0.0.1",))])]
    for service in (None, _svc(type="ExternalName")):
        choice = kp.select(service, slices, 80, "n1", "zone-a")
        assert (choice.rule, choice.endpoints) == ("no-service", ())
    with pytest.raises(LookupFailed, match=f"{NS}/{SVC}.*81"):
        kp.select(_svc(), slices, 81, "n1", "zone-a")
    with pytest.raises(LookupFailed):
        kp.proxy_endpoints(_svc(), slices, 80, "n1", protocol="UDP")


def test_select_reports_endpoint_facts_sorted():
    entries = [
        Endpoint(
            ("10.0.0.10",),
            node_name="n2",
            zone="zone-b",
            hostname="web-1",
            for_zones=("zone-a",),
            target_kind="Pod",
            target_namespace=NS,
            target_name="web-1",
        ),
        Endpoint(
            ("10.0.0.9",),
            node_name="n1",
            zone="zone-a",
            for_zones=("zone-a",),
            target_kind="Pod",
            target_namespace=NS,
            target_name="web-0",
        ),
        Endpoint(("10.0.0.2",), node_name="n3", zone="zone-c", for_zones=("zone-c",)),
    ]
    choice = kp.select(_svc(), [_slice("a", entries)], 80, "n1", "zone-a")
    rule, selected = choice.rule, list(choice.endpoints)
    assert rule == "zone-hints"
    assert selected == [
        SelectedEndpoint("10.0.0.10", 8080, "n2", "zone-b", ("zone-a",), (), f"Pod/{NS}/web-1", "web-1"),
        SelectedEndpoint("10.0.0.9", 8080, "n1", "zone-a", ("zone-a",), (), f"Pod/{NS}/web-0"),
    ]


def test_no_endpoints_leaves_every_set_unused():
    # Newer kube-proxy returns before looking at the policies when the list is empty.
    for itp in ("Cluster", "Local"):
        result = kp.categorize([], _svc(internal_traffic_policy=itp), 80, "n1", "zone-a")
        assert (result.cluster, result.local, result.all, result.has_any, result.rule) == (
            None,
            None,
            (),
            False,
            "no-endpoints",
        )


def test_external_traffic_policy_is_honoured_only_for_types_taking_external_traffic():
    entries = [Endpoint(("10.0.0.1",), node_name="n1"), Endpoint(("10.0.0.2",), node_name="n2")]
    slices = [_slice("a", entries)]

    def local_set(node_port=0, **fields):
        service = _svc(ServicePort("http", 80, "TCP", 8080, node_port), external_traffic_policy="Local", **fields)
        return kp.categorize(kp.proxy_endpoints(service, slices, 80, "n1"), service, 80, "n1", None).local

    # externalIPs make a ClusterIP service externally accessible without a node port.
    assert _keys(local_set(type="ClusterIP", external_addresses=True)) == {"10.0.0.1:8080"}
    assert local_set(type="ClusterIP") is None
    assert _keys(local_set(type="NodePort", node_port=30080)) == {"10.0.0.1:8080"}
    # A load balancer with neither node port nor address yet takes no external traffic.
    assert local_set(type="LoadBalancer") is None
    # The policy follows the type: a ClusterIP port carrying a stray node port stays Cluster.
    assert local_set(type="ClusterIP", node_port=30080) is None


def test_gate_off_ignores_node_hints():
    endpoints = [
        kp.ProxyEndpoint("10.0.0.1", 80, True, True, False, False, frozenset({"zone-a"}), frozenset({"n1"})),
        kp.ProxyEndpoint("10.0.0.2", 80, True, True, False, False, frozenset({"zone-a"}), frozenset({"n2"})),
        kp.ProxyEndpoint("10.0.0.3", 80, True, True, False, False, frozenset({"zone-b"}), frozenset({"n3"})),
    ]
    on = kp.categorize(endpoints, _svc(), 80, "n1", "zone-a")
    off = kp.categorize(endpoints, _svc(), 80, "n1", "zone-a", prefer_same_node=False)
    assert (on.mode, _keys(on.cluster)) == (kp.PREFER_SAME_NODE, {"10.0.0.1:80"})
    assert (off.mode, _keys(off.cluster)) == (kp.PREFER_SAME_ZONE, {"10.0.0.1:80", "10.0.0.2:80"})


# ---------------------------------------------------------------------------
# Properties

ZONES = ("zone-a", "zone-b", "zone-c")
NODES = ("n1", "n2", "n3")


@st.composite
def proxy_endpoint_lists(draw):
    addresses = draw(st.lists(st.integers(1, 40), unique=True, max_size=12))
    return [
        kp.ProxyEndpoint(
            f"10.0.0.{a}",
            80,
            ready=draw(st.booleans()),
            serving=draw(st.booleans()),
            terminating=draw(st.booleans()),
            is_local=draw(st.booleans()),
            zone_hints=frozenset(draw(st.sets(st.sampled_from(ZONES), max_size=2))),
            node_hints=frozenset(draw(st.sets(st.sampled_from(NODES), max_size=2))),
        )
        for a in addresses
    ]


services = st.builds(
    lambda itp, etp, kind, node_port, external: _svc(
        ServicePort("http", 80, "TCP", 8080, node_port),
        internal_traffic_policy=itp,
        external_traffic_policy=etp,
        type=kind,
        external_addresses=external,
    ),
    st.sampled_from(("Cluster", "Local")),
    st.sampled_from(("Cluster", "Local")),
    st.sampled_from(("ClusterIP", "NodePort", "LoadBalancer")),
    st.sampled_from((0, 30080)),
    st.booleans(),
)
client_nodes = st.sampled_from((*NODES, None))
client_zones = st.sampled_from((*ZONES, "", None))


@settings(max_examples=300, deadline=None)
@given(proxy_endpoint_lists(), services, client_nodes, client_zones, st.booleans())
def test_sets_are_drawn_from_the_endpoints(endpoints, service, node, zone, prefer_same_node):
    result = kp.categorize(endpoints, service, 80, node, zone, prefer_same_node=prefer_same_node)
    assert result.rule in kp.RULES
    everything = _keys(endpoints)
    cluster, local = result.cluster or (), result.local or ()
    assert _keys(cluster) <= everything
    assert all(e.is_local for e in local)
    # Each set is all ready endpoints or all serving+terminating ones, never a mix.
    for chosen in (cluster, local):
        assert all(e.ready for e in chosen) or all(e.serving_terminating for e in chosen)
    assert _keys(result.all) == _keys(cluster) | _keys(local)
    assert len(result.all) == len(_keys(result.all))
    usable = any(e.ready or e.serving_terminating for e in endpoints)
    assert result.has_any is usable
    internal = kp.internal_endpoints(result, service)
    assert _keys(internal) <= _keys(result.all)
    if usable and service.internal_traffic_policy == "Cluster":
        assert internal  # a usable endpoint anywhere always reaches a Cluster-policy client


@settings(max_examples=300, deadline=None)
@given(proxy_endpoint_lists(), client_nodes, st.sampled_from(ZONES))
def test_zone_hints_apply_when_every_ready_endpoint_has_one(endpoints, node, zone):
    ready = [e for e in endpoints if e.ready]
    result = kp.categorize(endpoints, _svc(), 80, node, zone, prefer_same_node=False)
    in_zone = {e.key for e in ready if zone in e.zone_hints}
    if ready and all(e.zone_hints for e in ready) and in_zone:
        assert (result.rule, _keys(result.cluster)) == ("zone-hints", in_zone)
    elif ready:
        assert (result.rule, _keys(result.cluster)) == ("all-ready", _keys(ready))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(st.integers(1, 6), st.sampled_from((None, True, False)), st.sampled_from(NODES)),
            max_size=5,
        ),
        min_size=1,
        max_size=4,
    ),
    st.randoms(use_true_random=False),
)
def test_reading_slices_does_not_depend_on_their_order(groups, rng):
    slices = [
        _slice(f"s{i}", [Endpoint((f"10.0.0.{a}",), terminating=t, node_name=n) for a, t, n in group])
        for i, group in enumerate(groups)
    ]
    shuffled = list(slices)
    rng.shuffle(shuffled)
    view = lambda eps: [(e.key, e.terminating, e.is_local, e.source) for e in eps]  # noqa: E731
    assert view(kp.proxy_endpoints(_svc(), slices, 80, "n1")) == view(kp.proxy_endpoints(_svc(), shuffled, 80, "n1"))


# ---------------------------------------------------------------------------
# The same tables through the command line: Kubernetes objects in, answers out


def _client_node(case: dict) -> str:
    return case["node"]["name"] or "client-node"


def _objects(case: dict) -> list[dict]:
    client = _client_node(case)
    labels = dict((case["node"]["labels"] or {}), **{"kubernetes.io/hostname": client})
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": client, "labels": labels},
        "status": {"allocatable": {"cpu": "4"}, "conditions": [{"type": "Ready", "status": "True"}]},
    }
    fields = case["service"]
    port = {"name": "", "port": 80, "protocol": "TCP"}
    spec = {"type": fields["type"], "internalTrafficPolicy": fields["internal_traffic_policy"], "ports": [port]}
    if fields["type"] != "ClusterIP":
        port["nodePort"] = fields["node_port"]
    if fields["external_addresses"]:
        spec["externalIPs"] = ["192.0.2.10"]
    if fields["type"] in ("NodePort", "LoadBalancer") or fields["external_addresses"]:
        # The API server takes a policy for externally accessible Services only.
        spec["externalTrafficPolicy"] = fields["external_traffic_policy"]
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": SVC, "namespace": NS}, "spec": spec}
    endpoints = [
        {
            "addresses": [e["address"]],
            "nodeName": client if e["is_local"] else "remote-node",
            "conditions": {"ready": e["ready"], "serving": e["serving"], "terminating": e["terminating"]},
            "hints": {
                "forZones": [{"name": z} for z in e["zone_hints"]],
                "forNodes": [{"name": n} for n in e["node_hints"]],
            },
        }
        for e in case["endpoints"]
    ]
    es = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{SVC}-abc", "namespace": NS, "labels": {"kubernetes.io/service-name": SVC}},
        "addressType": "IPv4",
        "ports": [{"name": "", "port": 80, "protocol": "TCP"}],
        "endpoints": endpoints,
    }
    return [node, service, es]


@pytest.mark.parametrize("case", [c for c in CASES if c.values[0]["prefer_same_node"]])
def test_conformance_through_the_command_line(case, tmp_path, capsys):
    """Node hints are always honoured here: PreferSameNode is GA (locked on)
    since Kubernetes 1.35, so the gate-off case is left to the table test."""
    from engine.cli import main

    source = tmp_path / "objects.json"
    source.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": _objects(case)}))
    assert main(["ingest", str(tmp_path / "log"), str(source)]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "endpoints",
                str(tmp_path / "log"),
                f"{NS}/{SVC}:80",
                "--node",
                _client_node(case),
                "--policy",
                "kube-proxy",
                "--json",
            ]
        )
        == 0
    )
    answer = json.loads(capsys.readouterr().out)
    expected = case["expected"]
    internal = expected["local"] if case["service"]["internal_traffic_policy"] == "Local" else expected["cluster"]
    wanted = sorted(internal or ()) if expected["has_any"] else []
    assert answer["rule"] == expected["rule"]
    assert [f"{e['address']}:{e['port']}" for e in answer["endpoints"]] == wanted
