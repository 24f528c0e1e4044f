"""The engine over its log: snapshot + tail == full replay, --at, compaction,
damaged snapshots, and bad input leaving the log untouched."""
import tempfile
import warnings
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Engine, LogError
from engine.api import compact

from k8s import endpoint, endpoint_slice, node, service
from test_linkerd_policy import NODES, event_st


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
        with Engine.open(path, implementation=implementation) as from_snapshot, \
                Engine.open(path, use_snapshot=False, implementation=implementation) as full:
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
