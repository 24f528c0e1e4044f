"""The ``topology-engine`` command line.

Exit codes: 0 success, 1 an error reported on one line, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import IO, Optional

from . import __version__, arguments, explain, hintcheck, integrity, kernels, log, render, whatif
from .api import Engine, IngestReport, compact, ingest_files, ingest_live
from .chart import write_chart
from .errors import ArgumentError, EngineError
from .policies import DEFAULT_POLICY, POLICIES, rule_text
from .subscribe import Update
from .timeline import timelines
from .values import target_text

PROG = "topology-engine"


# ---------------------------------------------------------------------------
# Argument types


def watch_spec(text: str) -> tuple[str, int, str, Optional[str], Optional[str]]:
    """``NAMESPACE/NAME:PORT[/PROTOCOL]@NODE`` or ``...@zone:ZONE`` ->
    (service, port, protocol, node, zone).  Node names cannot hold a colon,
    so ``zone:`` is never part of one."""
    target, sep, client = text.rpartition("@")
    zone = client[len("zone:") :] if client.startswith("zone:") else None
    if not sep or not client or zone == "":
        raise ArgumentError(f"expected {arguments.TARGET_SYNTAX}@NODE or ...@zone:ZONE, got {text!r}")
    return (*arguments.service_port(target), None if zone is not None else client, zone)


def sequence_number(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a sequence number (0 or more), got {text!r}")
    return int(text)


# ---------------------------------------------------------------------------
# Commands


def cmd_ingest(args: argparse.Namespace, out: IO[str]) -> int:
    # The input is read (and, from files, validated) before the log is
    # opened: bad input creates and changes nothing.
    if args.files == ["-"]:
        report = ingest_live(
            args.log, sys.stdin.buffer, "<stdin>", sync=not args.no_sync, skip_invalid=args.skip_invalid
        )
    else:
        if "-" in args.files:
            raise ArgumentError("'-' (standard input) cannot be mixed with files")
        report = ingest_files(args.log, args.files, sync=not args.no_sync, skip_invalid=args.skip_invalid)
    _print_ingest(report, out)
    return 0


def _print_ingest(report: IngestReport, out: IO[str]) -> None:
    stats = report.stats
    read = ", ".join(f"{count} {kind}" for kind, count in sorted(stats.objects.items())) or "no objects"
    out.write(f"read: {read}\n")
    if stats.skipped_kinds:
        skipped = ", ".join(f"{count} {kind}" for kind, count in sorted(stats.skipped_kinds.items()))
        out.write(f"skipped (kinds not modelled): {skipped}\n")
    if stats.bookmarks:
        out.write(f"skipped watch bookmarks: {stats.bookmarks}\n")
    if stats.watch_errors:
        out.write(f"watch ERROR events: {stats.watch_errors} (the watch was interrupted; events may be missing)\n")
    if stats.invalid:
        out.write(f"skipped invalid objects: {stats.invalid}\n")
    if report.appended:
        out.write(f"appended: {report.appended} events (seq {report.first_seq}..{report.last_seq})\n")
    else:
        out.write("appended: 0 events\n")


def cmd_endpoints(args: argparse.Namespace, out: IO[str]) -> int:
    if args.batch is None:
        if args.target is None:
            raise ArgumentError(f"give {arguments.TARGET_SYNTAX}, or --batch FILE")
        _require_client(args)
    elif args.target is not None or args.node is not None or args.zone is not None:
        raise ArgumentError(f"--batch takes its queries from FILE: drop {arguments.TARGET_SYNTAX}, --node and --zone")
    with Engine.open(args.log, at=args.at) as engine:
        if args.batch is not None:
            return _endpoints_batch(engine, args, out)
        service, port, protocol = args.target
        engine.check_client(args.node, args.zone)
        selection = engine.endpoints(
            service, port, node=args.node, zone=args.zone, policy=args.policy, protocol=protocol, ipv6=args.ipv6
        )
    _print_selection(selection, args.json, out)
    return 0


def _require_client(args: argparse.Namespace) -> None:
    if args.node is None and args.zone is None:
        raise ArgumentError("give exactly one of --node or --zone")


def _print_selection(selection, as_json: bool, out: IO[str]) -> None:
    if as_json:
        out.write(json.dumps(selection.to_json()) + "\n")
    else:
        render.selection(selection, rule_text(selection.policy, selection.rule), out)


BATCH_KEYS = ("service", "port", "protocol", "node", "zone", "policy")


def _endpoints_batch(engine: Engine, args: argparse.Namespace, out: IO[str]) -> int:
    """One answer per query line; a bad line gets an error, the rest are answered."""
    failures = 0
    try:
        lines = open(args.batch, encoding="utf-8") if args.batch != "-" else sys.stdin
    except OSError as exc:
        raise EngineError(f"{args.batch}: cannot read: {exc.strerror}") from None
    with lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            query: dict = {}
            try:
                query = _batch_query(line)
                selection = engine.endpoints(**query, ipv6=args.ipv6)
                engine.check_client(query.get("node"), query.get("zone"))
            except EngineError as exc:
                failures += 1
                answer = {k: query.get(k) for k in ("service", "port", "node", "zone")}
                answer["error"] = f"{args.batch}: line {number}: {exc}"
                if args.json:
                    out.write(json.dumps(answer) + "\n")
                else:
                    out.write(f"error: {answer['error']}\n\n")
                continue
            _print_selection(selection, args.json, out)
            if not args.json:
                out.write("\n")
    return 1 if failures else 0


def _batch_query(line: str) -> dict:
    """A JSON line's query; ``Engine.endpoints`` checks each value, naming its key."""
    try:
        query = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EngineError(f"malformed JSON ({exc.msg})") from None
    if not isinstance(query, dict):
        raise EngineError("expected a JSON object")
    unknown = sorted(set(query) - set(BATCH_KEYS))
    if unknown:
        raise ArgumentError(f"unknown key(s) {', '.join(map(repr, unknown))} (known: {', '.join(BATCH_KEYS)})")
    if ("node" in query) == ("zone" in query):
        raise ArgumentError('give exactly one of "node" or "zone"')
    if "service" not in query or "port" not in query:
        raise ArgumentError('"service" and "port" are required')
    return query


