"""Damage is never taken for a torn tail, through the API and the command
line: every bit flip and every truncation of a small three-frame log, and
paths that are not logs."""

import functools
import json
import warnings
from pathlib import Path

import pytest
from k8s import endpoint, endpoint_slice, node, service

from engine import Engine, EngineError, cli, log

BATCHES = [  # one ingest, so one frame, each
    [node("n1", "zone-a")],
    [service("ns/web")],
    [endpoint_slice("ns/s", "web", [endpoint("10.0.0.1", zone="zone-a", hints=["zone-a"], pod="p1")])],
]
QUERIES = [
    ["endpoints", "LOG", "ns/web:80", "--node", "n1", "--json"],
    ["replay", "LOG", "--watch", "ns/web:80@n1", "--json"],
    ["hints", "LOG", "ns/web", "--json"],
]


@pytest.fixture(autouse=True)
def one_parser(monkeypatch):
    """Build the argument parser once: these tests call ``main()`` thousands
    of times, and argparse parsers are reusable."""
    monkeypatch.setattr(cli, "build_parser", functools.lru_cache(cli.build_parser))


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def query(capsys, path: Path, args: list[str]) -> tuple[int, str, str]:
    return run(capsys, *[path if a == "LOG" else a for a in args])


def api_answer(path: Path):
    """The selection the API gives, or the error it raises."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Engine.open(path) as engine:
                return engine.endpoints("ns/web", 80, node="n1")
    except EngineError as exc:
        return exc


@pytest.fixture
def three_frames(tmp_path, capsys):
    path = tmp_path / "log"
    ends = []  # of each frame
    for i, objects in enumerate(BATCHES):
        source = tmp_path / f"batch{i}.json"
        source.write_text(json.dumps({"kind": "List", "items": objects}))
        assert run(capsys, "ingest", path, source)[0] == 0
        ends.append(log.stats(path)["bytes"])
    more = tmp_path / "more.json"
    more.write_text(json.dumps(node("n9", "zone-b")))
    (segment,) = log.list_segments(path)
    report = log.verify(path)
    assert report.frames == 3 and report.ok and report.segments[0].bytes == ends[-1]
    return path, segment.path, more, ends[1]


def test_every_bit_flip_is_refused_everywhere_and_changes_nothing(three_frames, capsys):
    path, segment, more, _ = three_frames
    data = segment.read_bytes()
    answers = {tuple(q): query(capsys, path, q) for q in QUERIES}
    assert all(code == 0 and err == "" for code, _, err in answers.values())
    for bit in range(8 * len(data)):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        segment.write_bytes(bytes(flipped))
        where = f"bit {bit} (byte {bit // 8} of {len(data)})"

        assert not log.verify(path).ok, where
        code, out, _ = run(capsys, "verify", path)  # the log and its snapshots: engine.integrity
        assert code == 1 and "DAMAGE" in out, where
        assert isinstance(api_answer(path), EngineError), where
        for q in QUERIES:
            code, out, err = query(capsys, path, q)
            # Every flip is caught; were one not, the answer would have to be the same.
            assert (code, out, err) == answers[tuple(q)] or (
                code == 1 and out == "" and err.count("\n") == 1 and str(segment) in err
            ), (where, q, err)
        code, out, err = run(capsys, "ingest", path, more)
        assert code == 1 and err.count("\n") == 1 and str(segment) in err, (where, err)
        assert segment.read_bytes() == bytes(flipped), where
        assert sorted(p.name for p in path.iterdir()) == ["00000000000000000001.log", "LOCK"], where
    segment.write_bytes(data)


def test_every_truncation_of_the_last_frame_is_a_torn_tail(three_frames, capsys):
    path, segment, more, last_frame = three_frames
    data = segment.read_bytes()
    segment.write_bytes(data[:last_frame])  # the log without its last frame
    two_frames = {tuple(q): query(capsys, path, q) for q in QUERIES}
    two_frames_api = api_answer(path)
    assert two_frames_api.endpoints == () and not isinstance(two_frames_api, EngineError)
    for size in range(last_frame + 1, len(data)):
        segment.write_bytes(data[:size])
        where = f"cut at byte {size} of {len(data)}"
        assert api_answer(path) == two_frames_api, where
        for q in QUERIES:
            code, out, err = query(capsys, path, q)
            assert (code, out) == two_frames[tuple(q)][:2], (where, q)
            assert err.startswith("topology-engine: warning:") and "ignored torn frame" in err, where
        code, out, _ = run(capsys, "verify", path)
        assert code == 0 and "torn tail" in out, where
        code, out, err = run(capsys, "ingest", path, more)
        assert code == 0 and "appended: 1 events (seq 3..3)" in out and "cut torn frame" in err, where
        report = log.verify(path)
        assert report.ok and not report.problems and report.last_seq == 3, where
        with Engine.open(path) as engine:
            assert sorted(engine.state.nodes) == ["n1", "n9"], where
    segment.write_bytes(data)


# ---------------------------------------------------------------------------
# Paths that are not logs


COMMANDS = [
    ["endpoints", "LOG", "ns/web:80", "--node", "n1"],
    ["replay", "LOG"],
    ["follow", "LOG", "ns/web:80", "--node", "n1", "--timeout", "0.1"],
    ["snapshot", "LOG"],
    ["compact", "LOG"],
    ["stats", "LOG"],
    ["verify", "LOG"],
    ["verify", "LOG", "--deep"],
    ["repair", "LOG"],
    ["repair", "LOG", "--truncate"],
    ["hints", "LOG", "ns/web"],
    ["explain", "LOG", "ns/web:80", "--node", "n1"],
    ["whatif", "LOG", "ns/web:80"],
    ["whatif", "LOG", "ns/web:80", "--timeline", "-"],
]


def tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize(
    "args", COMMANDS, ids=lambda a: " ".join(a[:1] + a[2:3] + [x for x in a if x.startswith("--")])
)
def test_every_command_on_a_path_that_is_not_a_log_is_one_line_and_creates_nothing(tmp_path, capsys, not_logs, args):
    for kind, (path, message) in not_logs.items():
        before = tree(tmp_path)
        code, out, err = query(capsys, path, args)
        assert code == 1 and out == "" and err.count("\n") == 1, (kind, err)
        assert message in err, (kind, err)
        assert tree(tmp_path) == before, kind


def test_creating_a_log_refuses_what_is_not_a_log_and_creates_nothing(tmp_path, capsys, not_logs):
    source = tmp_path / "node.json"
    source.write_text(json.dumps(node("n1", "zone-a")))
    for kind in ("regular file", "directory"):
        path, message = not_logs[kind]
        before = tree(tmp_path)
        with pytest.raises(EngineError, match=message):
            Engine.open(path, create=True, write=True)
        code, out, err = run(capsys, "ingest", path, source)
        assert code == 1 and err.count("\n") == 1 and message in err, (kind, err)
        assert tree(tmp_path) == before, kind
    for kind in ("missing", "empty directory"):  # where a log may be made
        path, _ = not_logs[kind]
        assert run(capsys, "ingest", path, source)[0] == 0
        assert log.verify(path).events == 1
