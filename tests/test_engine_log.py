"""The engine over its log: snapshot + tail == full replay, --at, compaction,
damaged snapshots, and bad input leaving the log untouched."""

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import msgpack
import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st
from k8s import endpoint, endpoint_slice, node, service
from test_linkerd_policy import NODES, event_st

from engine import Engine, LogError, RecordError, integrity, log
from engine.api import SNAPSHOT_FORMAT, compact
from engine.cli import main
from engine.demo import demo_data
from engine.records import subject
from engine.snapshot import write_snapshot

CRASH_MAINTENANCE = Path(__file__).with_name("crash_maintenance.py")


def image(engine):
    return msgpack.packb([engine.state.dump(), engine.index.dump()])


def answers(engine):
    return [engine.endpoints("ns/web", port, node=n, strict=False) for n in NODES + ["ghost"] for port in (80, 81)]


@settings(max_examples=60, deadline=None)
@given(events=st.lists(event_st, min_size=1, max_size=15), data=st.data())
def test_snapshot_plus_tail_equals_full_replay(events, data, implementation):
    cut = data.draw(st.integers(0, len(events)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log"
        with Engine.open(path, create=True, write=True, sync=False, implementation=implementation) as writer:
            writer.apply_all(events[:cut])
            if cut:
                writer.snapshot()
            writer.apply_all(events[cut:])
            live = image(writer)
        with (
            Engine.open(path, implementation=implementation) as from_snapshot,
            Engine.open(path, use_snapshot=False, implementation=implementation) as full,
        ):
            assert image(from_snapshot) == image(full) == live
            assert answers(from_snapshot) == answers(full)


def small_log(path):
    eng = Engine.open(path, create=True, write=True, sync=False)
    eng.ingest([node("n1", "zone-a"), node("n2", "zone-b"), service("ns/web")])
    for i in range(6):
        eng.ingest([endpoint_slice("ns/s", "web", [endpoint(f"10.0.0.{i}", zone="zone-a", hints=["zone-a"])])])
    return eng


def test_at_answers_as_of_an_event(tmp_path):
    small_log(tmp_path / "log").close()
    with Engine.open(tmp_path / "log", at=5) as eng:
        assert eng.seq == 5
        assert [e.address for e in eng.endpoints("ns/web", 80, node="n1").endpoints] == ["10.0.0.1"]
    with pytest.raises(LogError, match="past the end of the log"):
        Engine.open(tmp_path / "log", at=99)


def test_compaction_keeps_at_working_for_what_remains(tmp_path):
    path = tmp_path / "log"
    eng = small_log(path)
    eng.log.close()
    # Re-open with tiny segments so that several rotate out.
    from engine.log import EventLog

    eng.log = EventLog.open(path, write=True, sync=False, segment_bytes=200)
    for i in range(6, 12):
        eng.ingest([endpoint_slice("ns/s", "web", [endpoint(f"10.0.0.{i}", zone="zone-a", hints=["zone-a"])])])
    eng.snapshot()
    eng.close()
    report = compact(path)
    assert report.segments_removed >= 1 and report.upto_seq >= 1
    with Engine.open(path, at=report.upto_seq) as at_cut:
        assert at_cut.seq == report.upto_seq
    with Engine.open(path) as latest:
        assert [e.address for e in latest.endpoints("ns/web", 80, node="n1").endpoints] == ["10.0.0.11"]
    if report.upto_seq > 1:
        with pytest.raises(LogError, match="compacted away"):
            Engine.open(path, at=report.upto_seq - 1)


def test_compact_without_snapshot_is_an_error(tmp_path):
    small_log(tmp_path / "log").close()
    with pytest.raises(LogError, match="no snapshot"):
        compact(tmp_path / "log")


def test_damaged_snapshot_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / "log"
    eng = small_log(path)
    snap = eng.snapshot()
    eng.close()
    data = bytearray(snap.read_bytes())
    data[-3] ^= 0x40
    snap.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Engine.open(path) as eng:
            assert eng.seq == 9
    assert any("damaged snapshot" in str(w.message) for w in caught)


# ---------------------------------------------------------------------------
# verify: snapshots too


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_verify_checks_every_snapshot_and_queries_keep_working(tmp_path, capsys):
    path = tmp_path / "log"
    eng = small_log(path)
    at_nine = eng.snapshot()
    eng.close()
    code, out, _ = run(capsys, "verify", path, "--deep")
    assert code == 0 and f"{at_nine.name}  " in out and "ok, equals a replay to its seq" in out
    answer = run(capsys, "endpoints", path, "ns/web:80", "--node", "n1")

    # A snapshot whose bytes are damaged, one whose image does not decode,
    # and (found by --deep only) one whose state is not the log's at its seq.
    data = bytearray(at_nine.read_bytes())
    data[-5] ^= 0x01
    at_nine.write_bytes(bytes(data))
    with Engine.open(path, at=5) as at_five:
        wrong = at_five.image()
    write_snapshot(path, 7, {"engine": SNAPSHOT_FORMAT, "state": 7, "index": []})
    write_snapshot(path, 4, wrong)
    code, out, _ = run(capsys, "verify", path)
    assert code == 1
    assert "snapshot-00000000000000000009.snap  " in out and "DAMAGE: snapshot checksum mismatch" in out
    assert "DAMAGE: image does not decode" in out
    assert out.count("DAMAGE") == 2 and "2 damaged snapshot(s)" in out.splitlines()[-1]
    code, out, _ = run(capsys, "verify", path, "--deep")
    assert code == 1 and "DAMAGE: differs from a replay of the log to seq 4" in out and out.count("DAMAGE") == 3
    # The log is the truth: queries answer from it, saying what they skipped.
    code, out, err = run(capsys, "endpoints", path, "ns/web:80", "--node", "n1")
    assert (code, out) == answer[:2] and "skipping damaged snapshot" in err


# ---------------------------------------------------------------------------
# replay after compact; --until past the end


def compacted_log(path):
    eng = Engine.open(path, create=True, write=True, sync=False)
    eng.log.segment_bytes = 200
    eng.ingest([node("n1", "zone-a"), node("n2", "zone-b"), service("ns/web")])
    for i in range(12):
        eng.ingest([endpoint_slice("ns/s", "web", [endpoint(f"10.0.0.{i}", zone="zone-a", hints=["zone-a"])])])
    eng.snapshot()
    full = image(eng)
    eng.close()
    report = compact(path)
    assert report.segments_removed >= 2
    return report.upto_seq, full


def test_replay_after_compact_folds_from_the_compaction_snapshot_and_says_so(tmp_path, capsys):
    path = tmp_path / "log"
    cut, full = compacted_log(path)
    code, out, _ = run(capsys, "replay", path)
    assert code == 0
    assert out.startswith(
        f"replayed {15 - cut} events (seq {cut + 1}..15) from the snapshot at seq {cut} "
        "(the events before it were compacted away) in "
    )
    assert "services: 1, slices: 1, endpoints: 1, nodes: 2" in out
    with Engine.open(path, use_snapshot=False) as replayed:
        assert replayed.base_seq == cut and image(replayed) == full
    code, out, _ = run(capsys, "replay", path, "--watch", "ns/web:80@n1", "--json")
    updates = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and updates[0]["seq"] == cut and updates[0]["op"] == "add"  # what the snapshot held
    assert all(u["seq"] > cut for u in updates[1:]) and len(updates) > 1
    for until, message in [
        (16, "seq 16 is past the end of the log (last seq 15)"),
        (cut - 1, f"events 1..{cut} were compacted away"),
    ]:
        code, out, err = run(capsys, "replay", path, "--until", until)
        assert code == 1 and out == "" and message in err and err.count("\n") == 1


def test_replay_until_past_the_end_is_an_error_like_at(tmp_path, capsys):
    small_log(tmp_path / "log").close()
    for args in (
        ["replay", tmp_path / "log", "--until", 10],
        ["endpoints", tmp_path / "log", "ns/web:80", "--node", "n1", "--at", 10],
    ):
        code, out, err = run(capsys, *args)
        assert (
            code == 1
            and out == ""
            and err == f"topology-engine: {tmp_path / 'log'}: seq 10 is past the end of the log (last seq 9)\n"
        )
    code, out, _ = run(capsys, "replay", tmp_path / "log", "--until", 9)
    assert code == 0 and out.startswith("replayed 9 events (seq 1..9) in ")


# ---------------------------------------------------------------------------
# repair: what it would drop, and the cut bytes kept


def test_repair_shows_what_it_drops_and_keeps_the_cut_bytes(tmp_path, capsys):
    path = tmp_path / "log"
    small_log(path).close()  # seven frames in one segment: seq 1..3, then one event each
    segment = log.list_segments(path)[0].path
    report = log.verify(path)
    data = segment.read_bytes()
    offsets = [log.HEADER_BYTES]
    with log.EventLog.open(path) as reader:
        for first, t, records in reader.read_batches():
            offsets.append(offsets[-1] + len(log.encode_frame(first, t, records)))
    damaged_at = offsets[2]  # the third frame, seq 5: seqs 6..9 follow intact
    flipped = bytearray(data)
    flipped[damaged_at + 20] ^= 0x40
    segment.write_bytes(bytes(flipped))
    assert report.ok and not log.verify(path).ok

    code, out, _ = run(capsys, "repair", path)
    assert code == 0 and segment.read_bytes() == bytes(flipped)
    assert out.splitlines() == [
        f"damage: {segment.name}:{damaged_at}: checksum mismatch",
        f"would cut {len(data) - damaged_at:,} bytes:",
        f"  {segment.name}: bytes {damaged_at:,}..{len(data):,} ({len(data) - damaged_at:,} bytes)",
        "  holding 4 intact events (seq 6..9), besides what the damaged frames held",
        "  services they touch: ns/web",
        "the log would end at seq 4",
        "nothing changed: run again with --truncate to cut (the cut bytes are kept beside the log)",
    ]
    code, out, _ = run(capsys, "repair", path, "--truncate")
    side = path / f"{segment.name}.cut-{damaged_at}"
    assert code == 0 and f"the cut bytes are kept in {side.name}" in out and "the log now ends at seq 4" in out
    assert side.read_bytes() == bytes(flipped)[damaged_at:] and segment.read_bytes() == data[:damaged_at]
    assert run(capsys, "verify", path)[0] == 0
    with Engine.open(path, write=True) as eng:
        assert eng.seq == 4
        eng.ingest([node("n3", "zone-c")])
        assert eng.seq == 5


# ---------------------------------------------------------------------------
# Crash: SIGKILL during snapshot and compact


def test_sigkill_during_snapshot_and_compact_loses_nothing_acknowledged(tmp_path):
    from crash_maintenance import EVENTS_PER_BATCH, batch_objects

    rng = random.Random(20261201)
    log_dir = tmp_path / "log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(Path(__file__).parent)]))
    reference = Engine()  # folded from the batches as far as the log was checked
    acked = 0
    for trial in range(16):
        phase = (b"snapshot\n", b"compact\n")[trial % 2]
        child = subprocess.Popen(
            [sys.executable, str(CRASH_MAINTENANCE), str(log_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert child.stdout.readline() == b"ready\n", child.communicate()[1]
        rounds, seen = rng.randint(1, 3), 0
        while seen < rounds:  # aim at the chosen phase of a later round
            line = child.stdout.readline()
            assert line, f"trial {trial}: the child stopped: {child.communicate()[1]}"
            seen += line == phase
            if line[:-1].isdigit():
                acked = int(line)
        time.sleep(rng.uniform(0.0, 0.02))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        assert child.returncode == -signal.SIGKILL
        acked = max([acked] + [int(line) for line in out.split(b"\n")[:-1] if line.isdigit()])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a torn frame, an interrupted compaction's snapshot: said, not wrong
            with Engine.open(log_dir) as opened, Engine.open(log_dir, use_snapshot=False) as replayed:
                assert opened.seq >= acked and opened.seq % EVENTS_PER_BATCH == 0, f"trial {trial}"
                while reference.seq < opened.seq:
                    reference.ingest(batch_objects(reference.seq // EVENTS_PER_BATCH))
                assert image(opened) == image(replayed) == image(reference), f"trial {trial}"
            report = integrity.verify(log_dir, deep=True)
        assert report.ok, f"trial {trial}: {report}"
    assert log.list_segments(log_dir)[0].first_seq > 1  # compaction did drop segments


def test_repair_names_what_cut_slices_touch_though_they_cannot_be_decoded(tmp_path, capsys):
    """Slices after a damaged frame may use strings only that frame added to
    the string table: no decoder can read them, yet their leading fields
    still name the service."""
    path = tmp_path / "log"
    changes = (demo_data() / "changes.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    cluster = tmp_path / "cluster.json"
    cluster.write_text((demo_data() / "cluster.json").read_text(encoding="utf-8"))
    halves = [tmp_path / "first.jsonl", tmp_path / "second.jsonl"]
    halves[0].write_text("".join(changes[:9]))
    halves[1].write_text("".join(changes[9:]))
    for source in [cluster, *halves]:
        assert run(capsys, "ingest", path, source)[0] == 0
    segment = log.list_segments(path)[0].path
    with log.EventLog.open(path) as reader:
        batches = list(reader.read_batches())
    first_frame_end = log.HEADER_BYTES + len(log.encode_frame(*batches[0]))
    data = bytearray(segment.read_bytes())
    data[first_frame_end + 100] ^= 0x08  # in the first half of the changes
    segment.write_bytes(bytes(data))
    decode = Engine().state.codec.decode
    for record in batches[0][2]:
        decode(record)
    with pytest.raises(RecordError):  # what a decoder that never saw the damaged frame meets
        for record in batches[2][2]:
            decode(record)
    code, out, _ = run(capsys, "repair", path)
    assert code == 0
    assert "  holding 9 intact events (seq 28..36), besides what the damaged frames held\n" in out
    assert "  services they touch: shop/web\n" in out


def test_a_record_names_its_subject_from_its_leading_fields():
    assert subject([1, "n1", "zone-a", 4000, True, False]) == ("node", "n1")
    assert subject([4, "ns", "web"]) == ("service", "ns/web")
    assert subject([6, "ns", "web-abc", None]) == ("slice", "ns/web-abc")
    assert subject([7, "ns", "web-abc", "web", "IPv4", [], None, 0, b""]) == ("service", "ns/web")
    for record in ([], [99, "x"], [7, 5, "web-abc", "web"], "nonsense"):
        with pytest.raises(RecordError):
            subject(record)