def cmd_demo(args: argparse.Namespace, out: IO[str]) -> int:
    from .demo import run_demo

    run_demo(out, keep=args.keep)
    return 0


def cmd_snapshot(args: argparse.Namespace, out: IO[str]) -> int:
    with Engine.open(args.log) as engine:
        path = engine.snapshot()
    out.write(f"snapshot at seq {engine.seq}: {path} ({path.stat().st_size:,} bytes)\n")
    return 0


def cmd_compact(args: argparse.Namespace, out: IO[str]) -> int:
    report = compact(args.log)
    if report.segments_removed == 0:
        out.write(
            f"nothing to compact: the newest snapshot (seq {report.snapshot_seq}) does not cover a whole segment\n"
        )
    else:
        out.write(
            f"removed {report.segments_removed} segment(s) holding events 1..{report.upto_seq}; "
            f"--at answers from seq {report.upto_seq} on\n"
        )
    return 0


def cmd_stats(args: argparse.Namespace, out: IO[str]) -> int:
    info = log.stats(args.log)
    if args.json:
        out.write(json.dumps(info) + "\n")
        return 0
    out.write(f"log: {info['path']}\n")
    seq_range = f"{info['first_seq']}..{info['last_seq']}" if info["events"] else "none"
    out.write(f"events: {info['events']:,} (seq {seq_range})\n")
    out.write(f"segments: {info['segments']}, {info['bytes']:,} bytes\n")
    if info["torn_tail"]:
        out.write(f"torn tail: {info['torn_tail']}\n")
    snapshots = ", ".join(f"seq {s['seq']} ({s['bytes']:,} bytes)" for s in info["snapshots"]) or "none"
    out.write(f"snapshots: {snapshots}\n")
    return 0


