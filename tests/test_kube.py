"""Kubernetes input: every accepted shape, the API server's rules, precise errors."""

import copy
import io
import json

import pytest
import yaml
from k8s import endpoint, endpoint_slice, node, service, watch

from engine import Engine
from engine.errors import InputError
from engine.events import NodeDeleted, NodeUpserted, ServiceUpserted, SliceDeleted, SliceUpserted
from engine.kube import ReadStats, iter_events, parse_cpu_millis, read_objects


def read(text, skip_invalid: bool = False, source: str = "in.json"):
    stats = ReadStats()
    stream = io.BytesIO(text) if isinstance(text, bytes) else io.BytesIO(text.encode())
    return list(iter_events(stream, source, stats, skip_invalid=skip_invalid)), stats


def read_dicts(objects, skip_invalid: bool = False):
    stats = ReadStats()
    return list(read_objects(objects, "objects", stats, skip_invalid=skip_invalid)), stats


def error_of(obj) -> str:
    """The one error line for ``obj``, checked to be the same from JSON bytes and from a dict."""
    with pytest.raises(InputError) as from_bytes:
        read(json.dumps(obj))
    with pytest.raises(InputError) as from_dict:
        read_dicts([obj])
    line, other = str(from_bytes.value), str(from_dict.value)
    assert "\n" not in line
    assert line[line.index(" (") :] == other[other.index(" (") :]
    return line


CLUSTER = [
    node("n1", "zone-a", "3500m"),
    service("shop/web"),
    endpoint_slice("shop/web-1", "web", [endpoint("10.0.0.1", zone="zone-a", hints=["zone-a"], pod="p1")]),
]


# -- shapes --------------------------------------------------------------------


def test_single_object():
    events, stats = read(json.dumps(CLUSTER[0]))
    assert events == [NodeUpserted("n1", "zone-a", 3500, True, False)]
    assert stats.objects == {"Node": 1}


def test_list_and_typed_list_without_item_kinds():
    events, _ = read(json.dumps({"apiVersion": "v1", "kind": "List", "items": CLUSTER}))
    assert [type(e) for e in events] == [NodeUpserted, ServiceUpserted, SliceUpserted]
    bare = {k: v for k, v in CLUSTER[0].items() if k not in ("kind", "apiVersion")}
    events, _ = read(json.dumps({"apiVersion": "v1", "kind": "NodeList", "items": [bare]}))
    assert events[0].name == "n1"
    slices = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSliceList",
        "items": [{k: v for k, v in CLUSTER[2].items() if k not in ("kind", "apiVersion")}],
    }
    events, _ = read(json.dumps(slices))
    assert events[0].name == "web-1" and events[0].endpoints[0].addresses == ("10.0.0.1",)


def test_pretty_printed_watch_stream_and_bookmarks():
    stream = "".join(
        json.dumps(doc, indent=4) + "\n"
        for doc in [
            watch("ADDED", CLUSTER[2]),
            {
                "type": "BOOKMARK",
                "object": {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {"resourceVersion": "9"},
                },
            },
            watch("DELETED", CLUSTER[2]),
            {"type": "ERROR", "object": {"apiVersion": "v1", "kind": "Status", "code": 410}},
        ]
    )
    events, stats = read(stream)
    assert type(events[0]) is SliceUpserted and events[1] == SliceDeleted("shop", "web-1", "web")
    assert stats.bookmarks == 1 and stats.watch_errors == 1


def test_concatenated_json_on_one_line_and_across_lines():
    events, _ = read(json.dumps(CLUSTER[0]) + json.dumps(watch("DELETED", CLUSTER[0])))
    assert events[1] == NodeDeleted("n1")
    text = json.dumps(CLUSTER[0], indent=2) + json.dumps(CLUSTER[1], indent=2) + "  " + json.dumps(CLUSTER[0])
    events, _ = read(text)
    assert [type(e) for e in events] == [NodeUpserted, ServiceUpserted, NodeUpserted]


