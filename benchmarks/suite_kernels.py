"""kernels: compiled against pure-Python kernels, end to end, on one large service.

One topology-hinted service of 100,000 endpoints over 1,000 nodes in 3
zones, created and then rolled out once (``workloads.rollouts``), is
ingested into a log.  Each implementation then runs in a fresh interpreter
(``python -m benchmarks.suite_kernels --child LOG QUESTIONS``, with and
without ``ENGINE_NO_EXTENSIONS=1``) on that same log and times

* replay: ``Engine.open(log, use_snapshot=False)``;
* batch queries: ``Engine.endpoints`` questions from distinct nodes and
  from each zone, under the linkerd and the kube-proxy policies, each
  answer read as a consumer would (its rule, its count, its first and last
  endpoint), so that values built lazily are paid for.

Both runs must give the same answers.  Each replay is timed once; there
are fewer kube-proxy questions than linkerd ones because today each costs
a walk of all the service's slices (seconds at this size).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from . import Context, result, say, workloads
from .generate import HINTED

SUITE = "kernels"
ROOT = Path(__file__).resolve().parent.parent


def child(log_dir: Path, questions_path: Path) -> dict:
    """Replay and answer the questions in this interpreter; seconds of each and a digest of the answers."""
    from engine import kernels
    from engine.api import Engine

    questions = json.loads(questions_path.read_text())
    start = time.perf_counter()
    engine = Engine.open(log_dir, use_snapshot=False)
    replayed = time.perf_counter() - start
    answers = []
    by_policy: dict[str, float] = {}
    for q in questions:
        start = time.perf_counter()
        selection = engine.endpoints(
            q["service"], q["port"], node=q.get("node"), zone=q.get("zone"), policy=q["policy"]
        )
        chosen = selection.endpoints
        answers.append(
            [
                selection.rule,
                len(chosen),
                chosen[0].address if chosen else None,
                chosen[-1].address if chosen else None,
                chosen[-1].port if chosen else None,
            ]
        )
        by_policy[q["policy"]] = by_policy.get(q["policy"], 0.0) + time.perf_counter() - start
    engine.close()
    return {
        "implementation": kernels.IMPLEMENTATION,
        "replay": replayed,
        "queries": sum(by_policy.values()),
        "by_policy": by_policy,
        "answers": answers,
    }


def measure(log_dir: Path, questions_path: Path, pure: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "ENGINE_NO_EXTENSIONS"}
    if pure:
        env["ENGINE_NO_EXTENSIONS"] = "1"
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.suite_kernels", "--child", str(log_dir), str(questions_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    return json.loads(out.stdout)


def questions(cluster, service: str, linkerd_nodes: int, kube_proxy_nodes: int) -> list[dict]:
    """Distinct client nodes (spread over the cluster) and each zone, under both policies."""
    spread = cluster.nodes[:: max(1, len(cluster.nodes) // linkerd_nodes)][:linkerd_nodes]
    out = []
    for policy, nodes in (("linkerd", spread), ("kube-proxy", spread[:kube_proxy_nodes])):
        out += [{"service": service, "port": workloads.PORT, "node": n.name, "policy": policy} for n in nodes]
        out += [{"service": service, "port": workloads.PORT, "zone": z, "policy": policy} for z in cluster.zones]
    return out


def run(ctx: Context) -> list[dict]:
    endpoints, nodes, linkerd_nodes, kube_proxy_nodes = (1_000, 30, 10, 2) if ctx.quick else (100_000, 1_000, 100, 3)
    scratch = ctx.scratch("kernels")
    ctx.progress("kernels: generate and ingest", 0, 1)
    writer = workloads.LogWriter(scratch / "log")
    cluster = workloads.services(1, endpoints, nodes, ctx.seed, writer, kind=HINTED)
    workloads.rollouts(cluster, 1, writer)
    writer.close()
    ctx.progress("kernels: generate and ingest", 1, 1)
    svc = cluster.services[0]
    asked = questions(cluster, f"{svc.namespace}/{svc.name}", linkerd_nodes, kube_proxy_nodes)
    questions_path = scratch / "questions.json"
    questions_path.write_text(json.dumps(asked))

    found = {}
    for name, pure in (("compiled", False), ("pure", True)):
        ctx.progress(f"kernels: {name}, fresh interpreter", 0, 1)
        found[name] = measure(scratch / "log", questions_path, pure)
        ctx.progress(f"kernels: {name}, fresh interpreter", 1, 1)
    if found["pure"]["answers"] != found["compiled"]["answers"]:
        raise AssertionError("compiled and pure kernels answered the batch differently")
    replay = f"replay ({endpoints:,}-endpoint service, created and rolled out)"
    asked_of = Counter(q["policy"] for q in asked)
    out = []
    built = found["compiled"]["implementation"] == "compiled"
    for name in ("compiled", "pure") if built else ("pure",):
        out.append(result(SUITE, f"{replay}, {name}", found[name]["replay"], "s", higher_is_better=False))
        out += [
            result(
                SUITE,
                f"batch queries, {count} {policy} questions, {name}",
                found[name]["by_policy"][policy],
                "s",
                higher_is_better=False,
            )
            for policy, count in asked_of.items()
        ]
    if not built:
        say("kernels: the compiled kernels are not built here; only the pure run is reported")
        return out
    compiled, pure = found["compiled"], found["pure"]
    both = ">= 5, goal >= 20"
    return out + [
        result(SUITE, "replay, pure / compiled", pure["replay"] / compiled["replay"], "x", both),
        result(SUITE, "batch queries, pure / compiled", pure["queries"] / compiled["queries"], "x", both),
        result(
            SUITE,
            "end to end (replay + batch queries), pure / compiled",
            (pure["replay"] + pure["queries"]) / (compiled["replay"] + compiled["queries"]),
            "x",
            both,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2, metavar=("LOG", "QUESTIONS"), type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(child(*args.child)))


if __name__ == "__main__":
    main()