def cmd_verify(args: argparse.Namespace, out: IO[str]) -> int:
    progress = render.Progress("verify --deep: replay")
    report = integrity.verify(args.log, deep=args.deep, progress=progress)
    progress.finish()
    render.table(
        ("SEGMENT", "VERSION", "BYTES", "FRAMES", "EVENTS", "SEQ"),
        [
            (
                s.name,
                s.version or "?",
                f"{s.bytes:,}",
                s.frames,
                s.events,
                f"{s.first_seq}..{s.last_seq}" if s.events else "-",
            )
            for s in report.log.segments
        ],
        out,
    )
    for problem in report.log.problems:
        kind = "torn tail (cut by the next writer)" if problem.torn_tail else "DAMAGE"
        out.write(f"{kind}: {problem}\n")
    if report.snapshots:
        out.write("\n")
        render.table(
            ("SNAPSHOT", "BYTES", "CHECK"),
            [(s.file, f"{s.bytes:,}", _snapshot_verdict(s)) for s in report.snapshots],
            out,
        )
    damaged = sum(s.problem is not None for s in report.snapshots)
    if not report.log.ok:
        verdict = "damaged: see `topology-engine repair`"
    elif damaged:
        verdict = f"{damaged} damaged snapshot(s): queries replay the log instead (remove them, then `snapshot`)"
    else:
        verdict = "ok"
    snapshots = len(report.snapshots)
    out.write(
        f"{report.log.events:,} events in {report.log.frames:,} frames, "
        f"{snapshots} snapshot{'s' if snapshots != 1 else ''}; {verdict}\n"
    )
    return 0 if report.ok else 1


def _snapshot_verdict(check: integrity.SnapshotCheck) -> str:
    if check.problem is not None:
        return f"DAMAGE: {check.problem}"
    if check.note is not None:
        return f"ok ({check.note})"
    return "ok, equals a replay to its seq" if check.matches_replay else "ok"


def cmd_repair(args: argparse.Namespace, out: IO[str]) -> int:
    dropped = integrity.DroppedEvents()
    report = log.repair(args.log, truncate=args.truncate, on_dropped=dropped)
    if not report.ranges:
        out.write("nothing to repair\n")
        return 0
    for problem in report.problems:
        kind = "torn tail" if problem.torn_tail else "damage"
        out.write(f"{kind}: {problem}\n")
    would = "" if report.truncated else "would "
    out.write(f"{would}cut {report.bytes_cut:,} bytes:\n")
    for cut in report.ranges:
        what = "the whole segment" if cut.whole else f"bytes {cut.start:,}..{cut.end:,}"
        out.write(f"  {cut.segment}: {what} ({cut.end - cut.start:,} bytes)\n")
    if report.seqs_cut is not None:
        first, last = report.seqs_cut
        out.write(
            f"  holding {report.events_cut:,} intact events (seq {first}..{last}), "
            f"besides what the damaged frames held\n"
        )
        if dropped.services:
            out.write(f"  services they touch: {', '.join(sorted(dropped.services))}\n")
        if dropped.nodes:
            out.write(f"  nodes they touch: {', '.join(sorted(dropped.nodes))}\n")
        if dropped.slices:
            out.write(f"  slices of no service they touch: {', '.join(sorted(dropped.slices))}\n")
        if dropped.unreadable:
            out.write(f"  records that name nothing this build knows: {dropped.unreadable:,}\n")
    else:
        out.write("  holding no intact event (a damaged frame's events cannot be read)\n")
    if report.snapshots_set_aside:
        out.write(
            f"{'set' if report.truncated else 'would set'} aside snapshots past the new end: "
            f"{', '.join(report.snapshots_set_aside)}\n"
        )
    if report.truncated:
        out.write(f"the cut bytes are kept in {', '.join(report.side_files)}\n")
        out.write(f"the log now ends at seq {report.last_seq}\n")
    else:
        out.write(f"the log would end at seq {report.last_seq}\n")
        out.write("nothing changed: run again with --truncate to cut (the cut bytes are kept beside the log)\n")
    return 0