def test_multi_document_yaml():
    text = "---\n".join(yaml.safe_dump(obj) for obj in CLUSTER)
    events, _ = read(text, source="in.yaml")
    assert [type(e) for e in events] == [NodeUpserted, ServiceUpserted, SliceUpserted]


def test_yaml_keeps_dates_as_strings_as_the_api_server_does():
    text = yaml.safe_dump(service("shop/web")).replace(
        "metadata:\n", "metadata:\n  annotations:\n    created: 2024-01-01\n"
    )
    assert "created: 2024-01-01" in text
    (event,), _ = read(text, source="in.yaml")
    assert event.name == "web"


def test_other_kinds_and_versions_skipped_and_counted():
    other_version = {**CLUSTER[2], "apiVersion": "discovery.k8s.io/v1alpha1"}
    items = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, CLUSTER[0], other_version]
    events, stats = read(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    assert len(events) == 1
    assert stats.skipped_kinds == {"ConfigMap": 1, "EndpointSlice discovery.k8s.io/v1alpha1": 1}
    events, stats = read(json.dumps(watch("ADDED", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})))
    assert events == [] and stats.skipped_kinds == {"Pod": 1}


@pytest.mark.parametrize(
    "text, message",
    [
        ("{}", "in.json: line 1: not a Kubernetes object (no apiVersion and no kind)"),
        ('{"kind": "Node", "metadata": {"name": "n"}}', "in.json: line 1: not a Kubernetes object (no apiVersion)"),
        ("metadata:\n  name: n\n", "in.json: document 1: not a Kubernetes object (no apiVersion and no kind)"),
        ('{"type": "ADDED", "object": {"metadata": {"name": "n"}}}', "in.json: line 1: not a Kubernetes object"),
        ("7\n", "in.json: document 1: expected an object, found integer"),
        ("[1, 2]", "in.json: line 1: expected an object, found list"),
    ],
)
def test_what_is_not_a_kubernetes_object_is_an_error(text, message):
    with pytest.raises(InputError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        read(text)
    _, stats = read(text, skip_invalid=True)
    assert stats.invalid == 1


def test_beta_slices_read_their_topology():
    beta = copy.deepcopy(CLUSTER[2])
    beta["apiVersion"] = "discovery.k8s.io/v1beta1"
    ep = beta["endpoints"][0]
    del ep["zone"]
    ep["topology"] = {"topology.kubernetes.io/zone": "zone-b", "kubernetes.io/hostname": "n7"}
    (event,), _ = read(json.dumps(beta))
    assert event.endpoints[0].zone == "zone-b" and event.endpoints[0].node_name == "n7"


# -- fields ---------------------------------------------------------------------


def test_slice_fields_normalised():
    obj = endpoint_slice(
        "shop/s",
        "web",
        [
            endpoint(
                "10.0.0.2",
                zone="zone-b",
                node="n2",
                hints=["zone-b", "zone-c"],
                node_hints=["n2"],
                ready=None,
                pod="p2",
                hostname="h",
            ),
            endpoint("10.0.0.3", zone=""),
        ],
    )
    (event,), _ = read(json.dumps(obj))
    ep = event.endpoints[0]
    assert ep.ready is None and ep.is_ready and not ep.is_terminating
    assert ep.for_zones == ("zone-b", "zone-c") and ep.for_nodes == ("n2",)
    assert ep.target == "Pod/ns/p2" and ep.hostname == "h" and ep.node_name == "n2"
    assert event.endpoints[1].zone is None and event.ports[0].protocol == "TCP"


def test_service_fields():
    svc = service(
        "shop/web",
        ports=((80, "http"), (9090, "grpc")),
        itp="Local",
        type="NodePort",
        trafficDistribution="PreferClose",
    )
    svc["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": "Auto"}
    (event,), _ = read(json.dumps(svc))
    assert event.internal_traffic_policy == "Local" and event.type == "NodePort"
    assert event.traffic_distribution == "PreferClose" and event.topology_mode == "Auto"
    assert [(p.port, p.name, p.target_port) for p in event.ports] == [(80, "http", "http"), (9090, "grpc", "grpc")]
    svc["metadata"]["annotations"]["service.kubernetes.io/topology-aware-hints"] = "Auto"
    (event,), _ = read(json.dumps(svc))
    assert event.topology_mode == "Auto"


def test_service_defaults_as_the_api_server_fills_them():
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"ports": [{"port": 80, "targetPort": 0}]},
    }
    (event,), _ = read(json.dumps(svc))
    assert (event.namespace, event.type, event.internal_traffic_policy) == ("default", "ClusterIP", "Cluster")
    assert event.ports[0].protocol == "TCP" and event.ports[0].target_port == 80
    headless = {**svc, "spec": {"clusterIP": "None"}}
    (event,), _ = read(json.dumps(headless))
    assert event.ports == ()


