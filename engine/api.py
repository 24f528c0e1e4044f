"""The embedding API: an Engine is a log, the state folded from it, and the
index over that state.

    eng = Engine.open("cluster-log")
    sel = eng.endpoints("shop/web", 80, node="node-a1")
    sel.rule, [e.address for e in sel.endpoints]
"""

from __future__ import annotations

import collections
import contextlib
import gc
import os
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Optional

import attrs

from . import arguments, kernels, kube
from .arguments import DEFAULT_PROTOCOL
from .errors import ArgumentError, InputError, LogError, LookupFailed, RecordError
from .events import Event, ServiceUpserted
from .index import ZoneIndex
from .log import EventLog, check_log_dir, list_segments
from .log import follow as follow_log
from .policies import DEFAULT_POLICY, kube_proxy, linkerd
from .snapshot import list_snapshots, load_snapshot, write_snapshot
from .state import Change, ClusterState
from .subscribe import AsyncUpdates, Subscription, Subscriptions, Update, WatchKey
from .values import Selection

# Events per log frame when importing files: large enough to amortise the
# per-frame header and checksum, small enough to keep frames well under the
# log's frame size limit.
INGEST_BATCH = 2000
# What a snapshot image holds; a change to the state or index dump bumps it,
# and older snapshots are then ignored (the log is replayed instead).
SNAPSHOT_FORMAT = 4


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Folding and decoding allocate millions of small objects that form no
    cycles; left on, the cyclic collector rescans the growing heap again and
    again (it halves the replay rate, and makes decoding a snapshot ten times
    slower).  Reference counting still frees everything."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@attrs.define
class IngestReport:
    stats: kube.ReadStats
    appended: int = 0
    first_seq: int = 0
    last_seq: int = 0