def _write_update(update: Update, written: Optional[float], as_json: bool, out: IO[str]) -> None:
    if as_json:
        out.write(json.dumps(update.to_json(written)) + "\n")
    else:
        stamp = "-" if written is None else datetime.fromtimestamp(written, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        addresses = " ".join(f"{e.address}:{e.port}" for e in update.endpoints)
        out.write(f"seq {update.seq:>6}  {stamp}  {update.watch}  {update.op:6}  {addresses}\n")
    out.flush()


def cmd_follow(args: argparse.Namespace, out: IO[str]) -> int:
    _require_client(args)
    service, port, protocol = args.target
    with Engine.open(args.log) as engine:
        engine.check_client(args.node, args.zone)
        for update, written in engine.follow(
            service,
            port,
            node=args.node,
            zone=args.zone,
            policy=args.policy,
            protocol=protocol,
            ipv6=args.ipv6,
            timeout=args.timeout,
        ):
            _write_update(update, written, args.json, out)
    return 0


def cmd_replay(args: argparse.Namespace, out: IO[str]) -> int:
    started = time.perf_counter()
    progress = render.Progress("replay")
    if args.watch:
        _check_watches(args)
    with Engine.open(args.log, at=args.until, use_snapshot=False, fold=False) as engine:
        for service, port, protocol, node, zone in args.watch:
            engine.subscribe(
                service,
                port,
                node=node,
                zone=zone,
                policy=args.policy,
                protocol=protocol,
                ipv6=args.ipv6,
                on_update=lambda u: _write_update(u, engine.last_time, args.json, out),
            )
        applied = engine.replay(until=args.until, progress=progress if not args.watch else None)
    progress.finish()
    if args.watch:
        return 0
    elapsed = time.perf_counter() - started
    state = engine.state
    total = sum(applied.values())
    base = (
        f" from the snapshot at seq {engine.base_seq} (the events before it were compacted away)"
        if engine.base_seq
        else ""
    )
    out.write(
        f"replayed {total:,} events (seq {engine.base_seq + 1}..{state.seq}){base} in {elapsed:.3f} s"
        f" ({total / max(elapsed, 1e-9):,.0f} events/s, kernels: {kernels.IMPLEMENTATION})\n"
    )
    for kind, count in sorted(applied.items()):
        out.write(f"  {kind:16} {count:,}\n")
    out.write(
        f"services: {len(state.service_keys())}, slices: {len(state.slices)}, "
        f"endpoints: {state.endpoint_count()}, nodes: {len(state.nodes)}, "
        f"zones: {', '.join(sorted(state.zones())) or 'none'}\n"
    )
    return 0


def _check_watches(args: argparse.Namespace) -> None:
    """Each watched service port, node and zone must be one the log has (at
    its end): a mistyped name would otherwise print nothing at all."""
    with Engine.open(args.log) as engine:
        for service, port, protocol, node, zone in args.watch:
            engine.endpoints(service, port, policy=args.policy, protocol=protocol)
            engine.check_client(node, zone)


def cmd_hints(args: argparse.Namespace, out: IO[str]) -> int:
    with Engine.open(args.log, at=args.at) as engine:
        report = hintcheck.check_hints(engine, args.service, args.mode)
    if args.json:
        out.write(json.dumps(report.to_json()) + "\n")
    else:
        hintcheck.render_hint_report(report, out)
    return 0


def cmd_explain(args: argparse.Namespace, out: IO[str]) -> int:
    _require_client(args)
    service, port, protocol = args.target
    with Engine.open(args.log, at=args.at) as engine:
        engine.check_client(args.node, args.zone)
        expl = explain.explain(
            engine,
            service,
            port,
            node=args.node,
            zone=args.zone,
            policy=args.policy,
            protocol=protocol,
            endpoint=args.endpoint,
            ipv6=args.ipv6,
        )
    if args.json:
        out.write(json.dumps(expl.to_json()) + "\n")
    else:
        explain.render_explanation(expl, out)
    return 0


def cmd_whatif(args: argparse.Namespace, out: IO[str]) -> int:
    service, port, protocol = args.target
    if args.price_per_gb is not None and args.bytes_per_request is None:
        raise ArgumentError("--price-per-gb needs --bytes-per-request")
    if (args.rps is None) != (args.latency is None):
        raise ArgumentError("--rps and --latency go together (requests in flight are their product)")
    if args.timeline or args.chart:
        if args.scenario and len(args.scenario) > 1:
            raise ArgumentError("--timeline and --chart follow one scenario: recorded (the default) or hazl[:LOW,HIGH]")
        scenario = args.scenario[0] if args.scenario else whatif.Scenario("recorded")
        points = timelines(
            args.log,
            [(service, port)],
            clients=args.clients,
            policy=args.policy,
            scenario=scenario,
            rps=args.rps,
            latency=args.latency,
            protocol=protocol,
        )[(service, port)]
        rows = [point.row for point in points]
        if args.timeline:
            fmt = "json" if args.timeline.endswith(".json") else "csv"
            if args.timeline == "-":
                whatif.write_timeline(rows, out, fmt)
            else:
                with open(args.timeline, "w", encoding="utf-8") as stream:
                    whatif.write_timeline(rows, stream, fmt)
                out.write(f"timeline: {len(rows)} rows written to {args.timeline}\n")
        if args.chart:
            title = f"{service}:{port}" + ("" if scenario.kind == "recorded" else f" under {scenario.name}")
            path = write_chart(points, args.chart, title=title)
            out.write(f"chart written to {path}\n")
        return 0
    with Engine.open(args.log, at=args.at) as engine:
        report = whatif.whatif(
            engine,
            service,
            port,
            clients=args.clients,
            scenarios=args.scenario,
            policy=args.policy,
            price_per_gb=args.price_per_gb,
            bytes_per_request=args.bytes_per_request,
            rps=args.rps,
            latency=args.latency,
            protocol=protocol,
        )
    if args.json:
        out.write(json.dumps(report.to_json()) + "\n")
    else:
        whatif.render_whatif(report, out)
    return 0


def report_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a number of services (1 or more), got {text!r}")
    return int(text)


def cmd_report(args: argparse.Namespace, out: IO[str]) -> int:
    from .report import build_and_write

    other = [target_text(*target) for target in args.service if target[2] != "TCP"]
    if other:
        raise ArgumentError(f"--service: the report follows TCP service ports, not {', '.join(other)}")
    services = [(service, port) for service, port, _ in args.service]
    report, path = build_and_write(
        args.log, args.output, services=services, top=args.top, at=args.at, policy=args.policy, clients=args.clients
    )
    out.write(
        f"report written to {path}: {len(report.sections)} services, as of event {report.seq:,} "
        f"({report.seconds:.1f} s)\n"
    )
    return 0


# ---------------------------------------------------------------------------
# Parser


LOG_HELP = "the event log: a directory of segments and snapshots (`ingest` creates it)"
TARGET = arguments.TARGET_SYNTAX
TARGET_HELP = "the service port asked about; PROTOCOL is TCP (the default), UDP or SCTP"


def _parent() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False)


