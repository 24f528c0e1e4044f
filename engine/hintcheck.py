"""Recorded hints against the hints the EndpointSlice controller would write.

``check_hints`` runs the controller's hint pass (engine.hints) over a
service's slices as recorded and compares, endpoint by endpoint, what it
would leave on each slice with what the slice carries.  The slices are
treated as the controller's untouched ones (a resync with no endpoint
change): recorded hints the controller would accept stay as they are, so an
endpoint is only flagged when the controller would actually rewrite it.
"""

from __future__ import annotations

import difflib
from typing import IO, TYPE_CHECKING, Optional

import attrs

from . import hints
from .errors import ArgumentError, LookupFailed
from .render import table

if TYPE_CHECKING:
    from .api import Engine

# What the hints command accepts for --mode (whatif takes the same as scenarios).
MODES = hints.MODE_NAMES

STATUSES = {
    "ok": "recorded hints equal the controller's",
    "stale": "both hinted, but the recorded hints differ from the controller's",
    "missing": "the controller would write hints; none are recorded",
    "unexpected": "hints are recorded that the controller would remove",
}


@attrs.frozen(slots=True)
class HintRow:
    """One endpoint entry: the controller's hints next to the recorded ones."""

    slice: str  # "ns/name" of the EndpointSlice
    address: Optional[str]  # addresses[0]; None for an entry without addresses
    zone: Optional[str]
    for_zones: tuple[str, ...]
    for_nodes: tuple[str, ...]
    recorded_for_zones: tuple[str, ...]
    recorded_for_nodes: tuple[str, ...]
    status: str  # a STATUSES key

    def to_json(self) -> dict:
        return {
            "address": self.address,
            "zone": self.zone,
            "for_zones": list(self.for_zones),
            "for_nodes": list(self.for_nodes),
            "recorded_for_zones": list(self.recorded_for_zones),
            "recorded_for_nodes": list(self.recorded_for_nodes),
            "status": self.status,
        }


@attrs.frozen(slots=True)
class HintReport:
    service: str
    mode: str  # canonical hints mode: auto, prefer-same-zone, prefer-same-node or none
    mode_source: str  # "service" (what the Service asks for) or "option" (given by the caller)
    written: bool
    reason: Optional[str]  # an engine.hints.REASONS key when nothing is written
    zones: dict[str, int]  # ready endpoints hinted to each zone
    endpoints: tuple[HintRow, ...]  # slices in key order, entries in slice order

    def counts(self) -> dict[str, int]:
        """Endpoints per status, every status present."""
        found = {status: 0 for status in STATUSES}
        for row in self.endpoints:
            found[row.status] += 1
        return found

    def to_json(self) -> dict:
        return {
            "service": self.service,
            "mode": self.mode,
            "written": self.written,
            "reason": self.reason,
            "zones": dict(self.zones),
            "endpoints": [row.to_json() for row in self.endpoints],
        }


def check_hints(engine: Engine, service: str, mode: Optional[str] = None) -> HintReport:
    """The controller's hints for ``service`` ("ns/name") next to the recorded ones.

    ``mode`` is one of ``MODES``; without it, what the Service asks for
    (annotation first, then trafficDistribution; none when it asks for
    nothing).  Raises LookupFailed for an unknown service, ArgumentError for an
    unknown mode.
    """
    if mode is not None and mode not in MODES:
        raise ArgumentError(f"unknown hint mode {mode!r} (expected one of {', '.join(MODES)})", argument="mode")
    state = engine.state
    svc = state.services.get(service)
    slices = list(state.slices_of(service))
    if svc is None and not slices:
        raise LookupFailed(f"service {service} not found ({_near_names(service, state.service_keys())})")
    result = hints.compute_hints(svc, slices, state.nodes.values(), mode=mode, keep_recorded=True, service_key=service)
    by_key = {s.key: s for s in slices}
    rows = []
    for (slice_key, index), (for_zones, for_nodes) in result.hints.items():
        entry = by_key[slice_key].endpoints[index]
        rows.append(
            HintRow(
                slice=slice_key,
                address=entry.addresses[0] if entry.addresses else None,
                zone=entry.zone,
                for_zones=for_zones,
                for_nodes=for_nodes,
                recorded_for_zones=entry.for_zones,
                recorded_for_nodes=entry.for_nodes,
                status=_status((for_zones, for_nodes), (entry.for_zones, entry.for_nodes)),
            )
        )
    return HintReport(
        service=service,
        mode=result.mode,
        mode_source="service" if mode is None else "option",
        written=result.written,
        reason=result.reason,
        zones=dict(result.zones),
        endpoints=tuple(rows),
    )


def _status(expected: hints.Hint, recorded: hints.Hint) -> str:
    if expected == recorded:
        return "ok"
    if not any(expected):
        return "unexpected"
    if not any(recorded):
        return "missing"
    return "stale"


def _near_names(service: str, known: set[str]) -> str:
    close = difflib.get_close_matches(service, sorted(known), n=5, cutoff=0.6)
    if close:
        return f"did you mean: {', '.join(close)}"
    namespace = service.split("/", 1)[0]
    in_namespace = sorted(k.split("/", 1)[1] for k in known if k.startswith(namespace + "/"))
    if in_namespace:
        return f"services in {namespace}: {', '.join(in_namespace)}"
    return f"no services in namespace {namespace}"


# ---------------------------------------------------------------------------
# Text output

_MODE_SOURCES = {"service": "asked for by the Service", "option": "as given"}


def render_hint_report(report: HintReport, out: IO[str]) -> None:
    """A table of every endpoint; rows whose status is not ok are marked with ``*``."""
    out.write(f"{report.service}: mode {report.mode} ({_MODE_SOURCES[report.mode_source]})\n")
    if report.written:
        zones = ", ".join(f"{zone} {count}" for zone, count in report.zones.items()) or "none"
        out.write(f"the controller writes hints; endpoints per zone: {zones}\n")
    else:
        out.write(f"the controller writes no hints: {report.reason}: {hints.REASONS[report.reason]}\n")
    table(
        ("", "SLICE", "ADDRESS", "ZONE", "CONTROLLER", "RECORDED", "STATUS"),
        [
            (
                "" if row.status == "ok" else "*",
                row.slice.split("/", 1)[1],
                row.address,
                row.zone,
                _hint_text(row.for_zones, row.for_nodes),
                _hint_text(row.recorded_for_zones, row.recorded_for_nodes),
                row.status,
            )
            for row in report.endpoints
        ],
        out,
    )
    counts = report.counts()
    out.write(", ".join(f"{count} {status}" for status, count in counts.items()) + "\n")


def _hint_text(for_zones: tuple[str, ...], for_nodes: tuple[str, ...]) -> Optional[str]:
    parts = []
    if for_zones:
        parts.append("zones " + ",".join(for_zones))
    if for_nodes:
        parts.append("nodes " + ",".join(for_nodes))
    return "; ".join(parts) or None
