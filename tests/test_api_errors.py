"""The API says what is wrong: bad arguments raise an EngineError subclass
exported from ``engine`` whose message names the argument; ``Engine.follow``
is the command line's follow loop."""

import inspect
import time

import pytest
from k8s import endpoint, endpoint_slice, two_zone_cluster

import engine
from engine import ArgumentError, Engine, EngineError, LookupFailed, Overflow
from engine.log import EventLog
from engine.whatif import whatif


@pytest.fixture
def eng():
    e = Engine()
    e.ingest(two_zone_cluster())
    return e


def test_every_exported_error_is_an_engine_error():
    exported = [getattr(engine, name) for name in engine.__all__]
    errors = [obj for obj in exported if inspect.isclass(obj) and issubclass(obj, BaseException)]
    assert {e.__name__ for e in errors} >= {"ArgumentError", "LookupFailed", "Overflow", "InputError", "LogError"}
    assert all(issubclass(e, EngineError) for e in errors)


@pytest.mark.parametrize(
    "call, argument, message",
    [
        (lambda e: e.endpoints("ns/web", "80", node="n1"), "port", "expected an integer 1..65535, got str '80'"),
        (lambda e: e.endpoints("ns/web", 80.0, node="n1"), "port", "expected an integer 1..65535, got float 80.0"),
        (lambda e: e.endpoints("ns/web", True, node="n1"), "port", "expected an integer 1..65535, got bool True"),
        (lambda e: e.endpoints("ns/web", 70000, node="n1"), "port", "70000 is outside 1..65535"),
        (lambda e: e.endpoints("ns-web", 80, node="n1"), "service", "expected \"namespace/name\", got str 'ns-web'"),
        (
            lambda e: e.endpoints("ns/web", 80, node=1),
            "node",
            "expected a name (a non-empty string) or None, got int 1",
        ),
        (
            lambda e: e.endpoints("ns/web", 80, zone=""),
            "zone",
            "expected a name (a non-empty string) or None, got str ''",
        ),
        (
            lambda e: e.endpoints("ns/web", 80, node="n1", policy="istio"),
            "policy",
            "unknown policy 'istio' (known: linkerd, linkerd+nodes, kube-proxy)",
        ),
        (
            lambda e: e.endpoints("ns/web", 80, node="n1", protocol="QUIC"),
            "protocol",
            "expected one of TCP, UDP, SCTP, got str 'QUIC'",
        ),
        (
            lambda e: e.subscribe("ns/web", "80", node="n1", on_update=print),
            "port",
            "expected an integer 1..65535, got str '80'",
        ),
        (
            lambda e: whatif(e, "ns/web", 80, policy="istio"),
            "policy",
            "unknown policy 'istio' (known: linkerd, linkerd+nodes, kube-proxy)",
        ),
        (
            lambda e: whatif(e, "ns/web", 80, price_per_gb=0.01),
            "price_per_gb",
            "a price per GB needs bytes_per_request",
        ),
    ],
)
def test_bad_arguments_name_the_argument(eng, call, argument, message):
    with pytest.raises(ArgumentError) as info:
        call(eng)
    assert info.value.argument == argument and str(info.value) == f"{argument}: {message}"
    assert not isinstance(info.value, LookupFailed)


def test_a_query_answered_once_is_checked_again_only_when_it_changes(eng):
    assert eng.endpoints("ns/web", 80, node="n1").rule == "zone-hints"
    with pytest.raises(ArgumentError, match="^port: "):
        eng.endpoints("ns/web", "80", node="n1")


def test_client_names_the_cluster_does_not_have(eng):
    eng.check_client("n1")
    eng.check_client(zone="zone-b")
    with pytest.raises(LookupFailed, match=r"^node: no node n3 \(nodes: n1, n2\)$"):
        eng.check_client("n3")
    with pytest.raises(LookupFailed, match=r"^zone: no zone zone-c \(did you mean zone-a, zone-b\?\)$"):
        eng.check_client(zone="zone-c")
    # Queries themselves answer as Linkerd does: an unknown node has no zone.
    assert eng.endpoints("ns/web", 80, node="n3").rule == "no-zone-match"


def test_overflow_is_an_engine_error():
    assert issubclass(Overflow, EngineError) and engine.Overflow is Overflow


@pytest.fixture
def log(tmp_path):
    with Engine.open(tmp_path / "log", create=True, write=True) as writer:
        writer.ingest(two_zone_cluster())
    return tmp_path / "log"


def written_at(path, seq):
    with EventLog.open(path) as reader:
        return next(written for _, written, _ in reader.read(seq, seq))


@pytest.mark.parametrize("from_snapshot", [False, True])
def test_follow_yields_the_current_selection_stamped_with_its_event_then_each_change(log, from_snapshot):
    if from_snapshot:
        with Engine.open(log) as e:
            e.snapshot()
    time.sleep(1.1)  # "now" is well after the last event was written
    with Engine.open(log) as follower:
        updates = follower.follow("ns/web", 80, zone="zone-b", timeout=2)
        first, stamp = next(updates)
        assert (first.op, first.seq, [e.address for e in first.endpoints]) == ("add", 4, ["10.0.0.2"])
        assert stamp == written_at(log, 4) and time.time() - stamp > 1
        with Engine.open(log, write=True) as writer:
            writer.ingest(
                [endpoint_slice("ns/s", "web", [endpoint("10.0.0.9", zone="zone-b", hints=["zone-b"], pod="p9")])]
            )
        rest = list(updates)  # ends after 2 idle seconds
    assert [(u.op, u.seq, [e.address for e in u.endpoints]) for u, _ in rest] == [
        ("add", 5, ["10.0.0.9"]),
        ("remove", 5, ["10.0.0.2"]),
    ]
    assert all(stamp == written_at(log, 5) for _, stamp in rest)
    assert follower.subscriptions.group_count == 0  # the subscription ends with the iterator


def test_follow_checks_the_question_first(log):
    with Engine.open(log) as follower:
        with pytest.raises(LookupFailed, match="service ns/nope not found"):
            next(follower.follow("ns/nope", 80, node="n1"))
        with pytest.raises(ArgumentError, match="^protocol: policy linkerd answers TCP only"):
            next(follower.follow("ns/web", 80, node="n1", protocol="UDP"))