def test_node_allocatable_defaults_to_capacity():
    obj = with_field(NODE, "status", {"capacity": {"cpu": "2"}})
    (event,), _ = read(json.dumps(obj))
    assert event.cpu_millis == 2000
    obj = with_field(NODE, "status", {"capacity": {"cpu": "2"}, "allocatable": {"cpu": "1500m"}})
    (event,), _ = read(json.dumps(obj))
    assert event.cpu_millis == 1500


def test_node_roles_readiness_and_missing_zone():
    (event,), _ = read(json.dumps(node("cp", None, "2", ready=False, control_plane=True)))
    assert event == NodeUpserted("cp", None, 2000, False, True)


@pytest.mark.parametrize(
    "quantity, millis",
    [
        ("4", 4000),
        ("3500m", 3500),
        ("0.5", 500),
        (2, 2000),
        (0.25, 250),
        ("1.0001", 1001),
        ("2k", 2_000_000),
        ("250000u", 250),
        ("1e3", 1_000_000),
        ("+1", 1000),
    ],
)
def test_cpu_quantities(quantity, millis):
    assert parse_cpu_millis(quantity) == millis


@pytest.mark.parametrize("quantity", ["lots", "-1", "1.2.3", "1e400", "nan", True])
def test_cpu_quantities_refused(quantity):
    with pytest.raises(InputError):
        parse_cpu_millis(quantity)


# -- what the API server refuses ----------------------------------------------------


def slice_with(**endpoint_fields) -> dict:
    ep = {"addresses": ["10.0.0.1"], **endpoint_fields}
    return endpoint_slice("shop/s", "web", [ep])


def with_field(obj: dict, path: str, value) -> dict:
    obj = copy.deepcopy(obj)
    *parents, last = path.split(".")
    target = obj
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return obj


SLICE = endpoint_slice("shop/s", "web", [endpoint("10.0.0.1", zone="zone-a", node="n1", hints=["zone-a"], pod="p")])
SERVICE = service("shop/web")
NODE = node("n1", "zone-a")

