"""The command line: outputs, exit codes, and bad input that changes nothing."""

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from k8s import endpoint, endpoint_slice, node, two_zone_cluster, watch

from engine.cli import main

CLUSTER = two_zone_cluster()


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def log_bytes(path: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


@pytest.fixture
def log(tmp_path, capsys):
    source = tmp_path / "cluster.json"
    source.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": CLUSTER}))
    code, out, _ = run(capsys, "ingest", tmp_path / "log", source)
    assert code == 0 and "appended: 4 events (seq 1..4)" in out
    return tmp_path / "log"


def test_endpoints_table_and_json(log, capsys):
    code, out, _ = run(capsys, "endpoints", log, "ns/web:80", "--node", "n1")
    assert code == 0 and "rule: zone-hints" in out and "10.0.0.1" in out and "10.0.0.2" not in out
    code, out, _ = run(capsys, "endpoints", log, "ns/web:80", "--zone", "zone-b", "--json")
    answer = json.loads(out)
    assert answer["rule"] == "zone-hints" and [e["address"] for e in answer["endpoints"]] == ["10.0.0.2"]
    assert answer["endpoints"][0] == {
        "address": "10.0.0.2",
        "port": 8080,
        "node": None,
        "zone": "zone-b",
        "for_zones": ["zone-b"],
        "for_nodes": [],
        "target": "Pod/ns/p2",
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["ns/wbe:80", "--node", "n1"], "service ns/wbe not found (services in ns: web)"),
        (["ns/web:81", "--node", "n1"], "service ns/web has no port 81/TCP (ports: 80/TCP (http))"),
    ],
)
def test_unknown_service_or_port_is_one_line_exit_1(log, capsys, args, message):
    code, out, err = run(capsys, "endpoints", log, *args)
    assert code == 1 and out == "" and err == f"topology-engine: {message}\n"


@pytest.mark.parametrize(
    "args",
    [
        ["endpoints", "LOG", "ns/web", "--node", "n1"],
        ["endpoints", "LOG", "ns/web:80"],
        ["endpoints", "LOG", "ns/web:80", "--node", "n1", "--zone", "a"],
        ["endpoints", "LOG", "ns/web:80", "--node", "n1", "--policy", "nope"],
        ["replay", "LOG", "--until", "minus"],
    ],
)
def test_usage_errors_exit_2(log, capsys, args):
    with pytest.raises(SystemExit) as info:
        main([str(log) if a == "LOG" else a for a in args])
    assert info.value.code == 2


def test_batch_answers_every_line_and_flags_errors(log, tmp_path, capsys):
    batch = tmp_path / "q.jsonl"
    batch.write_text(
        '{"service": "ns/web", "port": 80, "node": "n2"}\n'
        "not json\n"
        '{"service": "ns/web", "port": "eighty", "zone": "a"}\n'
        '{"service": "ns/web", "port": 80, "zone": "zone-a", "policy": "kube-proxy"}\n'
        '{"service": "ns/web", "port": 80, "zone": "zone-q"}\n'
        '{"service": "ns/web", "port": 80, "node": "n1", "protocol": "udp", "policy": "kube-proxy"}\n'
        '{"service": "ns/web", "port": 80, "node": "n1", "protocol": "UDP"}\n'
        '{"service": "ns/web", "port": 80, "node": "n1", "protocl": "TCP"}\n'
    )
    code, out, _ = run(capsys, "endpoints", log, "--batch", batch, "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(lines) == 8
    assert [e["address"] for e in lines[0]["endpoints"]] == ["10.0.0.2"] and lines[0]["protocol"] == "TCP"
    assert "line 2: malformed JSON" in lines[1]["error"]
    assert lines[2]["error"].endswith("line 3: port: expected an integer 1..65535, got str 'eighty'")
    assert lines[3]["policy"] == "kube-proxy" and lines[3]["rule"] == "zone-hints"
    assert lines[4]["error"].endswith("line 5: zone: no zone zone-q (did you mean zone-a, zone-b?)")
    assert "line 6: service ns/web has no port 80/UDP (ports: 80/TCP (http))" in lines[5]["error"]
    assert "line 7: protocol: policy linkerd answers TCP only" in lines[6]["error"]
    assert "line 8: unknown key(s) 'protocl'" in lines[7]["error"]


BAD_INPUTS = [
    (
        '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "ns"}, '
        '"spec": {"ports": [{"port": "eighty"}]}}',
        "spec.ports[0].port: expected an integer, found string",
    ),
    ('{"apiVersion": "v1", "kind": "List", "items": [', "truncated JSON"),
    (
        '{"type": "UPDATED", "object": {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "x"}}}',
        "unknown watch event type",
    ),
    ("kind: Node\nmetadata:\n  name: [oops\n", "malformed YAML"),
]


@pytest.mark.parametrize("text, message", BAD_INPUTS)
def test_bad_input_appends_nothing(log, tmp_path, capsys, text, message):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(node("n9", "zone-c")))
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    before = log_bytes(log)
    code, out, err = run(capsys, "ingest", log, good, bad)
    assert code == 1 and message in err and err.count("\n") == 1 and str(bad) in err
    assert log_bytes(log) == before