class SharedOptions:
    """The arguments several commands take, each defined once.

    Each attribute is an argparse parent parser; a command lists the ones it
    takes (``parents=[shared.log, shared.target, ...]``), so a flag means the
    same thing, with the same help, everywhere.
    """

    def __init__(self) -> None:
        self.log = _parent()
        self.log.add_argument("log", metavar="LOG", help=LOG_HELP)

        self.target = _parent()
        self.target.add_argument("target", metavar=TARGET, type=_typed(arguments.service_port), help=TARGET_HELP)

        self.client = _parent()
        where = self.client.add_mutually_exclusive_group()
        where.add_argument("--node", help="the client's node (its zone label decides the client zone)")
        where.add_argument("--zone", help="the client's zone, for a client on no particular node")

        self.policy = _parent()
        self.policy.add_argument(
            "--policy", choices=POLICIES, default=DEFAULT_POLICY, help="selection rules (default: %(default)s)"
        )

        self.at = _parent()
        self.at.add_argument(
            "--at", type=sequence_number, metavar="SEQ", help="answer as of event SEQ instead of the end of the log"
        )

        self.ipv6 = _parent()
        self.ipv6.add_argument(
            "--ipv6",
            action="store_true",
            help="Linkerd's --enable-ipv6: keep IPv6 pod addresses, preferring them for "
            "dual-stack pods (off by default, as in Linkerd's Helm chart)",
        )

        self.json = _parent()
        self.json.add_argument(
            "--json", action="store_true", help="JSON instead of text: one object per answer, one line per update"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Replay Kubernetes cluster changes and show which endpoints each client "
        "gets under topology-aware routing, exactly as Linkerd (and kube-proxy) decide.",
        epilog=f"LOG is {LOG_HELP}. Exit codes: 0 ok, 1 error, 2 usage.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    shared = SharedOptions()

    def command(name: str, run, help: str, description: str, parents=()) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help, description=description, parents=list(parents))
        p.set_defaults(run=run)
        return p

    p = command(
        "ingest",
        cmd_ingest,
        "append Kubernetes objects (JSON, YAML, watch streams) to a log",
        "Read Nodes, Services and EndpointSlices from kubectl output (JSON, watch streams or YAML; "
        "UTF-8, or UTF-16/32 with a byte-order mark), check them as the API server would, and append "
        "them to LOG as events (LOG is created if missing). Files are all-or-nothing and read before "
        "LOG is opened: bad input creates and changes nothing. '-' reads standard input and commits as "
        f"it goes, for `kubectl get ... --watch --output-watch-events -o json | {PROG} ingest LOG -`.",
        [shared.log],
    )
    p.add_argument("files", metavar="FILE", nargs="+", help="kubectl JSON/YAML output, or - for stdin")
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="append the valid objects and report how many invalid ones were skipped",
    )
    p.add_argument(
        "--no-sync", action="store_true", help="do not fsync each batch (faster bulk import; a crash may lose the tail)"
    )

    p = command(
        "endpoints",
        cmd_endpoints,
        "the endpoints a client gets for a service port",
        f"Show the endpoints a client on --node (or in --zone) receives for {TARGET}, and the rule that decided.",
        [shared.log, shared.client, shared.policy, shared.at, shared.ipv6, shared.json],
    )
    p.add_argument(
        "target",
        metavar=TARGET,
        type=_typed(arguments.service_port),
        nargs="?",
        help=TARGET_HELP + " (not with --batch)",
    )
    p.add_argument(
        "--batch",
        metavar="FILE",
        help='JSON lines of {"service": "ns/name", "port": 80, "node": "n1"} '
        '(or "zone"; optional "protocol", "policy"); one answer per line, in order',
    )

    p = command(
        "replay",
        cmd_replay,
        "fold the whole log; summarise it, or show what clients received",
        "Fold the log from its first event (never from a snapshot, except after `compact`: then from "
        "the compaction snapshot, since the events before it are gone). Without --watch, print what was "
        "applied, the resulting cluster and the rate. With --watch, print every Add/Remove each watched "
        "client received, in event order.",
        [shared.log, shared.policy, shared.ipv6, shared.json],
    )
    p.add_argument(
        "--until", type=sequence_number, metavar="SEQ", help="stop after event SEQ (an error past the end of the log)"
    )
    p.add_argument(
        "--watch",
        type=_typed(watch_spec),
        action="append",
        default=[],
        metavar=f"{TARGET}@NODE",
        help="a client to follow (repeatable), on a node or, as @zone:ZONE, in a zone: its "
        "updates are printed as the log is folded",
    )

    p = command(
        "follow",
        cmd_follow,
        "show a client's endpoints, then each change as the log grows",
        "Print the endpoints a client on --node (or in --zone) gets, then every Add/Remove as another "
        "process appends to LOG (e.g. `ingest LOG -` fed by kubectl --watch). Stops on Ctrl-C or after "
        "--timeout idle seconds.",
        [shared.log, shared.target, shared.client, shared.policy, shared.ipv6, shared.json],
    )
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop after this long with no new event")

    command(
        "snapshot",
        cmd_snapshot,
        "write the current state as a snapshot",
        "Fold LOG and write its state as a snapshot in LOG, so that opening it replays only the events "
        "after the snapshot.",
        [shared.log],
    )

    command(
        "compact",
        cmd_compact,
        "drop the log segments the newest snapshot covers",
        "Remove whole segments whose events the newest snapshot covers. `endpoints --at SEQ` keeps "
        "working for every SEQ still in the log.",
        [shared.log],
    )

    command(
        "stats",
        cmd_stats,
        "events, sequence range, segments, bytes and snapshots of a log",
        "Events, sequence range, segments, bytes and snapshots of LOG; reads headers and the last segment only.",
        [shared.log, shared.json],
    )

    p = command(
        "verify",
        cmd_verify,
        "check every frame and snapshot of a log (exit 1 on damage)",
        "Read every segment and frame, checking headers, checksums and sequence numbers, and every "
        "snapshot: header, checksum and that its image decodes. Changes nothing. Exit 0 when the log "
        "is sound (a torn tail left by a crash is cut by the next writer), 1 on damage.",
        [shared.log],
    )
    p.add_argument(
        "--deep",
        action="store_true",
        help="also fold the log and compare the state at each snapshot's seq with the snapshot",
    )

    p = command(
        "repair",
        cmd_repair,
        "cut a damaged log at its first problem",
        "Show what a cut at the log's first problem (damage or a torn tail) would drop: the byte "
        "ranges, the intact events among them, their seq range and the services they touch. Nothing "
        "changes without --truncate; with it, the cut bytes are first kept beside the segments "
        "(SEGMENT.cut-OFFSET) and snapshots past the new end are renamed SNAPSHOT.stale.",
        [shared.log],
    )
    p.add_argument("--truncate", action="store_true", help="really cut (takes the writer lock)")

    p = command(
        "hints",
        cmd_hints,
        "the hints the EndpointSlice controller would write, against the recorded",
        "Compute the hints the EndpointSlice controller would write for NAMESPACE/NAME (the Auto "
        "allocator, or trafficDistribution) and mark each endpoint's recorded hints ok, stale, "
        "missing or unexpected.",
        [shared.log, shared.at, shared.json],
    )
    p.add_argument("service", metavar="NAMESPACE/NAME", type=_typed(arguments.service_key), help="the service")
    p.add_argument(
        "--mode", choices=hintcheck.MODES, help="the hint mode to apply (default: what the Service asks for)"
    )

    p = command(
        "explain",
        cmd_explain,
        "why a client gets what it gets, step by step",
        "Walk through the decision for a client: its zone and where it came from, candidate counts "
        "at each step, the rule that fired and, with --endpoint, why one endpoint is in or out.",
        [shared.log, shared.target, shared.client, shared.policy, shared.at, shared.ipv6, shared.json],
    )
    p.add_argument("--endpoint", metavar="ADDRESS[:PORT]", help="explain this endpoint's verdict")

    p = command(
        "whatif",
        cmd_whatif,
        "cross-zone traffic and endpoint load under scenarios",
        "Model where a service's requests go: the zone-to-zone traffic matrix, the cross-zone share "
        "and each endpoint's load, as recorded and under scenarios, side by side. With --rps and "
        "--latency every endpoint also gets its request rate and requests in flight, and the hazl "
        "scenario (Buoyant's zonal load band, modelled) joins the defaults. With --timeline or --chart, "
        "follow the cross-zone share and worst overload along the whole log instead, as recorded or "
        "under hazl.",
        [shared.log, shared.target, shared.policy, shared.at, shared.json],
    )
    p.add_argument(
        "--clients",
        metavar="SPEC",
        type=_typed(whatif.parse_clients),
        help="where requests come from: cpu (default: allocatable CPU of Ready workers), "
        "service:NS/NAME (its ready endpoints), or zone-a=60,zone-b=30,...",
    )
    p.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        type=_typed(whatif.parse_scenario),
        help=f"repeatable: {whatif.SCENARIO_NAMES} (the hazl band is in requests in flight per "
        "endpoint, default 0.8,2.0; hazl needs --rps) (default: recorded, none, auto, and hazl "
        "with --rps)",
    )
    p.add_argument(
        "--price-per-gb",
        metavar="PRICE",
        type=_typed(whatif.parse_prices),
        help="cross-zone price per GB: one number, or zone-a:zone-b=0.01,... per pair",
    )
    p.add_argument("--bytes-per-request", type=float, metavar="BYTES", help="request size, for the cost")
    p.add_argument(
        "--rps",
        type=float,
        metavar="R",
        help="requests per second over all clients, spread over client zones by --clients",
    )
    p.add_argument("--latency", type=float, metavar="SECONDS", help="mean request latency (with --rps)")
    p.add_argument(
        "--timeline",
        metavar="FILE",
        help="write the cross-zone share and worst overload after every event touching the "
        "service, as CSV (or JSON for a .json FILE; - for standard output); with "
        "--scenario hazl, under HAZL with its pools carried from event to event",
    )
    p.add_argument(
        "--chart", metavar="FILE", help="draw the timeline to FILE: .svg, .png, or .html (a page that needs no network)"
    )

    p = command(
        "report",
        cmd_report,
        "one HTML page: the cluster at a glance, each service's cross-zone traffic",
        "Write one self-contained HTML page (it needs no network to view): the cluster at a glance "
        "(zones, nodes and CPU, the rules clients get, the whole cluster's modelled cross-zone share as "
        "recorded, with Auto hints and with none, services ranked by cross-zone traffic) and, per "
        "service, the what-if scenarios, the zone-to-zone matrix as a heat map, the cross-zone share and "
        "worst overload along the log, hints health and the rule each client zone gets. The timelines "
        "of all services come from one pass over the log (and stop at --at).",
        [shared.log, shared.policy, shared.at],
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", default="report.html", help="where to write the page (default: %(default)s)"
    )
    p.add_argument(
        "--service",
        type=_typed(arguments.service_port),
        action="append",
        default=[],
        metavar=TARGET,
        help="a service to report on (repeatable; default: the --top services adding most to the "
        "cluster's cross-zone share)",
    )
    p.add_argument(
        "--top",
        type=report_count,
        default=20,
        metavar="N",
        help="how many services to report on without --service (default: %(default)s)",
    )
    p.add_argument(
        "--clients",
        metavar="SPEC",
        type=_typed(whatif.parse_clients),
        help="where requests come from, as for whatif: cpu (default), service:NS/NAME, or zone-a=60,zone-b=30,...",
    )

    p = command(
        "demo",
        cmd_demo,
        "run on the bundled demo cluster",
        "Ingest the bundled demo cluster into a temporary log and show, per service and client zone, "
        "which endpoints each client gets and why, before and after a recorded series of changes.",
    )
    p.add_argument("--keep", metavar="DIR", help="write the demo log to DIR and keep it")
    return parser


def _typed(parse):
    """An argparse type from one of the engine's parsers of what people type:
    its error becomes a usage error naming the flag."""

    def convert(text: str):
        try:
            return parse(text)
        except EngineError as exc:
            raise argparse.ArgumentTypeError(exc.detail) from None

    convert.__name__ = parse.__name__
    return convert


def _warn(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(f"{PROG}: warning: {message}\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    warnings.showwarning = _warn
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    out = sys.stdout
    try:
        return args.run(args, out)
    except ArgumentError as exc:
        parser.exit(2, f"{PROG} {args.command}: error: {_as_typed(exc, argv)}\n")
    except EngineError as exc:
        sys.stderr.write(f"{PROG}: {_as_typed(exc, argv)}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): not an error worth a traceback.
        sys.stderr.close()
        return 0


def _as_typed(exc: EngineError, argv: Sequence[str]) -> str:
    """The message, naming the flag the person typed rather than the API
    argument behind it (``--price-per-gb`` for ``price_per_gb``)."""
    if exc.argument:
        flag = "--" + exc.argument.replace("_", "-")
        if any(a == flag or a.startswith(flag + "=") for a in argv):
            return f"{flag}: {exc.detail}"
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