REFUSED = [
    # addresses, per addressType
    (
        slice_with(addresses=["10.0.0.01"]),
        "endpoints[0].addresses[0]: '10.0.0.01': not a valid IP address (leading zeros",
    ),
    (slice_with(addresses=["2001:db8::1"]), "endpoints[0].addresses[0]: '2001:db8::1': not an IPv4 address"),
    (slice_with(addresses=["10.0.0.1", "127.0.0.1"]), "endpoints[0].addresses[1]: '127.0.0.1': a loopback address"),
    (slice_with(addresses=["169.254.1.1"]), "a link-local address is not allowed"),
    (slice_with(addresses=["0.0.0.0"]), "the unspecified address is not allowed"),
    (slice_with(addresses=["224.0.0.5"]), "a link-local multicast address is not allowed"),
    (slice_with(addresses=["10.0.0"]), "not a valid IP address"),
    (slice_with(addresses=[]), "endpoints[0].addresses: must not be empty"),
    (
        slice_with(addresses=[f"10.0.1.{i}" for i in range(1, 102)]),
        "endpoints[0].addresses: 101 entries exceed the API limit of 100",
    ),
    ({**slice_with(addresses=["10.0.0.1"]), "addressType": "IPv6"}, "'10.0.0.1': not an IPv6 address"),
    (
        {**slice_with(addresses=["::ffff:10.0.0.1"]), "addressType": "IPv6"},
        "an IPv4-mapped IPv6 address is not allowed",
    ),
    ({**slice_with(addresses=["fe80::1%eth0"]), "addressType": "IPv6"}, "a zone is not allowed"),
    ({**slice_with(addresses=["ff02::1"]), "addressType": "IPv6"}, "a link-local multicast address"),
    ({**slice_with(addresses=["::1"]), "addressType": "IPv6"}, "a loopback address"),
    ({**slice_with(addresses=["db"]), "addressType": "FQDN"}, "'db': not fully qualified"),
    ({**slice_with(addresses=["Db.example.com"]), "addressType": "FQDN"}, "not a lowercase RFC 1123 subdomain"),
    ({**SLICE, "addressType": "IP"}, "addressType: unsupported value 'IP' (supported: IPv4, IPv6, FQDN)"),
    ({k: v for k, v in SLICE.items() if k != "addressType"}, "addressType: required field is missing"),
    # endpoint fields
    (slice_with(nodeName="Node_1"), "endpoints[0].nodeName: 'Node_1': not a lowercase RFC 1123 subdomain"),
    (slice_with(nodeName=""), "endpoints[0].nodeName: '': not a lowercase RFC 1123 subdomain"),
    (slice_with(hostname="a.b"), "endpoints[0].hostname: 'a.b': not a lowercase RFC 1123 label"),
    (slice_with(conditions={"ready": "yes"}), "endpoints[0].conditions.ready: expected a boolean, found string"),
    (
        slice_with(hints={"forZones": [{"name": f"z{i}"} for i in range(9)]}),
        "endpoints[0].hints.forZones: 9 entries exceed the API limit of 8",
    ),
    (slice_with(hints={"forZones": [{"name": "a"}, {"name": "a"}]}), "endpoints[0].hints.forZones: duplicate name 'a'"),
    (
        slice_with(hints={"forZones": [{"name": "zone a"}]}),
        "endpoints[0].hints.forZones[0].name: 'zone a': not a label value",
    ),
    (slice_with(hints={"forNodes": [{"name": "N"}]}), "endpoints[0].hints.forNodes[0].name: 'N'"),
    (
        slice_with(hints={"forZones": [{"name": 5}]}),
        "endpoints[0].hints.forZones[0].name: expected a string, found integer",
    ),
    (
        endpoint_slice("shop/s", "web", [endpoint(f"10.0.{i // 250}.{i % 250 + 1}") for i in range(1001)]),
        "endpoints: 1001 entries exceed the API limit of 1000",
    ),
    # slice ports
    (
        endpoint_slice("shop/s", "web", [], ports=(("http", 80), ("http", 81))),
        "ports[1].name: duplicate port name 'http'",
    ),
    (endpoint_slice("shop/s", "web", [], ports=(("HTTP", 80),)), "ports[0].name: not a lowercase RFC 1123 label"),
    (
        with_field(SLICE, "ports.0.protocol", "HTTP"),
        "ports[0].protocol: unsupported value 'HTTP' (supported: TCP, UDP, SCTP)",
    ),
    (with_field(SLICE, "ports.0.port", 2**31), "ports[0].port: 2147483648 is above the maximum 2147483647"),
    (with_field(SLICE, "ports.0.appProtocol", "a b"), "ports[0].appProtocol: name part not made of"),
    # object metadata
    (
        with_field(SLICE, "metadata.name", "S"),
        "(EndpointSlice shop/S): metadata.name: not a lowercase RFC 1123 subdomain",
    ),
    (with_field(SLICE, "metadata.name", "s" * 254), "metadata.name: longer than 253 characters"),
    (with_field(SLICE, "metadata.namespace", "shop.x"), "metadata.namespace: not a lowercase RFC 1123 label"),
    (with_field(SLICE, "metadata.labels", {"a/b/c": "x"}), "metadata.labels: key 'a/b/c': not a qualified name"),
    (
        with_field(SLICE, "metadata.labels", {"kubernetes.io/service-name": "w" * 64}),
        "metadata.labels.kubernetes.io/service-name: longer than 63 characters",
    ),
    (with_field(SLICE, "metadata.labels", {"x": 1}), "metadata.labels.x: expected a string, found integer"),
    (with_field(SLICE, "metadata.annotations", {"a": "x" * 300_000}), "metadata.annotations: 300,001 bytes exceed"),
    (with_field(SLICE, "metadata.annotations", {"_a": "x"}), "metadata.annotations: key '_a'"),
    (with_field(SLICE, "metadata", {}), "(EndpointSlice): metadata.name: required field is missing"),
    # Services
    (
        with_field(SERVICE, "metadata.name", "1web"),
        "(Service shop/1web): metadata.name: not a lowercase RFC 1035 label",
    ),
    (with_field(SERVICE, "spec.ports.0.port", 0), "spec.ports[0].port: 0 is below the minimum 1"),
    (with_field(SERVICE, "spec.ports.0.port", 65536), "spec.ports[0].port: 65536 is above the maximum 65535"),
    (with_field(SERVICE, "spec.ports.0.port", "eighty"), "spec.ports[0].port: expected an integer, found string"),
    (with_field(SERVICE, "spec.ports.0", {"name": "http"}), "spec.ports[0].port: required field is missing"),
    (with_field(SERVICE, "spec.ports.0.targetPort", "HTTP"), "spec.ports[0].targetPort: 'HTTP': not a port name"),
    (with_field(SERVICE, "spec.ports.0.targetPort", "1234"), "a port name needs at least one letter"),
    (
        with_field(SERVICE, "spec.ports.0.targetPort", 70000),
        "spec.ports[0].targetPort: 70000 is above the maximum 65535",
    ),
    (with_field(SERVICE, "spec.ports.0.protocol", "ICMP"), "spec.ports[0].protocol: unsupported value 'ICMP'"),
    (with_field(SERVICE, "spec.ports.0.nodePort", 30080), "spec.ports[0].nodePort: not allowed on a ClusterIP Service"),
    (
        service("shop/web", ports=((80, ""), (81, ""))),
        "spec.ports[0].name: required when a Service has more than one port",
    ),
    (service("shop/web", ports=((80, "a"), (80, "b"))), "spec.ports[1]: duplicate port 80/TCP"),
    (service("shop/web", ports=((80, "a"), (81, "a"))), "spec.ports[1].name: duplicate port name 'a'"),
    (service("shop/web", ports=()), "spec.ports: required field is missing"),
    (
        with_field(SERVICE, "spec.type", "Headless"),
        "spec.type: unsupported value 'Headless' (supported: ClusterIP, NodePort",
    ),
    (
        with_field(SERVICE, "spec.internalTrafficPolicy", "Node"),
        "spec.internalTrafficPolicy: unsupported value 'Node' (supported: Cluster, Local)",
    ),
    (
        with_field(SERVICE, "spec.externalTrafficPolicy", "Local"),
        "spec.externalTrafficPolicy: may only be set on an externally accessible Service",
    ),
    (
        with_field(SERVICE, "spec.trafficDistribution", "PreferRegion"),
        "spec.trafficDistribution: unsupported value 'PreferRegion'",
    ),
    (with_field(SERVICE, "spec.clusterIP", "10.0.0.300"), "spec.clusterIP: '10.0.0.300': not a valid IP address"),
    (with_field(SERVICE, "spec.externalIPs", ["127.0.0.1"]), "spec.externalIPs[0]: '127.0.0.1': a loopback address"),
    (with_field(SERVICE, "spec.type", "ExternalName"), "spec.externalName: required field is missing"),
    (
        with_field(with_field(SERVICE, "spec.type", "NodePort"), "spec.clusterIP", "None"),
        "spec.clusterIP: 'None' (headless) is not allowed",
    ),
    (
        with_field(
            SERVICE,
            "metadata.annotations",
            {"service.kubernetes.io/topology-mode": "Auto", "service.kubernetes.io/topology-aware-hints": "Disabled"},
        ),
        "metadata.annotations.service.kubernetes.io/topology-mode: 'Auto' differs from",
    ),
    (
        with_field(SERVICE, "status.loadBalancer.ingress", [{"hostname": "10.0.0.1"}]),
        "hostname: must be a DNS name, not an IP address",
    ),
    # Nodes
    (
        with_field(NODE, "metadata.namespace", "default"),
        "(Node n1): metadata.namespace: not allowed on a cluster-scoped Node",
    ),
    (with_field(NODE, "metadata.name", "n_1"), "(Node n_1): metadata.name: not a lowercase RFC 1123 subdomain"),
    (with_field(NODE, "status.allocatable.cpu", "lots"), "status.allocatable.cpu: not a quantity: 'lots'"),
    (with_field(NODE, "status.capacity", {"memory": "-1Gi"}), "status.capacity.memory: must not be negative"),
    (
        with_field(NODE, "status.allocatable.cpu", True),
        "status.allocatable.cpu: expected an integer or a number or a string, found boolean",
    ),
]


