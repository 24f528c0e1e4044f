"""A log directory's integrity as the engine sees it: the log's frames
(engine/log), every snapshot's file and image, and, deeply, each snapshot
against a replay of the log to its seq; and what a repair's cut events were
about.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Optional

import attrs
import msgpack

from . import log
from .api import Engine
from .errors import LogError, RecordError
from .records import subject
from .snapshot import SnapshotInfo, list_snapshots, read_snapshot


@attrs.frozen
class SnapshotCheck:
    seq: int
    file: str
    bytes: int
    problem: Optional[str] = None  # damage: the snapshot is skipped when the log is opened
    note: Optional[str] = None  # not damage, but worth knowing (not compared, another format)
    matches_replay: Optional[bool] = None  # deep only: None when not compared


@attrs.frozen
class IntegrityReport:
    log: log.VerifyReport
    snapshots: list[SnapshotCheck]
    deep: bool

    @property
    def ok(self) -> bool:
        return self.log.ok and all(s.problem is None for s in self.snapshots)


def verify(path, *, deep: bool = False, progress: Optional[Callable[[int, int], None]] = None) -> IntegrityReport:
    """Check every frame and every snapshot; changes nothing.

    A snapshot is checked for its header, checksum and msgpack (its file),
    then for decoding into a state (its image).  With ``deep``, and when the
    log itself is sound, the log is folded once from its start (or its
    compaction snapshot) and the state at each later snapshot's seq is
    compared with that snapshot's image.
    """
    log_report = log.verify(path)
    engine = Engine()  # decodes images on the default core
    checks = [_check_file(engine, info, log_report) for info in list_snapshots(path)]
    if deep:
        if not log_report.ok:
            checks = [attrs.evolve(c, note=c.note or "not compared: the log is damaged") for c in checks]
        else:
            checks = _compare_with_replay(path, checks, progress)
    return IntegrityReport(log_report, checks, deep)


def _check_file(engine: Engine, info: SnapshotInfo, log_report: log.VerifyReport) -> SnapshotCheck:
    check = SnapshotCheck(info.seq, info.path.name, info.bytes)
    try:
        _, image = read_snapshot(info.path)
        decodes = engine.decode_image(image) is not None
    except (LogError, OSError, RecordError) as exc:
        return attrs.evolve(check, problem=str(exc).removeprefix(f"{info.path}: "))
    if info.seq > log_report.last_seq:
        # Of events the log no longer holds (lost with a torn tail) or cannot
        # read (damage): no query uses it, and the next writer sets it aside.
        return attrs.evolve(check, note=f"past the last intact event (seq {log_report.last_seq}): not used")
    if not decodes:
        return attrs.evolve(check, note="another image format: not read (the log is replayed instead)")
    return check


def _compare_with_replay(
    path, checks: list[SnapshotCheck], progress: Optional[Callable[[int, int], None]]
) -> list[SnapshotCheck]:
    compared = []
    with Engine.open(path, use_snapshot=False, fold=False) as engine:
        for check in checks:
            if check.problem is not None or check.note is not None:
                compared.append(check)
                continue
            if check.seq <= engine.base_seq:
                note = (
                    "the replay starts here: the events before it were compacted away"
                    if check.seq == engine.base_seq
                    else "not compared: its events were compacted away"
                )
                compared.append(attrs.evolve(check, note=note))
                continue
            engine.replay(until=check.seq, progress=progress)
            _, image = read_snapshot(Path(path) / check.file)
            same = _packed(image) == _packed(engine.image())
            compared.append(
                attrs.evolve(
                    check,
                    matches_replay=same,
                    problem=None if same else f"differs from a replay of the log to seq {check.seq}",
                )
            )
    return compared


def _packed(image: object) -> bytes:
    return msgpack.packb(image, use_bin_type=True)


@attrs.define
class DroppedEvents:
    """What the events a repair cuts were about: pass it as ``on_dropped``.

    Records are named from their leading fields, not decoded: a slice
    after a damaged frame may use strings only that frame added to the
    string table."""

    services: set[str] = attrs.Factory(set)
    nodes: set[str] = attrs.Factory(set)
    slices: set[str] = attrs.Factory(set)  # of no service
    unreadable: int = 0  # records that name nothing (malformed, or of a kind this build does not know)

    def __call__(self, first_seq: int, records: list) -> None:
        for record in records:
            try:
                kind, name = subject(record)
            except RecordError:
                self.unreadable += 1
                continue
            {"service": self.services, "node": self.nodes, "slice": self.slices}[kind].add(name)
