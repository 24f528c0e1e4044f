"""The benchmark runner end to end at the smallest scale: it runs every
suite, and the results file it writes has the documented shape.  No timing
is asserted; timings belong to the benchmark runs themselves."""

import json
import os
import subprocess
import sys

from conftest import ROOT


def test_quick_run_writes_a_results_file(tmp_path):
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--scale",
            "tiny",
            "--results-dir",
            str(results),
            "--workdir",
            str(tmp_path / "work"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    files = list(results.glob("*.json"))
    assert len(files) == 1
    report = json.loads(files[0].read_text())

    from engine import kernels

    assert report["implementation"] == kernels.IMPLEMENTATION
    assert report["quick"] is True and report["scale"] == "tiny"
    assert report["errors"] == {}
    assert {"platform", "cpu", "cores", "python"} <= set(report["machine"])
    assert report["date"] and "commit" in report
    suites = sorted(p.stem[len("suite_") :] for p in (ROOT / "benchmarks").glob("suite_*.py"))
    assert sorted(report["suites"]) == suites
    assert {r["suite"] for r in report["results"]} == set(suites)
    for r in report["results"]:
        assert set(r) == {"suite", "name", "value", "unit", "target", "higher_is_better"}
        assert isinstance(r["value"], float) and r["value"] >= 0, r
        assert isinstance(r["unit"], str) and r["unit"]
        assert r["target"] is None or r["target"].split()[0] in (">=", "<="), r
    names = [(r["suite"], r["name"]) for r in report["results"]]
    assert len(names) == len(set(names)), "result names must be unique within a suite"
    # every suite's table and the summary line are printed
    for suite in suites:
        assert f"== {suite}" in run.stdout
    assert "targets missed" in run.stdout
