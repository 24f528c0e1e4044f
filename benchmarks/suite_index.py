"""The zone index: a publisher relisted from slices (compiled vs pure), cost
of one slice write against service size, cached selection queries, memory
per endpoint.

    python -m benchmarks.suite_index [--quick]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
import tracemalloc
from types import SimpleNamespace

from engine import Engine, kernels
from engine.events import Endpoint, ServicePort, ServiceUpserted, SlicePort, SliceUpserted
from engine.policies import linkerd

SUITE = "index"
ZONES = [f"zone-{i}" for i in range(8)]
SLICE_SIZE = 100


def _result(name, value, unit, target=None, higher_is_better=True) -> dict:
    return {
        "suite": SUITE,
        "name": name,
        "value": float(value),
        "unit": unit,
        "target": target,
        "higher_is_better": higher_is_better,
    }


def _slice(index: int, generation: int = 0) -> SliceUpserted:
    """Slice ``index`` of a service: 100 Pod endpoints, each hinted for its own zone."""
    endpoints = []
    for i in range(SLICE_SIZE):
        n = index * SLICE_SIZE + i
        zone = ZONES[n % len(ZONES)]
        endpoints.append(
            Endpoint(
                (
                    f"10.{generation}.{n // 250 % 250}.{n % 250}"
                    if n < 62_500
                    else f"10.{100 + generation}.{n // 62_500}.{n % 62_500}",
                ),
                ready=True,
                node_name=f"node-{n % 500}",
                zone=zone,
                target_kind="Pod",
                target_namespace="shop",
                target_name=f"web-{generation}-{n}",
                for_zones=(zone,),
            )
        )
    return SliceUpserted("shop", f"web-{index}", "web", ports=(SlicePort("http", 8080),), endpoints=tuple(endpoints))


SERVICE = ServiceUpserted("shop", "web", (ServicePort("http", 80),))


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _implementations() -> list[str]:
    try:
        kernels.for_implementation("compiled")
    except ImportError:
        return ["pure"]
    return ["pure", "compiled"]


def rebuild(endpoints: int, repeats: int) -> list[dict]:
    """A Service arriving after its slices: its port publisher is filled from
    every slice at once (the relist), in both implementations in one run."""
    slices = [_slice(i) for i in range(endpoints // SLICE_SIZE)]
    out = []
    timed = {}
    for name in _implementations():
        times = []
        for _ in range(repeats if name == "compiled" else 1):
            eng = Engine(implementation=name)
            eng.apply_all(slices)
            start = time.perf_counter()
            eng.apply(SERVICE)
            times.append(time.perf_counter() - start)
        timed[name] = min(times)
        out.append(
            _result(
                f"relist one port publisher from slices, {endpoints:,} endpoints, 8 zones: {name}",
                timed[name] * 1e3,
                "ms",
                higher_is_better=False,
            )
        )
    if "compiled" in timed:
        out.append(
            _result(
                f"relist speed-up, compiled over pure, {endpoints:,} endpoints",
                timed["pure"] / timed["compiled"],
                "x",
                ">= 30",
            )
        )
    return out


def slice_write_cost(endpoints: int, writes: int) -> float:
    """Median seconds to fold one rewrite of a 100-endpoint slice (new pods, same
    zones) into an Engine whose service has ``endpoints`` endpoints, with a
    cached zone selection being queried between writes."""
    eng = Engine()
    eng.apply_all([SERVICE] + [_slice(i) for i in range(endpoints // SLICE_SIZE)])
    rewrites = [_slice(0, generation) for generation in range(1, writes + 1)]
    times = []
    for event in rewrites:
        eng.endpoints("shop/web", 80, zone="zone-5")  # another zone: stays cached across the write
        gc.disable()
        start = time.perf_counter()
        eng.apply(event)
        times.append(time.perf_counter() - start)
        gc.enable()
    return statistics.median(times)


def queries(endpoints: int, calls: int) -> list[dict]:
    eng = Engine()
    eng.apply_all([SERVICE] + [_slice(i) for i in range(endpoints // SLICE_SIZE)])
    selected = len(eng.endpoints("shop/web", 80, zone="zone-1").endpoints)
    out = []

    def rate(fn) -> float:
        fn()
        return calls / _best(lambda: [fn() for _ in range(calls)], 3)

    what = f"{endpoints:,} endpoints, {selected:,} selected"
    out.append(
        _result(
            f"cached selection queries through Engine.endpoints ({what})",
            rate(lambda: eng.endpoints("shop/web", 80, zone="zone-1")),
            "queries/s",
            ">= 1,000,000",
        )
    )
    client = linkerd.Client(zone="zone-1")
    out.append(
        _result(
            f"cached selection queries through ZoneIndex.select ({what})",
            rate(lambda: eng.index.select("shop/web", 80, client)),
            "queries/s",
            ">= 1,000,000",
        )
    )
    empty = Engine()
    empty.apply(SERVICE)
    out.append(
        _result(
            "Engine.endpoints on a service with no endpoints (the API's fixed cost)",
            rate(lambda: empty.endpoints("shop/web", 80, zone="zone-1")),
            "queries/s",
        )
    )
    return out


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory(endpoints: int) -> list[dict]:
    """Bytes per endpoint the engine keeps for one service of ``endpoints``
    (its slices as columns, and one declared port's address map), folded
    from events built beforehand."""
    events = [SERVICE] + [_slice(i) for i in range(endpoints // SLICE_SIZE)]
    gc.collect()
    rss_before = _rss()
    tracemalloc.start()
    eng = Engine()
    eng.apply_all(events)
    traced, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    gc.collect()
    rss_after = _rss()
    assert len(eng.index.candidates("shop/web", 80)) == endpoints
    what = f"{endpoints:,} endpoints, one declared port"
    return [
        _result(
            f"engine memory per endpoint, tracemalloc ({what})",
            traced / endpoints,
            "bytes",
            "<= 250",
            higher_is_better=False,
        ),
        _result(
            f"engine memory per endpoint, RSS delta ({what})",
            (rss_after - rss_before) / endpoints,
            "bytes",
            "<= 250",
            higher_is_better=False,
        ),
    ]


def run(ctx) -> list[dict]:
    progress = getattr(ctx, "progress", lambda label, done, total: None)
    big = 10_000 if ctx.quick else 100_000
    out = []
    progress("index: rebuild", 0, 4)
    out += rebuild(big, 3 if ctx.quick else 5)
    progress("index: slice writes", 1, 4)
    writes = 20 if ctx.quick else 100
    small_cost, big_cost = slice_write_cost(1_000, writes), slice_write_cost(big, writes)
    out += [
        _result(
            "one 100-endpoint slice write, service of 1,000 endpoints", small_cost * 1e6, "us", higher_is_better=False
        ),
        _result(
            f"one 100-endpoint slice write, service of {big:,} endpoints", big_cost * 1e6, "us", higher_is_better=False
        ),
        _result(
            f"slice write cost ratio, {big:,} / 1,000 endpoints",
            big_cost / small_cost,
            "x",
            "<= 2",
            higher_is_better=False,
        ),
    ]
    progress("index: queries", 2, 4)
    out += queries(1_000, 20_000 if ctx.quick else 200_000)
    progress("index: memory", 3, 4)
    out += memory(100_000 if ctx.quick else 1_000_000)
    progress("index: done", 4, 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    for r in run(SimpleNamespace(quick=args.quick, implementation=kernels.IMPLEMENTATION)):
        target = f"  (target {r['target']})" if r["target"] else ""
        print(f"{r['name']}: {r['value']:,.3f} {r['unit']}{target}")


if __name__ == "__main__":
    main()
