"""The core's two implementations: the compiled module really loaded, and it
agrees with its pure-Python twin, result for result and error for error,
on its own (string table, endpoint columns) and folded into whole engines."""

import importlib.util
import os

import msgpack
import pytest
from conftest import IMPLEMENTATIONS
from hypothesis import given, settings
from hypothesis import strategies as st
from test_index import FEW_ZONES, MANY_ZONES, answers, events_st, every_zone_slice

from engine import Engine, RecordError, _fastsel_py, kernels

# A pure install (ENGINE_NO_EXTENSIONS=1 at build time) has no extension file;
# every other install has one, since a build without a compiler fails.
BUILT = importlib.util.find_spec("engine._fastsel") is not None


def test_compiled_core_loaded_when_built_unless_pure_requested():
    if os.environ.get("ENGINE_NO_EXTENSIONS") == "1":
        assert kernels.IMPLEMENTATION == "pure"
        assert kernels.Publisher is _fastsel_py.Publisher
    elif not BUILT:
        pytest.skip("engine._fastsel was not built: a pure install (ENGINE_NO_EXTENSIONS=1 at build time)")
    else:
        # Built but not loaded would silently test only the pure twin.
        assert kernels.IMPLEMENTATION == "compiled", "engine._fastsel is there but did not load"
        assert kernels.Publisher is not _fastsel_py.Publisher


CORES = [kernels.for_implementation(name) for name in IMPLEMENTATIONS]
twins = pytest.mark.skipif(len(CORES) < 2, reason="only the pure core is available in this run")


def _outcome(fn, *args):
    """What a call gives: its result, or the error class and message."""
    try:
        return "ok", fn(*args)
    except (RecordError, ValueError, TypeError, IndexError) as exc:
        return type(exc).__name__, str(exc)


def _same(outcomes):
    assert all(o == outcomes[0] for o in outcomes), outcomes
    return outcomes[0]


# ---------------------------------------------------------------------------
# Endpoint columns

names = st.sampled_from(["", "a", "zone-a", "node-1", "10.0.0.1", "é", "Pod", "ExternalWorkload", "x" * 40])
optional_names = st.none() | names
good_rows = st.lists(
    st.tuples(
        st.lists(names, max_size=3),
        st.sampled_from([None, True, False]),
        st.sampled_from([None, True, False]),
        st.sampled_from([None, True, False]),
        optional_names,
        optional_names,
        optional_names,
        optional_names,
        optional_names,
        optional_names,
        st.lists(names, max_size=9),
        st.lists(names, max_size=3),
    ).map(list),
    max_size=12,
)
# Wrong types anywhere in a row: what a damaged version-1 record can hold.
any_value = (
    st.none() | st.booleans() | st.integers(-3, 3) | names | st.lists(st.none() | names | st.integers(), max_size=2)
)
bad_rows = st.lists(st.lists(any_value, min_size=11, max_size=13), min_size=1, max_size=3)


@twins
@settings(max_examples=200, deadline=None)
@given(rows=good_rows | bad_rows | st.integers() | st.text(max_size=3))
def test_columns_from_rows_compiled_equals_pure(rows):
    kind, result = _same([_outcome(core.columns_from_rows, rows) for core in CORES])
    if kind == "ok":
        strings, n, data = result
        assert n == len(rows)
        for core in CORES:
            core.check_columns(n, data, len(strings))
            assert [core.endpoint_fields(n, data, i) for i in range(n)] == [
                CORES[0].endpoint_fields(n, data, i) for i in range(n)
            ]


def _decoded(row):
    """A row as the decoded Kubernetes endpoint (engine.kube.schema) that says the same."""
    from engine.kube import schema

    addresses, ready, serving, terminating, node, zone, hostname, kind, namespace, name, zones, nodes = row
    conditions = (
        None
        if (ready, serving, terminating) == (None, None, None)
        else schema.EndpointConditions(ready, serving, terminating)
    )
    target = None if (kind, namespace, name) == (None, None, None) else schema.ObjectReference(kind, namespace, name)
    hints = (
        None
        if not zones and not nodes
        else schema.EndpointHints(
            [schema.HintName(z) for z in zones] or None, [schema.HintName(n) for n in nodes] or None
        )
    )
    return schema.Endpoint(
        addresses=addresses,
        conditions=conditions,
        hostname=hostname,
        targetRef=target,
        nodeName=node,
        zone=zone,
        hints=hints,
    )