def test_skip_invalid_appends_the_valid_objects(log, tmp_path, capsys):
    mixed = tmp_path / "mixed.json"
    mixed.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    {
                        "apiVersion": "v1",
                        "kind": "Node",
                        "metadata": {"name": "x"},
                        "status": {"allocatable": {"cpu": "lots"}},
                    },
                    node("n3", "zone-c"),
                ],
            }
        )
    )
    code, out, _ = run(capsys, "ingest", log, mixed, "--skip-invalid")
    assert code == 0 and "skipped invalid objects: 1" in out and "appended: 1 events (seq 5..5)" in out


def test_missing_file_and_missing_log(tmp_path, capsys):
    code, _, err = run(capsys, "ingest", tmp_path / "log", tmp_path / "absent.json")
    assert code == 1 and "absent.json: cannot read" in err and not (tmp_path / "log").exists()
    code, _, err = run(capsys, "endpoints", tmp_path / "nolog", "ns/web:80", "--node", "n1")
    assert code == 1 and "nolog" in err


HOSTILE = [
    b"random \xff\xfe bytes that are not UTF-8 \x80",
    b'{"apiVersion": "v1", "kind": "Node", "metadata": {}}',
    b"{}",
    b"[" * 200_000,
    b'{"apiVersion": "v1", "kind": "List", "items": [',
]


def use_stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


@pytest.mark.parametrize("data", HOSTILE, ids=["bytes", "no-name", "not-an-object", "deep", "truncated"])
def test_failed_ingest_creates_nothing(tmp_path, capsys, monkeypatch, data):
    bad = tmp_path / "bad.json"
    bad.write_bytes(data)
    target = tmp_path / "log"
    code, out, err = run(capsys, "ingest", target, bad)
    assert code == 1 and out == "" and err.count("\n") == 1 and err.startswith(f"topology-engine: {bad}")
    use_stdin(monkeypatch, data)
    code, out, err = run(capsys, "ingest", target, "-")
    assert code == 1 and err.count("\n") == 1 and err.startswith("topology-engine: <stdin>")
    assert not target.exists()


def test_failed_stdin_ingest_changes_no_log(log, capsys, monkeypatch):
    before = log_bytes(log)
    use_stdin(monkeypatch, HOSTILE[1])
    code, _, err = run(capsys, "ingest", log, "-")
    assert code == 1 and "metadata.name: required field is missing" in err
    assert log_bytes(log) == before


def test_a_powershell_file_is_read(tmp_path, capsys):
    """PowerShell's `>` writes UTF-16 with a byte-order mark and CRLF line ends."""
    source = tmp_path / "cluster.json"
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": CLUSTER}, indent=2).replace("\n", "\r\n")
    source.write_bytes(text.encode("utf-16"))
    code, out, _ = run(capsys, "ingest", tmp_path / "log", source)
    assert code == 0 and "read: 1 EndpointSlice, 2 Node, 1 Service" in out


def test_empty_stdin_leaves_an_empty_log(tmp_path, capsys, monkeypatch):
    use_stdin(monkeypatch, b"")
    code, out, _ = run(capsys, "ingest", tmp_path / "log", "-")
    assert code == 0 and "appended: 0 events" in out and (tmp_path / "log").is_dir()


