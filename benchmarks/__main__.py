"""The benchmark runner.

    python -m benchmarks [--quick] [--suite NAME ...] [--update-baseline]

Runs every ``benchmarks/suite_*.py`` (or those named), prints each number
against its target and as a ratio to the committed baseline, and writes
``benchmarks/results/<UTC date-time>.json`` with the machine, commit, date and
kernel implementation.  A ratio is oriented so that above 1 is better; below
``1 / (1 + NOISE)`` it is flagged as a regression.  ``--update-baseline``
makes this run the new baseline.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Optional

from engine import kernels
from engine.render import Progress, table

from . import Context
from .generate import SCALES

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BASELINE_NAME = "baseline.json"
# Run-to-run noise on a shared machine: a number more than 25% worse than the
# baseline is flagged; anything closer is not distinguishable from noise.
NOISE = 0.25
# A target is a bound, optionally followed by a goal: ">= 3" or ">= 3, goal >= 10".
_TARGET = re.compile(r"^\s*(>=|<=)\s*([-+0-9.,e]+)")
_GOAL = re.compile(r"goal\s*(>=|<=)\s*([-+0-9.,e]+)")


def discover() -> list[str]:
    return sorted(p.stem[len("suite_") :] for p in HERE.glob("suite_*.py"))


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
    }


def git_commit() -> Optional[str]:
    """HEAD of the checkout, ``-dirty`` when engine/ or benchmarks/ differ from it;
    BENCH_COMMIT names it for runs from an exported tree (``git archive``)."""
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "engine", "benchmarks"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty else "")


def _within(value: float, match: Optional[re.Match]) -> Optional[bool]:
    if not match:
        return None
    bound = float(match.group(2).replace(",", ""))
    return value >= bound if match.group(1) == ">=" else value <= bound


def target_met(result: dict) -> Optional[bool]:
    """Whether the value meets its target (the bound it must meet); None when there is none."""
    return _within(result["value"], _TARGET.match(result.get("target") or ""))


def goal_met(result: dict) -> Optional[bool]:
    """Whether the value also meets the goal its target names; None when it names none."""
    return _within(result["value"], _GOAL.search(result.get("target") or ""))


def ratio(result: dict, base: Optional[dict]) -> Optional[float]:
    """This value over the baseline's, oriented so that above 1 is better."""
    if base is None or not base["value"] or not result["value"]:
        return None
    r = result["value"] / base["value"]
    return r if result["higher_is_better"] else 1 / r


def comparable(run: dict, baseline: Optional[dict]) -> Optional[str]:
    """Why ``run`` cannot be compared with ``baseline`` (None if it can)."""
    if baseline is None:
        return "no baseline"
    for key in ("scale", "quick", "implementation"):
        if baseline.get(key) != run.get(key):
            return f"baseline has {key}={baseline.get(key)!r}, this run {run.get(key)!r}"
    return None