@settings(max_examples=150, deadline=None)
@given(rows=good_rows)
def test_columns_from_decoded_endpoints_equal_columns_from_rows(rows):
    endpoints = [_decoded(row) for row in rows]
    for row in rows:
        row[5] = row[5] or None  # an empty zone is no zone
    expected = CORES[0].columns_from_rows(rows)
    for core in CORES:
        assert core.columns_from_endpoints(endpoints) == expected
        strings, n, data = expected
        nodes, hostnames, zone_hints, node_hints, repeated = core.endpoint_strings(strings, n, data)
        assert nodes == {row[4] for row in rows} - {None} and hostnames == {row[6] for row in rows} - {None}
        assert zone_hints == {z for row in rows for z in row[10]} and node_hints == {h for row in rows for h in row[11]}
        assert repeated == any(len(set(row[i])) < len(row[i]) for row in rows for i in (10, 11))


@settings(max_examples=150, deadline=None)
@given(rows=good_rows)
def test_endpoint_fields_read_back_what_the_rows_said(rows):
    for core in CORES:
        strings, n, data = core.columns_from_rows(rows)
        for i, row in enumerate(rows):
            cond, node, zone, host, kind, namespace, name, addresses, zones, nodes = core.endpoint_fields(n, data, i)
            tristate = (None, False, True)
            assert [tristate[cond & 3], tristate[cond >> 2 & 3], tristate[cond >> 4 & 3]] == row[1:4]
            assert [None if s < 0 else strings[s] for s in (node, zone, host, kind, namespace, name)] == row[4:10]
            assert [strings[s] for s in addresses] == row[0]
            assert [strings[s] for s in zones] == row[10] and [strings[s] for s in nodes] == row[11]


