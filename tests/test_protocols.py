"""A Service port is a number *and* a protocol.  kube-proxy keys Service and
slice ports by (name, protocol); Linkerd's proxy carries TCP only and its
destination controller resolves a port by number alone, first Service port
first.  Checked through the API and the command line."""

import json

import pytest
from k8s import endpoint, node

from engine import ArgumentError, Engine, LookupFailed
from engine.arguments import service_port
from engine.cli import main


def dns_service(udp_first: bool = True) -> dict:
    udp = {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353}
    tcp = {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 5354}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "dns", "namespace": "kube-system"},
        "spec": {"ports": [udp, tcp] if udp_first else [tcp, udp]},
    }


def dns_slice() -> dict:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "addressType": "IPv4",
        "metadata": {"name": "dns-x", "namespace": "kube-system", "labels": {"kubernetes.io/service-name": "dns"}},
        "ports": [
            {"name": "dns", "port": 5353, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 5354, "protocol": "TCP"},
        ],
        "endpoints": [
            endpoint("10.0.0.1", zone="zone-a", node="n1", pod="dns-1", namespace="kube-system"),
            endpoint("10.0.0.2", zone="zone-b", node="n2", pod="dns-2", namespace="kube-system"),
        ],
    }


def cluster(udp_first: bool = True) -> list:
    return [node("n1", "zone-a"), node("n2", "zone-b"), dns_service(udp_first), dns_slice()]


def ports(selection) -> set:
    return {e.port for e in selection.endpoints}


@pytest.fixture
def eng():
    engine = Engine()
    engine.ingest(cluster())
    return engine


def test_kube_proxy_matches_the_protocol(eng):
    tcp = eng.endpoints("kube-system/dns", 53, node="n1", policy="kube-proxy")
    udp = eng.endpoints("kube-system/dns", 53, node="n1", policy="kube-proxy", protocol="udp")
    assert (tcp.protocol, ports(tcp)) == ("TCP", {5354}) and (udp.protocol, ports(udp)) == ("UDP", {5353})
    assert tcp.service_port == "kube-system/dns:53" and udp.service_port == "kube-system/dns:53/UDP"
    with pytest.raises(
        LookupFailed,
        match=r"^service kube-system/dns has no port 53/SCTP "
        r"\(ports: 53/UDP \(dns\), 53/TCP \(dns-tcp\)\)$",
    ):
        eng.endpoints("kube-system/dns", 53, node="n1", policy="kube-proxy", protocol="SCTP")
    unstrict = eng.endpoints("kube-system/dns", 53, node="n1", policy="kube-proxy", protocol="SCTP", strict=False)
    assert (unstrict.rule, unstrict.endpoints) == ("no-service", ())


@pytest.mark.parametrize("udp_first, port", [(True, 5353), (False, 5354)])
def test_linkerd_resolves_the_port_by_number_first_service_port_first(udp_first, port):
    """Linkerd's getTargetPort takes the first Service port with the number,
    whatever its protocol, so a TCP client of a UDP-first Service is sent to
    the UDP port's endpoint port: a fact of Linkerd, reproduced."""
    eng = Engine()
    eng.ingest(cluster(udp_first))
    assert ports(eng.endpoints("kube-system/dns", 53, node="n1", filtering=False)) == {port}


@pytest.mark.parametrize("policy", ["linkerd", "linkerd+nodes"])
def test_linkerd_answers_tcp_only(eng, policy):
    with pytest.raises(
        ArgumentError,
        match=r"^protocol: policy .* answers TCP only: Linkerd's proxy carries "
        r"TCP, UDP traffic to kube-system/dns:53 bypasses it",
    ):
        eng.endpoints("kube-system/dns", 53, node="n1", policy=policy, protocol="UDP")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("shop/web:80", ("shop/web", 80, "TCP")),
        ("shop/web:80/TCP", ("shop/web", 80, "TCP")),
        ("kube-system/dns:53/udp", ("kube-system/dns", 53, "UDP")),
        ("shop/sctp:9/SCTP", ("shop/sctp", 9, "SCTP")),
    ],
)
def test_service_port_syntax(text, expected):
    assert service_port(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "shop/web:80:90",
        "shop/web:80/",
        "shop/web:80/QUIC",
        "shop/web:80/tcp/x",
        "shop/web",
        "shop:80",
        "shop/web:0",
        "shop/web:http",
        "/web:80",
    ],
)
def test_anything_else_is_an_error(text):
    with pytest.raises(
        ArgumentError,
        match=r"expected NAMESPACE/NAME:PORT\[/PROTOCOL\]|outside 1..65535|"
        r"expected one of TCP, UDP, SCTP|expected \"namespace/name\"",
    ):
        service_port(text)


@pytest.fixture
def log(tmp_path):
    source = tmp_path / "dns.json"
    source.write_text(json.dumps({"kind": "List", "items": cluster()}))
    assert main(["ingest", str(tmp_path / "log"), str(source)]) == 0
    return tmp_path / "log"


def test_every_command_takes_the_protocol(log, tmp_path, capsys):
    capsys.readouterr()
    assert (
        main(["endpoints", str(log), "kube-system/dns:53/UDP", "--node", "n1", "--policy", "kube-proxy", "--json"]) == 0
    )
    answer = json.loads(capsys.readouterr().out)
    assert answer["protocol"] == "UDP" and {e["port"] for e in answer["endpoints"]} == {5353}
    assert main(["explain", str(log), "kube-system/dns:53/udp", "--zone", "zone-b", "--policy", "kube-proxy"]) == 0
    assert capsys.readouterr().out.startswith("kube-system/dns:53/UDP for a client on zone zone-b, policy kube-proxy")
    assert (
        main(
            ["whatif", str(log), "kube-system/dns:53/UDP", "--policy", "kube-proxy", "--scenario", "recorded", "--json"]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["scenarios"][0]["endpoints"] != []
    assert (
        main(
            [
                "replay",
                str(log),
                "--policy",
                "kube-proxy",
                "--watch",
                "kube-system/dns:53/UDP@n1",
                "--watch",
                "kube-system/dns:53@zone:zone-b",
                "--json",
            ]
        )
        == 0
    )
    updates = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted((u["watch"], [e["port"] for e in u["endpoints"]]) for u in updates) == [
        ("kube-system/dns:53/UDP@n1", [5353, 5353]),
        ("kube-system/dns:53@zone:zone-b", [5354, 5354]),
    ]


@pytest.mark.parametrize(
    "command",
    [
        ["endpoints", "--node", "n1"],
        ["explain", "--node", "n1"],
        ["whatif"],
        ["follow", "--node", "n1", "--timeout", "0"],
    ],
)
@pytest.mark.parametrize("target", ["kube-system/dns:53:90", "kube-system/dns:53/QUIC"])
def test_a_bad_target_is_a_usage_error_everywhere(log, capsys, command, target):
    with pytest.raises(SystemExit) as info:
        main([command[0], str(log), target, *command[1:]])
    assert info.value.code == 2 and "NAMESPACE/NAME:PORT[/PROTOCOL]" in capsys.readouterr().err


def test_udp_under_linkerd_is_a_usage_error(log, capsys):
    with pytest.raises(SystemExit) as info:
        main(["endpoints", str(log), "kube-system/dns:53/UDP", "--node", "n1"])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err == (
        "topology-engine endpoints: error: protocol: policy linkerd answers TCP only: Linkerd's proxy "
        "carries TCP, UDP traffic to kube-system/dns:53 bypasses it (ask policy kube-proxy)\n"
    )