def test_random_bytes_on_a_real_stdin_are_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "engine", "ingest", str(tmp_path / "log"), "-"],
        input=bytes(range(256)) * 4,
        capture_output=True,
    )
    assert result.returncode == 1 and result.stderr.count(b"\n") == 1 and b"Traceback" not in result.stderr
    assert b"byte" in result.stderr and not (tmp_path / "log").exists()


def test_replay_summary_and_watch(log, capsys):
    code, out, _ = run(capsys, "replay", log)
    assert code == 0 and "replayed 4 events" in out and "endpoints: 2" in out
    code, out, _ = run(capsys, "replay", log, "--watch", "ns/web:80@n1", "--json")
    (update,) = [json.loads(line) for line in out.splitlines()]
    assert update["seq"] == 4 and update["op"] == "add" and update["watch"] == "ns/web:80@n1"


def test_log_maintenance_commands(log, capsys):
    assert run(capsys, "snapshot", log)[1].startswith("snapshot at seq 4")
    code, out, _ = run(capsys, "stats", log, "--json")
    info = json.loads(out)
    assert info["events"] == 4 and info["snapshots"][0]["seq"] == 4
    assert run(capsys, "verify", log)[0] == 0
    assert "nothing to compact" in run(capsys, "compact", log)[1]
    assert run(capsys, "repair", log)[1] == "nothing to repair\n"


def test_verify_and_repair_a_damaged_log(log, tmp_path, capsys):
    more = tmp_path / "more.json"
    more.write_text(json.dumps(node("n5", "zone-c")))
    run(capsys, "ingest", log, more)
    segment = next(log.glob("*.log"))
    data = bytearray(segment.read_bytes())
    data[40] ^= 0x01  # inside the first frame, which a valid frame follows
    segment.write_bytes(bytes(data))
    code, out, _ = run(capsys, "verify", log)
    assert code == 1 and "DAMAGE" in out
    code, out, err = run(capsys, "endpoints", log, "ns/web:80", "--node", "n1")
    assert code == 1 and segment.name in err
    code, out, _ = run(capsys, "repair", log)
    assert "would cut" in out and "--truncate" in out
    code, out, _ = run(capsys, "repair", log, "--truncate")
    assert code == 0 and "the log now ends at seq 0" in out
    assert run(capsys, "verify", log)[0] == 0