@twins
@settings(max_examples=200, deadline=None)
@given(
    rows=good_rows.filter(bool),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(-5, 70)), min_size=1, max_size=3),
    cut=st.integers(0, 8),
)
def test_check_columns_compiled_equals_pure_on_damaged_layouts(rows, edits, cut):
    strings, n, data = CORES[0].columns_from_rows(rows)
    words = bytearray(data)
    for at, value in edits:
        i = at % (len(words) // 4)
        words[4 * i : 4 * i + 4] = value.to_bytes(4, "little", signed=True)
    damaged = bytes(words[: len(words) - cut])
    for limit in (len(strings), len(strings) + 3):
        _same([_outcome(core.check_columns, n, damaged, limit) for core in CORES])


@pytest.mark.parametrize("core", CORES, ids=IMPLEMENTATIONS)
def test_offsets_past_the_lists_are_rejected_before_any_read(core):
    strings, n, data = core.columns_from_rows(
        [[["10.0.0.1"], None, None, None, None, None, None, None, None, None, ["z"], []]]
    )
    words = bytearray(data)
    words[4 * 7 : 4 * 8] = (1000).to_bytes(4, "little", signed=True)  # the first address offset
    with pytest.raises(RecordError, match="offset"):
        core.check_columns(n, bytes(words), len(strings))


# ---------------------------------------------------------------------------
# The string table

operations = st.lists(
    st.one_of(
        st.tuples(st.just("intern"), names | st.text(max_size=4)),
        st.tuples(st.just("find"), names),
        st.tuples(st.just("truncate"), st.integers(0, 12)),
        st.tuples(st.just("extend"), st.integers(0, 14), st.lists(names | st.text(max_size=3), max_size=4)),
        st.tuples(st.just("adopt"), good_rows),
    ),
    max_size=25,
)


def _apply(table, op):
    if op[0] == "intern":
        return table.intern(op[1])
    if op[0] == "find":
        return table.find(op[1])
    if op[0] == "truncate":
        return table.truncate(op[1])
    if op[0] == "extend":
        encoded = [s.encode("utf-8", "surrogatepass") for s in op[2]]
        lengths = b"".join(len(e).to_bytes(4, "little") for e in encoded)
        return table.extend(op[1], b"".join(encoded), lengths)
    strings, n, data = CORES[0].columns_from_rows(op[1])
    return table.adopt(strings, n, data)


@twins
@settings(max_examples=200, deadline=None)
@given(ops=operations)
def test_string_table_compiled_equals_pure(ops):
    tables = [core.StringTable() for core in CORES]
    for op in ops:
        _same([_outcome(_apply, table, op) for table in tables])
        _same([(len(t), [t[i] for i in range(len(t))], t.tail(3)) for t in tables])


@pytest.mark.parametrize("core", CORES, ids=IMPLEMENTATIONS)
def test_string_table_round_trip_and_refusals(core):
    table = core.StringTable()
    assert [table[i] for i in range(len(table))] == list(core.RESERVED_STRINGS)
    ids = [table.intern(s) for s in ("zone-a", "é", "zone-a", "")]
    assert ids == [6, 7, 6, 0] and table.find("é") == 7 and table.find("nope") == -1
    copy = core.StringTable()
    copy.extend(6, *table.tail(6))
    assert [copy[i] for i in range(len(copy))] == [table[i] for i in range(len(table))]
    copy.extend(6, *table.tail(6))  # read twice: checked, not added again
    assert len(copy) == len(table)
    with pytest.raises(RecordError, match="in the table"):
        copy.extend(6, b"zone-b", (6).to_bytes(4, "little"))
    with pytest.raises(RecordError, match="do not follow"):
        copy.extend(20, b"", b"")
    with pytest.raises(RecordError, match="not valid UTF-8"):
        copy.extend(8, b"\xff", (1).to_bytes(4, "little"))
    with pytest.raises(RecordError, match="already in the string table"):
        copy.extend(8, b"aa", (1).to_bytes(4, "little") * 2)
    with pytest.raises(RecordError, match="lone surrogate"):
        table.intern("\ud800")
    assert len(copy) == 8


@settings(max_examples=150, deadline=None)
@given(rows=good_rows)
def test_endpoint_values_read_the_rows_through_either_kind_of_strings(rows):
    expected = [(tuple(row[0]), *row[1:10], tuple(row[10]), tuple(row[11])) for row in rows]
    for core in CORES:
        strings, n, data = core.columns_from_rows(rows)
        table = core.StringTable()
        adopted = table.adopt(strings, n, data)
        for names, words in ((strings, data), (table, adopted)):
            assert list(core.endpoint_values(names, n, words, lambda *fields: fields)) == expected


@pytest.mark.parametrize("core", CORES, ids=IMPLEMENTATIONS)
def test_adopting_from_another_table_takes_only_the_strings_used(core):
    big = core.StringTable()
    for i in range(5000):
        big.intern(f"s{i}")
    rows = [[["s4999"], None, None, None, "s10", None, None, None, None, None, ["s3"], []]]
    strings, n, data = core.columns_from_rows(rows)
    data = big.adopt(strings, n, data)
    small = core.StringTable()
    adopted = small.adopt(big, n, data)
    assert len(small) == len(core.RESERVED_STRINGS) + 3
    assert [small[i] for i in range(len(core.RESERVED_STRINGS), len(small))] == ["s3", "s10", "s4999"]
    cond, node, _, _, _, _, _, addresses, zones, _ = core.endpoint_fields(n, adopted, 0)
    assert (small[addresses[0]], small[node], small[zones[0]]) == ("s4999", "s10", "s3")


# ---------------------------------------------------------------------------
# Whole engines, one per implementation, fed the same events


def _streams(eng, updates):
    def record(key):
        return lambda update: updates.append((key, update.op, update.endpoints))

    for node in ("n0", "n1", "ghost"):
        eng.subscribe("ns/web", 80, node=node, on_update=record(node))
    eng.subscribe("ns/web", 80, node="n2", ipv6=True, on_update=record("n2-v6"))
    eng.subscribe("ns/web", 80, node="n3", policy="linkerd+nodes", on_update=record("n3-nodes"))
    eng.subscribe("ns/web", 81, node="n1", on_update=record("n1-undeclared"))


@twins
@settings(max_examples=60, deadline=None)
@given(data=st.data(), many_zones=st.booleans())
def test_compiled_engine_equals_pure_engine_after_every_event(data, many_zones):
    zones = MANY_ZONES if many_zones else FEW_ZONES
    events = data.draw(st.lists(events_st(zones), min_size=1, max_size=10))
    if many_zones:
        events.insert(0, every_zone_slice(zones))
    engines = [Engine(implementation=name) for name in IMPLEMENTATIONS]
    streams: list[list] = [[] for _ in engines]
    for eng, updates in zip(engines, streams):
        _streams(eng, updates)
    for event in events:
        for eng in engines:
            eng.apply(event)
        _same([answers(eng, zones) for eng in engines])
        _same([msgpack.packb([eng.state.dump(), eng.index.dump()]) for eng in engines])
        _same(streams)
