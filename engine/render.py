"""Human-readable output: aligned tables and a terminal progress line."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import IO, Optional

from .values import Selection


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], out: IO[str]) -> None:
    cells = [[str(h) for h in headers]] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n")


def selection(sel: Selection, rule_text: str, out: IO[str]) -> None:
    if sel.node is not None:
        who = f"node {sel.node} (zone {sel.zone or 'unknown'})"
    else:
        who = f"zone {sel.zone or 'unknown'}"
    out.write(f"{sel.service_port} for a client on {who}, policy {sel.policy}\n")
    out.write(f"rule: {sel.rule}: {rule_text}\n")
    table(
        ("ADDRESS", "PORT", "NODE", "ZONE", "FOR ZONES", "TARGET"),
        [(e.address, e.port, e.node, e.zone, ",".join(e.for_zones) or None, e.target) for e in sel.endpoints],
        out,
    )
    out.write(f"{len(sel.endpoints)} of {sel.candidates} candidate endpoints\n")


class Progress:
    """A single updating line on stderr, only when stderr is a terminal."""

    def __init__(self, label: str, stream: Optional[IO[str]] = None):
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.started = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and done < total:
            return
        self._last = now
        rate = done / max(now - self.started, 1e-9)
        percent = 100.0 * done / total if total else 100.0
        self.stream.write(f"\r{self.label}: {done:,}/{total:,} ({percent:5.1f}%, {rate:,.0f}/s)")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()
