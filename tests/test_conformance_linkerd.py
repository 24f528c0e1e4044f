"""Every Linkerd conformance case under fixtures/conformance/linkerd, run
through the API (selections and Add/Remove streams) and through the CLI
(ingest into a log, then `endpoints --batch --json`)."""

import json

import pytest
from conftest import FIXTURES
from reference import render

from engine import Engine
from engine.cli import main

CASES = sorted((FIXTURES / "conformance" / "linkerd").glob("*.json"))


def load(path):
    return json.loads(path.read_text())


def endpoints_of(items):
    return sorted(render(e.address, e.port) for e in items)


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case_through_api(path, implementation):
    case = load(path)
    ipv6 = case["options"]["ipv6"]
    watches = {w["id"]: w for w in case.get("watches", [])}
    received = {wid: [] for wid in watches}
    eng = Engine(implementation=implementation)
    for number, step in enumerate(case["steps"]):
        before = {wid: len(updates) for wid, updates in received.items()}
        eng.ingest(step.get("apply", []), source=f"{path.name} step {number}")
        for wid in step.get("subscribe", []):
            w = watches[wid]
            eng.subscribe(
                w["service"],
                w["port"],
                node=w["node"],
                hostname=w["hostname"],
                filtering=w["filtering"],
                ipv6=ipv6,
                on_update=lambda update, wid=wid: received[wid].append(update),
            )
        expect = step.get("expect", {})
        for query in expect.get("queries", []):
            sel = eng.endpoints(
                query["service"],
                query["port"],
                node=query.get("node"),
                zone=query.get("zone"),
                hostname=query.get("hostname"),
                filtering=query.get("filtering", True),
                ipv6=ipv6,
                strict=False,
            )
            assert endpoints_of(sel.endpoints) == query["endpoints"], f"step {number}: {query}"
            if "rule" in query:
                assert sel.rule == query["rule"], f"step {number}: {query}"
        for wid, expected in expect.get("updates", {}).items():
            new = received[wid][before[wid] :]
            assert [{"op": u.op, "endpoints": endpoints_of(u.endpoints)} for u in new] == expected, f"step {number}"


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case_through_cli(path, tmp_path, capsys):
    case = load(path)
    log = tmp_path / "log"
    declared: dict[str, set] = {}
    nodes: set = set()
    asked = 0
    for number, step in enumerate(case["steps"]):
        objects = tmp_path / f"step{number}.json"
        objects.write_text("\n".join(json.dumps(o) for o in step.get("apply", [])) + "\n")
        for obj in step.get("apply", []):
            body = obj.get("object", obj)
            if body.get("kind") == "Service":
                key = f"{body['metadata']['namespace']}/{body['metadata']['name']}"
                declared[key] = set() if obj.get("type") == "DELETED" else {p["port"] for p in body["spec"]["ports"]}
            elif body.get("kind") == "Node":
                (nodes.discard if obj.get("type") == "DELETED" else nodes.add)(body["metadata"]["name"])
        if step.get("apply"):
            assert main(["ingest", str(log), str(objects)]) == 0
        # What the command line can ask: filtering on, no hostname, a client
        # node the log has (an unknown one is an error there) or a zone, and
        # a port the Service declares.
        queries = [
            q
            for q in step.get("expect", {}).get("queries", [])
            if q.get("filtering", True)
            and q.get("hostname") is None
            and (q.get("node") or q.get("zone")) is not None
            and q.get("node") in nodes | {None}
            and q["port"] in declared.get(q["service"], ())
        ]
        if not queries:
            continue
        batch = tmp_path / f"queries{number}.jsonl"
        batch.write_text(
            "".join(
                json.dumps({k: q[k] for k in ("service", "port", "node", "zone") if q.get(k) is not None}) + "\n"
                for q in queries
            )
        )
        capsys.readouterr()
        args = ["endpoints", str(log), "--batch", str(batch), "--json"] + (
            ["--ipv6"] if case["options"]["ipv6"] else []
        )
        assert main(args) == 0
        answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(answers) == len(queries)
        for query, answer in zip(queries, answers):
            got = sorted(render(e["address"], e["port"]) for e in answer["endpoints"])
            assert got == query["endpoints"], f"step {number}: {query}"
            if "rule" in query:
                assert answer["rule"] == query["rule"]
            asked += 1
    if asked == 0:
        pytest.skip("no query in this case is expressible on the command line")