def fmt(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def report_rows(results: list[dict], base: dict[tuple, dict]) -> list[tuple]:
    rows = []
    for r in results:
        met, goal = target_met(r), goal_met(r)
        rr = ratio(r, base.get((r["suite"], r["name"])))
        flag = ""
        if rr is not None and rr < 1 / (1 + NOISE):
            flag = " REGRESSION"
        rows.append(
            (
                r["suite"],
                r["name"],
                fmt(r["value"]),
                r["unit"],
                r["target"],
                None if met is None else ("NO" if not met else "yes, goal too" if goal else "yes"),
                None if rr is None else f"{rr:.2f}x{flag}",
            )
        )
    return rows


class ProgressLines:
    """progress(label, done, total): an updating line on a terminal, else one line per label on stderr."""

    def __init__(self) -> None:
        self._bars: dict[str, Progress] = {}
        self._done: set[str] = set()

    def __call__(self, label: str, done: int, total: int) -> None:
        bar = self._bars.get(label)
        if bar is None and done >= total and label in self._done:
            return  # already reported finished
        if bar is None:
            bar = self._bars[label] = Progress(label)
            if not bar.enabled:
                sys.stderr.write(f"{label}...\n")
                sys.stderr.flush()
        bar(done, total)
        if done >= total:
            bar.finish()
            del self._bars[label]
            self._done.add(label)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a check that everything runs")
    parser.add_argument(
        "--suite", action="append", metavar="NAME", choices=discover(), help="run only this suite (repeatable)"
    )
    parser.add_argument("--update-baseline", action="store_true", help="make this run the committed baseline")
    parser.add_argument(
        "--scale", choices=sorted(SCALES), default=None, help="data set scale (default: small with --quick, else full)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="scratch directory, kept afterwards (default: a temporary one)"
    )
    args = parser.parse_args(argv)
    scale = args.scale or ("small" if args.quick else "full")
    suites = args.suite or discover()

    scratch = args.workdir or Path(tempfile.mkdtemp(prefix="topology-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        quick=args.quick,
        implementation=kernels.IMPLEMENTATION,
        progress=ProgressLines(),
        scale=scale,
        seed=args.seed,
        workdir=scratch,
    )
    baseline_path = args.results_dir / BASELINE_NAME
    baseline = json.loads(baseline_path.read_text()) if baseline_path.exists() else None
    now = datetime.datetime.now(datetime.timezone.utc)
    run = {
        "date": now.isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": machine(),
        "implementation": kernels.IMPLEMENTATION,
        "quick": args.quick,
        "scale": scale,
        "seed": args.seed,
        "suites": {},
        "results": [],
        "errors": {},
    }
    why_not = comparable(run, baseline)
    base = {} if why_not else {(r["suite"], r["name"]): r for r in baseline["results"]}
    headers = ("SUITE", "NAME", "VALUE", "UNIT", "TARGET", "MET", "VS BASELINE")
    print(
        f"benchmarks: scale {scale}, kernels {kernels.IMPLEMENTATION}, "
        f"{run['machine']['cores']} cores ({run['machine']['cpu']}), "
        f"baseline: {why_not or baseline.get('date')}"
    )
    started = time.perf_counter()
    try:
        for name in suites:
            module = importlib.import_module(f"benchmarks.suite_{name}")
            t0 = time.perf_counter()
            try:
                results = module.run(ctx)
            except Exception:
                run["errors"][name] = traceback.format_exc()
                sys.stderr.write(f"suite {name} failed:\n{run['errors'][name]}")
                results = []
            run["suites"][name] = round(time.perf_counter() - t0, 2)
            run["results"].extend(results)
            print(f"\n== {name} ({run['suites'][name]:.1f} s)")
            table(headers[1:], [row[1:] for row in report_rows(results, base)], sys.stdout)
            sys.stdout.flush()
    finally:
        if args.workdir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    run["seconds"] = round(time.perf_counter() - started, 2)

    rows = report_rows(run["results"], base)
    missed = [r for r in rows if r[5] == "NO"]
    regressions = [r for r in rows if r[6] and r[6].endswith("REGRESSION")]
    print(
        f"\n{len(run['results'])} numbers in {run['seconds']:.0f} s; "
        f"targets missed: {len(missed)}; regressions beyond {NOISE:.0%}: {len(regressions)}"
    )
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(run, indent=2) + "\n")
    print(f"results: {out}")
    if args.update_baseline:
        if run["errors"]:
            print("not updating the baseline: some suites failed", file=sys.stderr)
        else:
            new = dict(run)
            if args.suite and baseline is not None and not why_not:
                # Only some suites ran: keep the baseline's numbers for the others.
                kept = [r for r in baseline["results"] if r["suite"] not in suites]
                new["results"] = kept + run["results"]
                new["suites"] = {**{k: v for k, v in baseline["suites"].items() if k not in suites}, **run["suites"]}
            baseline_path.write_text(json.dumps(new, indent=2) + "\n")
            print(f"baseline updated: {baseline_path}")
    return 1 if run["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