REFUSED += [
    (with_field(NODE, "metadata.name", "n\n1"), "(Node n\\n1): metadata.name"),
    (with_field(NODE, "status.capacity", {"m\nem": "x"}), "status.capacity.m\\nem: not a quantity"),
    (with_field(SLICE, "metadata.labels", {"a\nb": "x"}), "metadata.labels: key 'a\\nb'"),
]


@pytest.mark.parametrize("obj, message", REFUSED, ids=[m[:60] for _, m in REFUSED])
def test_refused_as_the_api_server_refuses(obj, message):
    line = error_of(obj)
    assert line.startswith("in.json: line 1 (")
    assert message in line


ACCEPTED = [
    (slice_with(addresses=["10.0.0.1", "10.255.255.254"]), "two addresses"),
    (
        {**slice_with(addresses=["2001:DB8:0:0:0:0:0:1"]), "addressType": "IPv6"},
        "non-canonical IPv6 (the API server warns)",
    ),
    ({**slice_with(addresses=["db.example.com."]), "addressType": "FQDN"}, "FQDN with a trailing dot"),
    (slice_with(zone="Any Zone / whatever"), "zone is not validated"),
    (slice_with(targetRef={"kind": "Anything", "name": "x y"}), "targetRef is not validated"),
    (slice_with(hints={"forZones": [{"name": f"z{i}"} for i in range(8)]}), "8 hints"),
    (with_field(SLICE, "ports.0.port", -5), "a slice port is any 32-bit integer"),
    (with_field(SLICE, "ports.0.name", ""), "one unnamed slice port"),
    (slice_with(conditions=None, hints=None, targetRef=None), "null means not set"),
    (with_field(SERVICE, "spec.trafficDistribution", "PreferSameNode"), "PreferSameNode"),
    (
        with_field(with_field(SERVICE, "spec.type", "LoadBalancer"), "spec.externalTrafficPolicy", "Local"),
        "ETP on a LoadBalancer",
    ),
    (
        with_field(with_field(SERVICE, "spec.type", "ExternalName"), "spec.externalName", "db.example.com."),
        "ExternalName",
    ),
    (with_field(SERVICE, "metadata.namespace", None), "no namespace: default"),
    (with_field(NODE, "status.allocatable", {"cpu": 4, "memory": "32Gi", "pods": "110"}), "quantities of every form"),
]