class Engine:
    """Cluster state folded from an event log, with selection queries."""

    def __init__(self, log=None, *, implementation: str = kernels.IMPLEMENTATION):
        """An engine over ``log`` (None: events are only folded, not kept),
        on the kernel ``implementation`` ("compiled" or "pure")."""
        self.core = kernels.for_implementation(implementation)
        self.implementation = implementation
        self.state = ClusterState(self.core)
        self.index = ZoneIndex(self.state)
        self.subscriptions = Subscriptions(self)
        self.log = log
        self.last_time = 0.0  # when the last folded event was written to the log
        self.base_seq = 0  # seq of the snapshot the fold started from (0: the first event)
        # Whole answers of endpoints(), per service, dropped when an event
        # touches that service or moves a node: a repeated question costs two
        # dict lookups.  The index below keeps finer-grained caches.
        self._answers: dict[str, dict[tuple, Selection]] = {}

    # -- opening -------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        *,
        at: Optional[int] = None,
        write: bool = False,
        create: bool = False,
        sync: bool = True,
        use_snapshot: bool = True,
        fold: bool = True,
        progress: Optional[Callable[[int, int], None]] = None,
        implementation: str = kernels.IMPLEMENTATION,
    ) -> Engine:
        """Open the log at ``path`` and fold it, up to sequence ``at`` if given.

        The newest valid snapshot at or before that point is loaded first and
        only the events after it are replayed; a damaged snapshot is skipped
        with a warning (the log is the truth).  ``use_snapshot=False`` folds
        every event the log holds: from the first, or, when the events before
        the log's first were compacted away, from the oldest snapshot the log
        continues (``base_seq`` says which).  ``fold=False`` stops before
        folding, for a caller that subscribes first and then calls
        ``replay(until=at)``.
        """
        log = EventLog.open(path, create=create, write=write, sync=sync)
        if log.recovered:
            # A crash mid-write leaves a torn last frame; say so, since its
            # events are not part of the answer.
            warnings.warn(f"{path}: {log.recovered}", stacklevel=2)
        try:
            engine = cls(log, implementation=implementation)
            target = log.last_seq
            if at is not None:
                if at > log.last_seq:
                    raise LogError(f"{path}: seq {at} is past the end of the log (last seq {log.last_seq})")
                target = at
            with _cyclic_gc_paused():  # decoding makes millions of lists: see _cyclic_gc_paused
                if use_snapshot:
                    found = load_snapshot(path, max_seq=target)
                elif log.origin:
                    found = load_snapshot(path, max_seq=target, min_seq=log.origin, oldest=True)
                else:
                    found = None
            if found is not None:
                engine._restore(*found)
            if log.origin > engine.seq and target > engine.seq:
                raise LogError(
                    f"{path}: events {engine.seq + 1}..{log.origin} were compacted away and no "
                    f"snapshot covers seq {target}; the log answers from seq {log.origin} on"
                )
            engine.base_seq = engine.seq
            if fold:
                engine.replay(until=target, progress=progress)
        except BaseException:
            log.close()
            raise
        return engine

    def replay(
        self, *, until: Optional[int] = None, progress: Optional[Callable[[int, int], None]] = None
    ) -> dict[str, int]:
        """Fold the log from its first event; returns events applied per kind."""
        applied: dict[str, int] = {}
        if self.log is None:
            return applied
        last = self.log.last_seq if until is None else min(until, self.log.last_seq)
        step = max(last // 200, 1)
        with _cyclic_gc_paused():
            for seq, written, event in self.read(last):
                self.last_time = written
                self.fold(event, seq)
                kind = type(event).__name__
                applied[kind] = applied.get(kind, 0) + 1
                if progress is not None and seq % step == 0:
                    progress(seq, last)
        return applied

    def read(self, until: Optional[int] = None) -> Iterator[tuple[int, float, Event]]:
        """``(seq, time, event)`` for the log's events after the engine's
        position, up to ``until``, decoded with the engine's string table
        (the caller folds them, in order)."""
        decode = self.state.codec.decode
        for seq, written, record in self.log.read(self.state.seq + 1, until):
            yield seq, written, decode(record)

    def close(self) -> None:
        if self.log is not None:
            self.log.close()

    # -- snapshots -----------------------------------------------------------

    def snapshot(self) -> Path:
        """Write the current state (reducer and index) as a snapshot at the current seq."""
        if self.log is None:
            raise LogError("an engine without a log has nowhere to write a snapshot")
        with _cyclic_gc_paused():
            return write_snapshot(self.log.path, self.state.seq, self.image())

    def image(self) -> dict:
        """The engine's state and index as a snapshot holds them (``verify
        --deep`` compares these)."""
        return {"engine": SNAPSHOT_FORMAT, "state": self.state.dump(), "index": self.index.dump()}

    def decode_image(self, image: object) -> Optional[tuple[ClusterState, ZoneIndex]]:
        """The state and index a snapshot image holds, on this engine's core;
        None for an image in another format (which this engine does not
        read); RecordError when the image is damaged."""
        if not isinstance(image, dict) or image.get("engine") != SNAPSHOT_FORMAT:
            return None
        try:
            with _cyclic_gc_paused():
                state = ClusterState.load(image["state"], self.core)
                index = ZoneIndex(state)
                index.load(image["index"])
        except (RecordError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise RecordError(f"image does not decode ({exc})") from None
        return state, index

    def _restore(self, seq: int, image: object) -> None:
        try:
            decoded = self.decode_image(image)
        except RecordError as exc:
            warnings.warn(f"snapshot at seq {seq}: {exc}; replaying the log instead", stacklevel=3)
            return
        if decoded is None:
            warnings.warn(f"snapshot at seq {seq} has another format; replaying the log instead", stacklevel=3)
            return
        self.state, self.index = decoded
        self._answers.clear()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def seq(self) -> int:
        return self.state.seq

    # -- writing -------------------------------------------------------------

    def apply(self, event: Event) -> Change:
        """Append one event (when there is a log) and fold it."""
        return self.apply_all([event])

    def apply_all(self, events: list[Event]) -> Change:
        """Append ``events`` as one batch, then fold them; returns the union change."""
        if not events:
            return Change()
        first = self.state.seq + 1
        self.last_time = time.time()
        events = self._append(events)
        services: set[str] = set()
        nodes: set[str] = set()
        with _cyclic_gc_paused():
            for offset, event in enumerate(events):
                change = self.fold(event, first + offset)
                services |= change.services
                nodes |= change.nodes
        return Change(frozenset(services), frozenset(nodes))

    def _append(self, events: list[Event]) -> list[Event]:
        """``events`` adopted into the string table (as the state stores them)
        and, with a log, appended to it: each slice record carries the
        strings its adoption added.  A failed append takes them back."""
        state = self.state
        if self.log is None:
            return [state.adopt(e) for e in events]
        strings = state.strings
        adopted = []
        for start in range(0, len(events), INGEST_BATCH):
            mark = len(strings)
            try:
                records = []
                for event in events[start : start + INGEST_BATCH]:
                    event, record = state.codec.to_log(event)
                    adopted.append(event)
                    records.append(record)
                self.log.append(records)
            except BaseException:
                strings.truncate(mark)  # this batch never reached the log
                raise
        return adopted

    def fold(self, event: Event, seq: int) -> Change:
        """Apply one event to the state, then bring the index and subscribers up to date."""
        change = self.state.apply(event, seq)
        if change:
            self.index.apply(event, change)
            for service in change.services:
                self._answers.pop(service, None)
            if change.nodes:
                self._answers.clear()  # a client's zone may have moved
            if self.subscriptions.group_count:
                self.subscriptions.publish(change, seq)
            self.index.settle()
        return change

    def ingest(self, objects, *, skip_invalid: bool = False, source: str = "objects") -> IngestReport:
        """Turn Kubernetes objects (or watch events) into events and append them.

        ``objects``: one object (a dict), JSON or YAML text (bytes or str,
        such as a watch stream's lines, decoded without building dicts), or
        an iterable of either.  All or nothing: an invalid object raises
        InputError before anything is appended, unless ``skip_invalid``
        leaves it out.
        """
        stats = kube.ReadStats()
        with _cyclic_gc_paused():
            events = list(kube.read_objects(objects, source, stats, skip_invalid=skip_invalid))
        return self._append_report(stats, events)

    def ingest_streams(self, sources: Iterable[tuple[str, IO]], *, skip_invalid: bool = False) -> IngestReport:
        """Read every source (binary or text stream) completely, then append:
        bad input appends nothing."""
        stats = kube.ReadStats()
        events = _read_sources(sources, stats, skip_invalid)
        return self._append_report(stats, events)

    def ingest_live(
        self,
        stream: IO,
        source: str,
        *,
        skip_invalid: bool = False,
        flush_seconds: float = 0.2,
        on_commit: Optional[Callable[[IngestReport], None]] = None,
    ) -> IngestReport:
        """Append events as a stream delivers them (``kubectl --watch | ingest -``).

        Pending events are committed at most ``flush_seconds`` after they
        arrive, also while the stream is quiet, so a follower sees them
        promptly.  An invalid object stops the stream; what came before it
        stays committed.
        """
        stats = kube.ReadStats()
        report = IngestReport(stats)
        for batch in _live_batches(kube.iter_events(stream, source, stats, skip_invalid=skip_invalid), flush_seconds):
            self._commit(batch, report, on_commit)
        return report

    def _commit(
        self, batch: list[Event], report: IngestReport, on_commit: Optional[Callable[[IngestReport], None]]
    ) -> None:
        first = self.state.seq + 1
        self.apply_all(batch)
        report.first_seq = report.first_seq or first
        report.last_seq = self.state.seq
        report.appended += len(batch)
        if on_commit is not None:
            on_commit(report)

    def _append_report(self, stats: kube.ReadStats, events: list[Event]) -> IngestReport:
        report = IngestReport(stats)
        if events:
            self._commit(events, report, None)
        return report

    # -- queries -------------------------------------------------------------

    def endpoints(
        self,
        service: str,
        port: int,
        *,
        node: Optional[str] = None,
        zone: Optional[str] = None,
        policy: str = DEFAULT_POLICY,
        protocol: str = DEFAULT_PROTOCOL,
        hostname: Optional[str] = None,
        filtering: bool = True,
        ipv6: bool = False,
        strict: bool = True,
    ) -> Selection:
        """What a client on ``node`` (or, without a node, in ``zone``) gets for ``service`` port ``port``.

        ``protocol`` (TCP, UDP or SCTP) is matched as each policy matches it:
        kube-proxy keys a Service port by name and protocol; Linkerd's proxy
        carries TCP only (UDP and SCTP bypass it), so the Linkerd policies
        answer TCP questions and resolve the port by number alone, as
        Linkerd's port publishers do.

        With ``strict`` (the default) an unknown service, or a port its
        Service does not declare for that protocol, raises LookupFailed.
        ``strict=False`` answers as Linkerd does: an unknown service has no
        endpoints, and an undeclared port number is used as the endpoint
        port.  A node the cluster does not have has no zone, as in Linkerd
        (``check_client`` tells).  Arguments of the wrong type or value raise
        ArgumentError.
        """
        question = (port, node, zone, policy, protocol, hostname, filtering, ipv6, strict)
        answers = self._answers.get(service)
        if answers is not None:
            found = answers.get(question)
            if found is not None:
                return found
        # Checked only when the answer is not cached: a cached question was checked when first asked.
        protocol = self._check_question(service, port, node, zone, policy, protocol, hostname)
        if strict:
            self._check_exists(service, port, protocol)
        client_zone = zone if node is None else self.state.node_zone(node)
        svc = self.state.services.get(service)
        if policy == "kube-proxy":
            # kube-proxy programs nothing for a port the Service does not declare
            # with this protocol: to it, there is no such service.
            proxied = svc if svc is not None and _declares(svc, port, protocol) else None
            # A first question builds kube-proxy's endpoint values, an object
            # or more per endpoint (see _cyclic_gc_paused).
            with _cyclic_gc_paused():
                endpoints = (
                    self.index.proxy_endpoints(service, port, protocol)
                    if proxied is not None
                    else kube_proxy.PortEndpoints((), {})
                )
                choice = kube_proxy.choose(proxied, endpoints, port, node, client_zone, protocol=protocol)
            rule, chosen, candidates = choice.rule, choice.endpoints, choice.candidates
        else:
            client = linkerd.Client(
                node=node,
                zone=client_zone,
                hostname=hostname,
                filtering=filtering,
                ipv6=ipv6,
                node_hints=policy == "linkerd+nodes",
            )
            rule, chosen, candidates = self.index.select(service, port, client)
        selection = Selection(
            service=service,
            port=port,
            node=node,
            zone=client_zone,
            policy=policy,
            rule=rule,
            endpoints=chosen,
            candidates=candidates,
            protocol=protocol,
        )
        self._answers.setdefault(service, {})[question] = selection
        return selection

    # -- subscriptions ---------------------------------------------------------

    def subscribe(
        self,
        service: str,
        port: int,
        *,
        node: Optional[str] = None,
        zone: Optional[str] = None,
        hostname: Optional[str] = None,
        filtering: bool = True,
        policy: str = DEFAULT_POLICY,
        protocol: str = DEFAULT_PROTOCOL,
        ipv6: bool = False,
        on_update: Callable[[Update], None],
    ) -> Subscription:
        """Call ``on_update`` with the initial Add, then every Add/Remove as events arrive.

        Returns a handle with ``.cancel()``.  See engine.subscribe for the
        update contract and how failing callbacks are isolated.
        """
        key = self._watch_key(service, port, node, zone, hostname, filtering, policy, protocol, ipv6)
        return self.subscriptions.subscribe(key, on_update)

    def updates(
        self,
        service: str,
        port: int,
        *,
        node: Optional[str] = None,
        zone: Optional[str] = None,
        hostname: Optional[str] = None,
        filtering: bool = True,
        policy: str = DEFAULT_POLICY,
        protocol: str = DEFAULT_PROTOCOL,
        ipv6: bool = False,
        max_queue: int = 1000,
    ) -> AsyncUpdates:
        """The same as an async iterator with a bounded queue (``async for update in ...``)."""
        key = self._watch_key(service, port, node, zone, hostname, filtering, policy, protocol, ipv6)
        return AsyncUpdates(self.subscriptions, key, max_queue)

    def follow(
        self,
        service: str,
        port: int,
        *,
        node: Optional[str] = None,
        zone: Optional[str] = None,
        policy: str = DEFAULT_POLICY,
        protocol: str = DEFAULT_PROTOCOL,
        ipv6: bool = False,
        timeout: Optional[float] = None,
    ) -> Iterator[tuple[Update, Optional[float]]]:
        """What a client gets now, then every Add/Remove as another process
        appends to the log: ``(update, time)`` pairs, ``time`` being when the
        update's event was written (None if the log no longer holds it).

        The service and port must exist now (as for a strict ``endpoints``).
        Ends after ``timeout`` seconds without a new event, or never; the
        subscription is cancelled when the iterator is closed.
        """
        if self.log is None:
            raise LogError("follow needs an engine opened on a log")
        self.endpoints(service, port, node=node, zone=zone, policy=policy, protocol=protocol, ipv6=ipv6)
        arrived: collections.deque[Update] = collections.deque()
        handle = self.subscribe(
            service, port, node=node, zone=zone, policy=policy, protocol=protocol, ipv6=ipv6, on_update=arrived.append
        )
        try:
            written = self._time_of(self.seq)
            while arrived:
                yield arrived.popleft(), written
            decode = self.state.codec.decode
            for seq, written, record in follow_log(self.log.path, self.seq + 1, timeout=timeout):
                self.last_time = written
                self.fold(decode(record), seq)
                while arrived:
                    yield arrived.popleft(), written
        finally:
            handle.cancel()

    def _time_of(self, seq: int) -> Optional[float]:
        """When event ``seq`` was written: known after folding it, else read
        from the log (an engine restored from a snapshot folded nothing)."""
        if self.last_time or seq == 0:
            return self.last_time or None
        if self.log is None or seq < self.log.first_seq:
            return None  # compacted away
        return next((written for _, written, _ in self.log.read(seq, seq)), None)

    def _watch_key(self, service, port, node, zone, hostname, filtering, policy, protocol, ipv6) -> WatchKey:
        protocol = self._check_question(service, port, node, zone, policy, protocol, hostname)
        return WatchKey(service, port, node, hostname, filtering, policy, ipv6, zone, protocol)

    # -- checking questions ------------------------------------------------------

    @staticmethod
    def _check_question(service, port, node, zone, policy, protocol, hostname) -> str:
        """Raise ArgumentError for an argument of the wrong type or value; the protocol, as spelled by Kubernetes."""
        arguments.service_key(service)
        arguments.port_number(port)
        arguments.optional_name(node, "node")
        arguments.optional_name(zone, "zone")
        arguments.optional_name(hostname, "hostname")
        arguments.policy(policy)
        protocol = arguments.protocol(protocol)
        if policy != "kube-proxy" and protocol != "TCP":
            raise ArgumentError(
                f"policy {policy} answers TCP only: Linkerd's proxy carries TCP, {protocol} traffic to "
                f"{service}:{port} bypasses it (ask policy kube-proxy)",
                argument="protocol",
            )
        return protocol

    def _check_exists(self, service: str, port: int, protocol: str) -> None:
        state = self.state
        svc = state.services.get(service)
        if svc is None:
            if service not in state.service_slices:  # slices without their Service: Linkerd still serves them
                namespace = service.split("/", 1)[0]
                near = sorted(k.split("/", 1)[1] for k in state.service_keys() if k.startswith(namespace + "/"))
                hint = (
                    f"services in {namespace}: {', '.join(near)}" if near else f"no services in namespace {namespace}"
                )
                raise LookupFailed(f"service {service} not found ({hint})")
        elif not _declares(svc, port, protocol):
            declared = ", ".join(f"{p.port}/{p.protocol}" + (f" ({p.name})" if p.name else "") for p in svc.ports)
            raise LookupFailed(f"service {service} has no port {port}/{protocol} (ports: {declared or 'none'})")

    def check_client(self, node: Optional[str] = None, zone: Optional[str] = None) -> None:
        """Raise LookupFailed for a client node, or zone, the cluster does not have.

        Queries accept them (Linkerd gives an unknown node no zone); the
        command line asks this first, since a name it was given and the
        cluster does not know is most likely mistyped.
        """
        if node is not None and node not in self.state.nodes:
            raise arguments.unknown_name("node", node, self.state.nodes, argument="node")
        if node is None and zone is not None and zone not in self.state.zones() and zone not in self.zones():
            raise arguments.unknown_name("zone", zone, self.zones(), argument="zone")

    def zones(self) -> set[str]:
        """Every zone the cluster names: node labels, endpoint zones and zone hints."""
        found = self.state.zones()
        for es in self.state.slices.values():
            for e in es.endpoints:
                if e.zone:
                    found.add(e.zone)
                found.update(e.for_zones)
        return found


def _declares(service: ServiceUpserted, port: int, protocol: str) -> bool:
    return any(p.port == port and p.protocol == protocol for p in service.ports)


@attrs.define
class CompactReport:
    segments_removed: int
    upto_seq: int  # events up to here are gone from the log; --at works from here on
    snapshot_seq: int


def compact(path: str | os.PathLike) -> CompactReport:
    """Drop the log segments the newest snapshot covers.

    Only whole segments go.  So that every ``--at`` from the first remaining
    event on still works, a snapshot is written exactly at the cut if none is
    there yet.
    """
    check_log_dir(path)
    snapshots = list_snapshots(path)
    if not snapshots:
        raise LogError(f"{path}: nothing to compact: no snapshot yet (run `topology-engine snapshot`)")
    newest = snapshots[-1].seq
    segments = list_segments(Path(path))
    cut = 0
    for following in segments[1:]:
        if following.first_seq - 1 > newest:
            break
        cut = following.first_seq - 1
    if cut == 0:
        return CompactReport(0, 0, newest)
    with Engine.open(path, at=cut, write=True) as engine:
        if not any(s.seq == cut for s in snapshots):
            engine.snapshot()
        removed = engine.log.compact(cut)
    return CompactReport(removed, cut, newest)


def _read_sources(sources: Iterable[tuple[str, IO]], stats: kube.ReadStats, skip_invalid: bool) -> list[Event]:
    events: list[Event] = []
    with _cyclic_gc_paused():
        for name, stream in sources:
            events.extend(kube.iter_events(stream, name, stats, skip_invalid=skip_invalid))
    return events


def _live_batches(events: Iterator[Event], flush_seconds: float) -> Iterator[list[Event]]:
    """Batches of ``events`` as they arrive: each at most ``flush_seconds``
    after its first event (also while the source is quiet) and at most
    ``INGEST_BATCH`` long.  An error from the source is raised after the
    events before it were yielded."""
    arrivals: queue.Queue = queue.Queue(maxsize=INGEST_BATCH)
    done = object()

    def read() -> None:
        # The source blocks while kubectl waits for changes: read it in a
        # thread so that the timer below can flush in the meantime.
        try:
            for event in events:
                arrivals.put(event)
            arrivals.put(done)
        except BaseException as exc:  # handed to the consuming thread, raised there
            arrivals.put(exc)

    threading.Thread(target=read, name="ingest-reader", daemon=True).start()
    pending: list[Event] = []
    deadline = None
    try:
        while True:
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                item = arrivals.get(timeout=timeout)
            except queue.Empty:
                batch, pending, deadline = pending, [], None
                yield batch
                continue
            if item is done:
                break
            if isinstance(item, BaseException):
                raise item
            pending.append(item)
            if deadline is None:
                deadline = time.monotonic() + flush_seconds
            if len(pending) >= INGEST_BATCH:
                batch, pending, deadline = pending, [], None
                yield batch
    except GeneratorExit:
        raise
    except BaseException:
        # An invalid object or an interrupt: what arrived before it is kept.
        if pending:
            batch, pending = pending, []
            yield batch
        raise
    if pending:
        yield pending


def ingest_files(
    path: str | os.PathLike, names: Iterable[str], *, sync: bool = True, skip_invalid: bool = False
) -> IngestReport:
    """Read and validate every file, then append to the log at ``path``
    (created if missing).  Bad input opens, creates and changes nothing."""
    stats = kube.ReadStats()
    streams = []
    try:
        for name in names:
            try:
                streams.append((name, open(name, "rb")))
            except OSError as exc:
                raise InputError(f"{name}: cannot read: {exc.strerror}") from None
        events = _read_sources(streams, stats, skip_invalid)
    finally:
        for _, stream in streams:
            stream.close()
    with Engine.open(path, create=True, write=True, sync=sync) as engine:
        return engine._append_report(stats, events)


def ingest_live(
    path: str | os.PathLike,
    stream: IO,
    source: str,
    *,
    sync: bool = True,
    skip_invalid: bool = False,
    flush_seconds: float = 0.2,
    on_commit: Optional[Callable[[IngestReport], None]] = None,
) -> IngestReport:
    """``Engine.ingest_live`` into the log at ``path``, opened (and created
    if missing) when the first batch is ready: input that is bad from the
    start opens, creates and changes nothing."""
    stats = kube.ReadStats()
    report = IngestReport(stats)
    engine: Optional[Engine] = None
    try:
        for batch in _live_batches(kube.iter_events(stream, source, stats, skip_invalid=skip_invalid), flush_seconds):
            if engine is None:
                engine = Engine.open(path, create=True, write=True, sync=sync)
            engine._commit(batch, report, on_commit)
        if engine is None:  # good input without a single event: the log exists afterwards all the same
            engine = Engine.open(path, create=True, write=True, sync=sync)
    finally:
        if engine is not None:
            engine.close()
    return report