def test_stdin_stream_is_committed_as_it_arrives(tmp_path):
    """`kubectl --watch | ingest LOG -`: a follower sees the first event before the stream ends."""
    path = tmp_path / "log"
    writer = subprocess.Popen(
        [sys.executable, "-m", "engine", "ingest", str(path), "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        writer.stdin.write(json.dumps(watch("ADDED", node("n1", "zone-a"))) + "\n")
        writer.stdin.flush()
        deadline = time.monotonic() + 10
        seen = 0
        while time.monotonic() < deadline and not seen:
            time.sleep(0.1)
            if any(path.glob("*.log")):
                from engine.log import EventLog

                with EventLog.open(path) as reader:
                    seen = reader.last_seq
        assert seen == 1, "the first event was not committed while the stream stayed open"
        writer.stdin.write(json.dumps(watch("ADDED", node("n2", "zone-b"))) + "\n")
        writer.stdin.close()
        assert writer.wait(20) == 0
        assert "appended: 2 events" in writer.stdout.read()
    finally:
        if writer.poll() is None:
            writer.kill()


def test_follow_prints_the_selection_then_changes(log, tmp_path):
    follower = subprocess.Popen(
        [sys.executable, "-m", "engine", "follow", str(log), "ns/web:80", "--node", "n1", "--json", "--timeout", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = json.loads(follower.stdout.readline())
        assert first["op"] == "add" and [e["address"] for e in first["endpoints"]] == ["10.0.0.1"]
        change = tmp_path / "change.json"
        change.write_text(
            json.dumps(endpoint_slice("ns/s", "web", [endpoint("10.0.0.7", zone="zone-a", hints=["zone-a"], pod="p7")]))
        )
        assert main(["ingest", str(log), str(change)]) == 0
        updates = [json.loads(follower.stdout.readline()) for _ in range(2)]
        assert [(u["op"], u["seq"]) for u in updates] == [("add", 5), ("remove", 5)]
        assert follower.wait(20) == 0
    finally:
        if follower.poll() is None:
            follower.kill()


def test_demo_runs_and_help_explains(capsys):
    code, out, _ = run(capsys, "demo")
    assert code == 0 and "shop/web:80" in out and "zone-hints" in out and "remove" in out
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0 and "endpoints" in capsys.readouterr().out


def test_version_comes_from_the_package_metadata(capsys):
    from importlib.metadata import version

    import engine

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out == f"topology-engine {version('topology-engine')}\n"
    assert engine.__version__ == version("topology-engine")


def test_the_demo_data_is_package_data():
    import engine
    from engine.demo import demo_data

    data = demo_data()
    assert Path(str(data)).parent == Path(engine.__file__).parent
    assert data.joinpath("cluster.json").is_file() and data.joinpath("changes.jsonl").is_file()


def test_python_dash_m_engine_is_the_command():
    done = subprocess.run([sys.executable, "-m", "engine", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "topology-engine" in done.stdout


def test_torn_tail_is_reported_not_hidden(log, tmp_path, capsys):
    more = tmp_path / "more.json"
    more.write_text(json.dumps(node("n5", "zone-c")))
    run(capsys, "ingest", log, more)
    segment = next(log.glob("*.log"))
    segment.write_bytes(segment.read_bytes()[:-3])  # a crash mid-write of the last batch
    code, out, err = run(capsys, "endpoints", log, "ns/web:80", "--node", "n1")
    assert code == 0 and "10.0.0.1" in out
    assert err.startswith("topology-engine: warning:") and "torn frame" in err


def test_hints_explain_and_whatif_commands(log, tmp_path, capsys):
    code, out, _ = run(capsys, "hints", log, "ns/web", "--mode", "prefer-close", "--json")
    report = json.loads(out)
    assert code == 0 and report["mode"] == "prefer-same-zone" and report["written"] is True
    assert {e["address"]: e["status"] for e in report["endpoints"]} == {"10.0.0.1": "ok", "10.0.0.2": "ok"}
    code, out, _ = run(capsys, "explain", log, "ns/web:80", "--node", "n1", "--endpoint", "10.0.0.2", "--json")
    expl = json.loads(out)
    assert code == 0 and expl["rule"] == "zone-hints"
    assert [v["selected"] for v in expl["endpoint"]["verdicts"]] == [False]
    code, out, _ = run(
        capsys,
        "whatif",
        log,
        "ns/web:80",
        "--clients",
        "zone-a=1,zone-b=1",
        "--scenario",
        "recorded",
        "--scenario",
        "none",
        "--json",
    )
    scenarios = {s["name"]: s for s in json.loads(out)["scenarios"]}
    assert code == 0 and scenarios["recorded"]["cross_zone_share"] == 0.0
    assert scenarios["none"]["cross_zone_share"] == pytest.approx(0.5)
    chart = tmp_path / "web.svg"
    code, out, _ = run(capsys, "whatif", log, "ns/web:80", "--timeline", tmp_path / "t.csv", "--chart", chart)
    assert code == 0 and "<svg" in chart.read_text()[:200]
    with pytest.raises(SystemExit) as info:
        main(["explain", str(log), "ns/web:80", "--node", "n1", "--zone", "zone-a"])
    assert info.value.code == 2 and "--zone: not allowed with argument --node" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["explain", str(log), "ns/web:80"])
    assert info.value.code == 2 and "give exactly one of --node or --zone" in capsys.readouterr().err


def _commands() -> dict:
    from engine.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    return subparsers.choices


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_help_explains_log(name, capsys):
    """Each command that takes LOG says what it is in its own --help."""
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    if " LOG" in out.split("\n\n")[0]:  # the usage line names LOG
        assert "LOG  " in out and "a directory of segments and snapshots" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--clients", "zone-a=lots"], "argument --clients: 'zone-a=lots' is not ZONE=WEIGHT"),
        (
            ["--scenario", "teleport"],
            "argument --scenario: 'teleport': unknown (known: recorded, none, auto, "
            "prefer-same-zone, prefer-close, prefer-same-node, drain:ZONE",
        ),
        (["--price-per-gb", "cheap"], "argument --price-per-gb: 'cheap' is not FROM:TO=PRICE"),
        (["--price-per-gb", "0.01"], "--price-per-gb needs --bytes-per-request"),
    ],
)
def test_whatif_usage_errors_exit_2_naming_the_flag(log, capsys, args, message):
    with pytest.raises(SystemExit) as info:
        main(["whatif", str(log), "ns/web:80", *args])
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err.splitlines()[-1]


@pytest.mark.parametrize(
    "args, message",
    [
        (["endpoints", "LOG", "ns/web:80", "--node", "n9"], "--node: no node n9 (nodes: n1, n2)"),
        (
            ["endpoints", "LOG", "ns/web:80", "--zone", "zone-q"],
            "--zone: no zone zone-q (did you mean zone-a, zone-b?)",
        ),
        (["explain", "LOG", "ns/web:80", "--node", "ghost"], "--node: no node ghost (nodes: n1, n2)"),
        (["follow", "LOG", "ns/web:80", "--zone", "zone-q", "--timeout", "0"], "--zone: no zone zone-q"),
        (["replay", "LOG", "--watch", "ns/web:80@n9"], "node: no node n9 (nodes: n1, n2)"),
        (["replay", "LOG", "--watch", "ns/web:80@zone:zone-q"], "zone: no zone zone-q"),
        (["replay", "LOG", "--watch", "ns/wbe:80@n1"], "service ns/wbe not found"),
        (
            ["whatif", "LOG", "ns/web:80", "--clients", "zone-q=100"],
            "--clients: no zone zone-q (did you mean zone-a, zone-b?)",
        ),
        (["whatif", "LOG", "ns/web:80", "--clients", "service:ns/nope"], "--clients: no service ns/nope"),
        (["hints", "LOG", "ns/wbe"], "service ns/wbe not found"),
    ],
)
def test_names_the_log_does_not_have_are_errors_naming_the_flag(log, capsys, args, message):
    code, out, err = run(capsys, *[str(log) if a == "LOG" else a for a in args])
    assert code == 1 and out == "" and err.startswith(f"topology-engine: {message}") and err.count("\n") == 1


def test_hints_and_whatif_take_the_same_mode_names(log, capsys):
    for mode in ("prefer-same-zone", "prefer-close"):
        code, out, _ = run(capsys, "hints", log, "ns/web", "--mode", mode, "--json")
        assert code == 0 and json.loads(out)["mode"] == "prefer-same-zone"
    code, out, _ = run(
        capsys,
        "whatif",
        log,
        "ns/web:80",
        "--clients",
        "zone-a=1,zone-b=1",
        "--json",
        "--scenario",
        "prefer-same-zone",
        "--scenario",
        "prefer-close",
    )
    same_zone, close = json.loads(out)["scenarios"]
    assert code == 0 and same_zone["name"] == "prefer-same-zone" and close["name"] == "prefer-close"
    assert same_zone["cross_zone_share"] == close["cross_zone_share"] == 0.0


def test_follow_takes_zone_and_policy_like_endpoints(log, tmp_path):
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "follow",
            str(log),
            "ns/web:80",
            "--zone",
            "zone-b",
            "--policy",
            "kube-proxy",
            "--json",
            "--timeout",
            "3",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = json.loads(follower.stdout.readline())
        assert first["watch"] == "ns/web:80@zone:zone-b" and first["seq"] == 4
        assert [e["address"] for e in first["endpoints"]] == ["10.0.0.2"]
        change = tmp_path / "change.json"
        change.write_text(
            json.dumps(endpoint_slice("ns/s", "web", [endpoint("10.0.0.8", zone="zone-b", hints=["zone-b"], pod="p8")]))
        )
        assert main(["ingest", str(log), str(change)]) == 0
        updates = [json.loads(follower.stdout.readline()) for _ in range(2)]
        assert [(u["op"], u["seq"], [e["address"] for e in u["endpoints"]]) for u in updates] == [
            ("add", 5, ["10.0.0.8"]),
            ("remove", 5, ["10.0.0.2"]),
        ]
        assert follower.wait(20) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