@pytest.mark.parametrize("obj, why", ACCEPTED, ids=[w for _, w in ACCEPTED])
def test_accepted_as_the_api_server_accepts(obj, why):
    events, _ = read(json.dumps(obj))
    assert len(events) == 1
    assert read_dicts([obj])[0] == events


BAD = [
    (
        '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": "eighty"}]}}',
        "in.json: line 1 (Service default/s): spec.ports[0].port: expected an integer, found string",
    ),
    ('{"type": "CHANGED", "object": {}}', "unknown watch event type 'CHANGED'"),
    ('{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"', "in.json: line 1: truncated JSON"),
    (
        '{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}\n{"kind" 1}\n',
        "in.json: line 2: malformed JSON",
    ),
    (
        '{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}\n\n'
        '{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "m"}} x\n',
        "in.json: line 3: malformed JSON",
    ),
    ("kind: Node\nmetadata: {name: [\n", "in.json: line 3: malformed YAML"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_input_one_clear_line(text, message):
    with pytest.raises(InputError) as info:
        read(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_skip_invalid_keeps_the_rest():
    bad = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "x"}, "status": {"allocatable": {"cpu": "lots"}}}
    events, stats = read(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": [bad, CLUSTER[0], 7]}), skip_invalid=True
    )
    assert [e.name for e in events] == ["n1"] and stats.invalid == 2
    lines = "\n".join(json.dumps(watch("ADDED", obj)) for obj in (bad, CLUSTER[0]))
    events, stats = read(lines, skip_invalid=True)
    assert [e.name for e in events] == ["n1"] and stats.invalid == 1


def test_live_stream_yields_before_end_of_input():
    """A pretty-printed watch stream is decoded value by value, not at EOF."""
    first = json.dumps(watch("ADDED", CLUSTER[0]), indent=2) + "\n"

    def lines():
        yield from io.BytesIO(first.encode())
        raise AssertionError("read past the first complete value")

    stats = ReadStats()
    events = iter_events(lines(), "stdin", stats)
    assert next(events).name == "n1"


def test_framing_tries_a_value_a_bounded_number_of_times():
    """Many lines that could end a value cost a logarithmic number of decode
    attempts, not one per line (linear time for hostile input)."""
    from engine.kube.read import iter_json

    lines = [b"[\n"] + [b"{},\n"] * 5000 + [b"{}\n", b"]\n"]
    calls = []

    def decode(value, location):
        calls.append(len(value))
        import msgspec

        return msgspec.json.decode(value)

    (value,) = list(iter_json(iter(lines), 1, "x", decode))
    assert len(value) == 5001 and len(calls) < 40


# -- embedders -----------------------------------------------------------------------


def test_engine_ingest_one_object_bytes_and_lines():
    eng = Engine()
    assert eng.ingest(CLUSTER[0]).appended == 1
    watch_lines = b"".join(json.dumps(watch("ADDED", obj)).encode() + b"\n" for obj in CLUSTER[1:])
    report = eng.ingest(watch_lines)
    assert report.appended == 2 and report.stats.objects == {"Service": 1, "EndpointSlice": 1}
    report = eng.ingest([json.dumps(watch("DELETED", CLUSTER[2])).encode(), CLUSTER[0]])
    assert report.appended == 2 and eng.state.slices == {}
    with pytest.raises(InputError, match=r"^objects\[1\]: line 1 \(Node\): metadata.name"):
        eng.ingest([CLUSTER[0], b'{"apiVersion": "v1", "kind": "Node", "metadata": {}}'])
    report = eng.ingest(yaml.safe_dump(node("n2", "zone-b")))
    assert report.appended == 1 and eng.state.nodes["n2"].zone == "zone-b"
    with pytest.raises(InputError, match="expected objects, or JSON or YAML text; found int"):
        eng.ingest(5)


def test_engine_ingest_of_bytes_equals_ingest_of_dicts():
    from_dicts, from_bytes = Engine(), Engine()
    from_dicts.ingest(CLUSTER)
    from_bytes.ingest([json.dumps(obj).encode() for obj in CLUSTER])
    assert from_dicts.state.dump() == from_bytes.state.dump()
