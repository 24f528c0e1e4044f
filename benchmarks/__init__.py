"""Benchmarks: a generator of large clusters, suites, and a runner (``python -m benchmarks``).

A suite is a module ``benchmarks/suite_<name>.py`` with ``run(ctx) -> list[dict]``.
``ctx`` is a ``Context``; each dict is made by ``result(...)``.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import attrs

from .generate import Dataset, generate, load


def result(
    suite: str, name: str, value: float, unit: str, target: Optional[str] = None, higher_is_better: bool = True
) -> dict:
    """One measured number, as the runner records it; ``target`` reads like ``">= 1,000,000"``."""
    return {
        "suite": suite,
        "name": name,
        "value": float(value),
        "unit": unit,
        "target": target,
        "higher_is_better": higher_is_better,
    }


@attrs.define
class Context:
    """What a suite gets from the runner."""

    quick: bool  # small sizes: seconds, for the smoke test
    implementation: str  # "compiled" or "pure": engine.kernels.IMPLEMENTATION
    progress: Callable[[str, int, int], None]  # progress(label, done, total)
    scale: str = "full"  # data set scale (benchmarks.generate.SCALES)
    seed: int = 1
    workdir: Path = Path(".")  # scratch space for this run
    _dataset: Optional[Dataset] = None

    def dataset(self) -> Dataset:
        """The generated cluster and churn for this run, generated on first use."""
        if self._dataset is None:
            root = self.workdir / f"data-{self.scale}-{self.seed}"
            if (root / "summary.json").exists():
                self._dataset = load(root)
            else:
                self.progress(f"generating the {self.scale} cluster", 0, 1)
                self._dataset = generate(root, self.scale, self.seed)
                self.progress(f"generating the {self.scale} cluster", 1, 1)
        return self._dataset

    def scratch(self, name: str) -> Path:
        """A fresh directory under the run's scratch space."""
        path = self.workdir / name
        n = 1
        while path.exists():
            n += 1
            path = self.workdir / f"{name}-{n}"
        path.mkdir(parents=True)
        return path


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Seconds ``fn()`` took and what it returned, starting from a collected heap."""
    gc.collect()
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def timed_cpu(fn: Callable[[], object]) -> tuple[float, object]:
    """CPU seconds of this process ``fn()`` took, and what it returned, from a
    collected heap: for numbers that must not count the waits of a shared
    machine (a single-threaded job compared with a peer in the same run)."""
    gc.collect()
    start = time.process_time()
    value = fn()
    return time.process_time() - start, value


def say(line: str) -> None:
    """A line of suite output: numbers for the person running the benchmarks."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
