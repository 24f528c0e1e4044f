"""Kubernetes input: every accepted shape, and precise errors for bad input."""
import io
import json

import pytest
import yaml

from engine.errors import InputError
from engine.events import NodeDeleted, NodeUpserted, ServiceUpserted, SliceDeleted, SliceUpserted
from engine.kube import ReadStats, iter_events, parse_cpu_millis

from k8s import endpoint, endpoint_slice, node, service, watch


def read(text: str, skip_invalid: bool = False):
    stats = ReadStats()
    return list(iter_events(io.StringIO(text), "in.json", stats, skip_invalid=skip_invalid)), stats


CLUSTER = [
    node("n1", "zone-a", "3500m"),
    service("shop/web"),
    endpoint_slice("shop/web-1", "web", [endpoint("10.0.0.1", zone="zone-a", hints=["zone-a"], pod="p1")]),
]


def test_single_object():
    events, stats = read(json.dumps(CLUSTER[0]))
    assert events == [NodeUpserted("n1", "zone-a", 3500, True, False)]
    assert stats.objects == {"Node": 1}


def test_list_and_typed_list_without_item_kinds():
    events, _ = read(json.dumps({"apiVersion": "v1", "kind": "List", "items": CLUSTER}))
    assert [type(e) for e in events] == [NodeUpserted, ServiceUpserted, SliceUpserted]
    bare = {k: v for k, v in CLUSTER[0].items() if k not in ("kind", "apiVersion")}
    events, _ = read(json.dumps({"kind": "NodeList", "items": [bare]}))
    assert events[0].name == "n1"


def test_pretty_printed_watch_stream_and_bookmarks():
    stream = "".join(json.dumps(doc, indent=4) + "\n" for doc in [
        watch("ADDED", CLUSTER[2]),
        {"type": "BOOKMARK", "object": {"kind": "EndpointSlice", "metadata": {"resourceVersion": "9"}}},
        watch("DELETED", CLUSTER[2]),
    ])
    events, stats = read(stream)
    assert type(events[0]) is SliceUpserted and events[1] == SliceDeleted("shop", "web-1", "web")
    assert stats.bookmarks == 1


def test_concatenated_json_on_one_line():
    events, _ = read(json.dumps(CLUSTER[0]) + json.dumps(watch("DELETED", CLUSTER[0])))
    assert events[1] == NodeDeleted("n1")


def test_multi_document_yaml():
    text = "---\n".join(yaml.safe_dump(obj) for obj in CLUSTER)
    events, _ = read(text)
    assert [type(e) for e in events] == [NodeUpserted, ServiceUpserted, SliceUpserted]


def test_other_kinds_skipped_and_counted():
    events, stats = read(json.dumps({"kind": "List", "items": [{"kind": "ConfigMap", "metadata": {"name": "x"}}, CLUSTER[0]]}))
    assert len(events) == 1 and stats.skipped_kinds == {"ConfigMap": 1}


def test_slice_fields_normalised():
    obj = endpoint_slice("shop/s", "web", [
        endpoint("10.0.0.2", zone="zone-b", node="n2", hints=["zone-b", "zone-c"], node_hints=["n2"],
                 ready=None, pod="p2", hostname="h"),
    ])
    (event,), _ = read(json.dumps(obj))
    ep = event.endpoints[0]
    assert ep.ready is None and ep.is_ready and not ep.is_terminating
    assert ep.for_zones == ("zone-b", "zone-c") and ep.for_nodes == ("n2",)
    assert ep.target == "Pod/ns/p2" and ep.hostname == "h" and ep.node_name == "n2"


def test_service_fields():
    svc = service("shop/web", ports=((80, "http"), (9090, "grpc")), itp="Local", type="NodePort",
                  trafficDistribution="PreferClose")
    svc["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": "Auto",
                                      "service.kubernetes.io/topology-aware-hints": "Disabled"}
    (event,), _ = read(json.dumps(svc))
    assert event.internal_traffic_policy == "Local" and event.type == "NodePort"
    assert event.traffic_distribution == "PreferClose"
    assert event.topology_mode == "Disabled"  # the deprecated annotation is read first
    assert [(p.port, p.name, p.target_port) for p in event.ports] == [(80, "http", "http"), (9090, "grpc", "grpc")]


def test_node_roles_readiness_and_missing_zone():
    (event,), _ = read(json.dumps(node("cp", None, "2", ready=False, control_plane=True)))
    assert event == NodeUpserted("cp", None, 2000, False, True)


@pytest.mark.parametrize("quantity, millis", [("4", 4000), ("3500m", 3500), ("0.5", 500), (2, 2000),
                                              ("1.0001", 1001), ("2k", 2_000_000)])
def test_cpu_quantities(quantity, millis):
    assert parse_cpu_millis(quantity) == millis


BAD = [
    ('{"kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": "eighty"}]}}',
     "in.json: line 1 (Service default/s): spec.ports[0].port: expected an integer, found string"),
    ('{"type": "CHANGED", "object": {}}', "unknown watch event type 'CHANGED'"),
    ('{"kind": "Node", "metadata": {"name": "n"', "in.json: line 1: truncated JSON"),
    ('{"kind": "Node", "metadata": {"name": "n"}}\n{"kind" 1}\n', "in.json: line 2: malformed JSON"),
    ('{"kind": "Node", "metadata": {}}', "in.json: line 1 (Node): metadata.name: required field is missing"),
    ('{"kind": "EndpointSlice", "metadata": {"name": "s"}, "endpoints": []}', "addressType: required field is missing"),
    ('{"kind": "EndpointSlice", "metadata": {"name": "s"}, "addressType": "IPv4", '
     '"endpoints": [{"addresses": ["1.1.1.1"], "conditions": {"ready": "yes"}}]}',
     "endpoints[0].conditions.ready: expected a boolean, found string"),
    ("kind: Node\nmetadata: {name: [\n", "in.json: line 3: malformed YAML"),
    ('{"kind": "Node", "metadata": {"name": "' + "n" * 300 + '"}}', "longer than 253"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_input_one_clear_line(text, message):
    with pytest.raises(InputError) as info:
        read(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_oversized_slice_rejected():
    obj = endpoint_slice("shop/s", "web", [endpoint(f"10.0.{i // 250}.{i % 250}") for i in range(1001)])
    with pytest.raises(InputError, match="1001 entries exceed the API limit of 1000"):
        read(json.dumps(obj))


def test_skip_invalid_keeps_the_rest():
    bad = {"kind": "Node", "metadata": {"name": "x"}, "status": {"allocatable": {"cpu": "lots"}}}
    events, stats = read(json.dumps({"kind": "List", "items": [bad, CLUSTER[0]]}), skip_invalid=True)
    assert [e.name for e in events] == ["n1"] and stats.invalid == 1


def test_live_stream_yields_before_end_of_input():
    """A pretty-printed watch stream is decoded value by value, not at EOF."""
    first = json.dumps(watch("ADDED", CLUSTER[0]), indent=2) + "\n"

    def lines():
        yield from io.StringIO(first)
        raise AssertionError("read past the first complete value")

    stats = ReadStats()
    events = iter_events(lines(), "stdin", stats)
    assert next(events).name == "n1"
