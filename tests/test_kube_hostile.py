"""Kubernetes input under hostile bytes: encodings, nesting, numbers, nulls,
YAML aliases and tags, and fuzzing.  Whatever comes in, the reader answers
with events or one InputError line, never another exception."""

import codecs
import io
import json

import msgspec
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from k8s import endpoint, endpoint_slice, node, service, watch
from test_kernels import CORES

from engine import Engine
from engine.errors import InputError
from engine.events import NodeUpserted, ServiceUpserted, SliceUpserted
from engine.kube import ReadStats, iter_events, read_objects, rules

CLUSTER = [
    node("n1", "zone-a", "3500m"),
    service("shop/web"),
    endpoint_slice("shop/web-1", "web", [endpoint("10.0.0.1", zone="zone-a", hints=["zone-a"], pod="p1")]),
]
KINDS = [NodeUpserted, ServiceUpserted, SliceUpserted]


def read(data: bytes, skip_invalid: bool = False):
    stats = ReadStats()
    return list(iter_events(io.BytesIO(data), "in", stats, skip_invalid=skip_invalid)), stats


def one_line_error(data: bytes) -> str:
    with pytest.raises(InputError) as info:
        read(data)
    message = str(info.value)
    assert "\n" not in message and message.startswith("in: ")
    return message


JSON_LINES = "".join(json.dumps(watch("ADDED", obj)) + "\n" for obj in CLUSTER)
PRETTY = "".join(json.dumps(watch("ADDED", obj), indent=4) + "\n" for obj in CLUSTER)
YAML_DOCS = "---\n".join(yaml.safe_dump(obj) for obj in CLUSTER)


# -- encodings ------------------------------------------------------------------------


@pytest.mark.parametrize("text", [JSON_LINES, PRETTY, YAML_DOCS], ids=["json-lines", "pretty", "yaml"])
@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode("utf-8"),
        lambda t: codecs.BOM_UTF8 + t.encode("utf-8"),
        lambda t: t.replace("\n", "\r\n").encode("utf-8"),
        lambda t: codecs.BOM_UTF16_LE + t.replace("\n", "\r\n").encode("utf-16-le"),  # PowerShell's `>`
        lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"),
        lambda t: codecs.BOM_UTF32_LE + t.encode("utf-32-le"),
    ],
    ids=["utf-8", "utf-8-bom", "crlf", "utf-16-le-bom-crlf", "utf-16-be-bom", "utf-32-le-bom"],
)
def test_every_encoding_reads_the_same(text, encode):
    events, _ = read(encode(text))
    assert [type(e) for e in events] == KINDS


def test_text_streams_read_the_same():
    stats = ReadStats()
    events = list(iter_events(io.StringIO("\ufeff" + PRETTY), "in", stats))
    assert [type(e) for e in events] == KINDS


def test_bytes_that_do_not_decode_give_their_offset():
    data = JSON_LINES.encode()
    latin1 = data[:40] + "é".encode("latin-1") + data[40:]
    assert one_line_error(latin1).startswith("in: byte 40: not UTF-8 text")
    with_bom = codecs.BOM_UTF8 + latin1
    assert one_line_error(with_bom).startswith("in: byte 43: not UTF-8 text")
    utf16 = codecs.BOM_UTF16_LE + "[{}]".encode("utf-16-le") + b"\x00\xdc"  # a lone low surrogate
    assert one_line_error(utf16).startswith("in: byte 10: not UTF-16-LE text")
    odd = codecs.BOM_UTF16_LE + '{"a": 1}'.encode("utf-16-le") + b"{"
    assert one_line_error(odd).startswith("in: byte 18: not UTF-16-LE text")


def test_many_values_on_one_line_and_long_wide_lines():
    """Concatenated values are cut out of the line without copying what
    follows; a UTF-16 line is joined once, however many chunks it came in."""
    one = json.dumps(watch("ADDED", CLUSTER[0]), separators=(",", ":"))
    events, _ = read((one * 20_000).encode())
    assert len(events) == 20_000
    wide = json.dumps({**CLUSTER[0], "note": "\u010a" * 100_000})  # U+010A has a 0x0A byte in UTF-16-LE
    events, _ = read(codecs.BOM_UTF16_LE + wide.encode("utf-16-le"))
    assert [type(e) for e in events] == [NodeUpserted]


# -- hostile values --------------------------------------------------------------------

DEEP = 200_000


@pytest.mark.parametrize(
    "data, message",
    [
        (b"[" * DEEP + b"]" * DEEP, "nested too deeply"),
        (
            b'{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "x": ' + b"[" * DEEP + b"]" * DEEP + b"}",
            "nested too deeply",
        ),
        (
            b'{"apiVersion": "v1", "kind": "Node", "metadata": {"labels": ' + b"[" * DEEP + b"]" * DEEP + b"}}",
            "nested too deeply",
        ),
        (b"a:\n" + b"".join(b"  " * i + b"- b:\n" for i in range(1, 3000)), "malformed YAML"),
        (b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
    ],
)
def test_deep_nesting_is_one_line(data, message):
    assert message in one_line_error(data)


def with_port(value: str) -> bytes:
    return (
        b'{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, '
        b'"spec": {"ports": [{"port": ' + value.encode() + b"}]}}"
    )


@pytest.mark.parametrize(
    "data, message",
    [
        (with_port("1e400"), "number out of range"),
        (
            with_port("123456789012345678901234567890"),
            "spec.ports[0].port: 123456789012345678901234567890 is above the maximum 65535",
        ),
        (with_port("NaN"), "malformed JSON"),
        (with_port("Infinity"), "malformed JSON"),
        (with_port("80.0"), "spec.ports[0].port: expected an integer, found number"),
        (
            b"kind: Service\napiVersion: v1\nmetadata: {name: s}\nspec:\n  ports:\n  - port: .nan\n",
            "spec.ports[0].port: expected an integer, found number",
        ),
        (
            b"kind: Node\napiVersion: v1\nmetadata: {name: n}\nstatus:\n  allocatable: {cpu: .inf}\n",
            "status.allocatable.cpu: not a quantity: 'inf'",
        ),
        (
            b"kind: Node\napiVersion: v1\nmetadata: {name: n}\nstatus:\n  allocatable: {cpu: 1e1000000}\n",
            "status.allocatable.cpu",
        ),
        (
            b"kind: Node\napiVersion: v1\nmetadata: {name: n}\nstatus:\n  allocatable: {cpu: '1e9999999999'}\n",
            "exponent",
        ),
        (
            b'{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, '
            b'"status": {"allocatable": {"cpu": "1E40"}}}',
            "too large",
        ),
    ],
)
def test_huge_numbers_and_nan(data, message):
    assert message in one_line_error(data)


@pytest.mark.parametrize(
    "obj, outcome",
    [
        ({"apiVersion": "v1", "kind": "Node", "metadata": None}, "metadata.name: required field is missing"),
        (
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": None},
            "spec.ports: required field",
        ),
        ({**CLUSTER[2], "endpoints": None}, "ok"),
        ({**CLUSTER[2], "endpoints": [None]}, "endpoints[0]: expected an object, found null"),
        ({**CLUSTER[2], "ports": [None]}, "ports[0]: expected an object, found null"),
        ({"type": "ADDED", "object": None}, "in: line 1: expected an object, found null"),
        ({"apiVersion": "v1", "kind": "List", "items": None}, "ok"),
        ({"apiVersion": "v1", "kind": "List", "items": [None]}, "items[0]: expected an object, found null"),
        ({"apiVersion": "v1", "kind": "List", "items": {"a": 1}}, "List.items: expected a list, found object"),
    ],
)
def test_null_where_an_object_belongs(obj, outcome):
    data = json.dumps(obj).encode()
    if outcome == "ok":
        read(data)
    else:
        assert outcome in one_line_error(data)


LAUGHS = b"""apiVersion: v1
kind: Node
metadata:
  name: n
  labels: &a0 {x: y}
status:
  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]
""" + b"".join(b"  l%d: &l%d [%s]\n" % (i, i, b", ".join([b"*l%d" % (i - 1)] * 10)) for i in range(1, 10))


@pytest.mark.parametrize(
    "data, message",
    [
        (LAUGHS, "YAML aliases expand to more than 1,000,000 extra values"),
        (
            b"apiVersion: v1\nkind: Node\nmetadata: &m\n  name: n\n  labels: {x: *m}\n",
            "refers to a value that contains it",
        ),
        (b"apiVersion: v1\nkind: Node\nmetadata: {name: !!python/object/apply:os.system [echo]}\n", "malformed YAML"),
        (b"apiVersion: v1\nkind: Node\nmetadata: {name: !custom n}\n", "malformed YAML"),
        (
            b"apiVersion: v1\nkind: Node\nmetadata: {name: !!binary bmFtZQ==}\n",
            "metadata.name: expected a string, found bytes",
        ),
        (b"apiVersion: v1\nkind: Node\nmetadata: {name: n, labels: {1: x}}\n", "keys must be strings"),
    ],
)
def test_yaml_aliases_and_tags(data, message):
    assert message in one_line_error(data)


def test_modest_yaml_aliases_are_read():
    data = (
        b"apiVersion: v1\nkind: List\nitems:\n"
        b"- {apiVersion: v1, kind: Node, metadata: {name: a, labels: &l {topology.kubernetes.io/zone: z1}}}\n"
        b"- {apiVersion: v1, kind: Node, metadata: {name: b, labels: *l}}\n"
    )
    events, _ = read(data)
    assert [(e.name, e.zone) for e in events] == [("a", "z1"), ("b", "z1")]


# -- the fast path is the slow path ------------------------------------------------------

_words = st.sampled_from(
    [
        "apiVersion",
        "kind",
        "metadata",
        "name",
        "namespace",
        "labels",
        "spec",
        "ports",
        "port",
        "protocol",
        "endpoints",
        "addresses",
        "addressType",
        "items",
        "type",
        "object",
        "hints",
        "forZones",
        "forNodes",
        "conditions",
        "ready",
        "nodeName",
        "zone",
        "status",
        "allocatable",
        "cpu",
        "targetPort",
        "v1",
        "Node",
        "Service",
        "EndpointSlice",
        "List",
        "NodeList",
        "discovery.k8s.io/v1",
        "ADDED",
        "DELETED",
        "BOOKMARK",
        "IPv4",
        "IPv6",
        "FQDN",
        "TCP",
        "10.0.0.1",
        "::1",
        "a",
        "",
        "kubernetes.io/service-name",
    ]
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    _words,
    st.text(max_size=8),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_words, inner, max_size=6)),
    max_leaves=30,
)


def _mutated(obj):
    """A valid object with one field replaced by a random value."""
    return st.tuples(st.just(obj), st.lists(_words, min_size=1, max_size=4), _values)


def _replace(obj, path, value):
    obj = json.loads(json.dumps(obj))
    target = obj
    for key in path[:-1]:
        if not isinstance(target, dict):
            return obj
        target = target.setdefault(key, {})
    if isinstance(target, dict):
        target[path[-1]] = value
    return obj


def outcome(fn):
    try:
        return "events", fn()
    except InputError as exc:
        message = str(exc)
        for prefix in ("in: line 1", "objects[0]"):
            message = message.replace(prefix, "HERE")
        return "error", message


_objects = st.one_of(st.sampled_from(CLUSTER), st.one_of(*(_mutated(o) for o in CLUSTER)).map(lambda t: _replace(*t)))
_lists = st.tuples(
    st.sampled_from(["List", "NodeList", "ServiceList", "EndpointSliceList", "PodList"]),
    st.sampled_from(["v1", "discovery.k8s.io/v1", None]),
    st.lists(st.tuples(_objects, st.sets(st.sampled_from(["kind", "apiVersion"]))), max_size=3),
)


def _list_of(spec):
    kind, api_version, items = spec
    return {
        "apiVersion": api_version,
        "kind": kind,
        "items": [{k: v for k, v in item.items() if k not in drop} for item, drop in items],
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        _values,
        _objects,
        _lists.map(_list_of),
        st.sampled_from([watch("ADDED", o) for o in CLUSTER]),
        st.one_of(*(_mutated(watch("MODIFIED", o)) for o in CLUSTER)).map(lambda t: _replace(*t)),
    ),
    st.booleans(),
)
def test_json_bytes_and_dicts_give_the_same_answer(document, skip_invalid):
    if not isinstance(document, (dict, list)):
        return  # JSON text that starts with neither { nor [ is read as YAML
    data = json.dumps(document).encode()
    from_bytes = outcome(lambda: read(data, skip_invalid)[0])
    from_dicts = outcome(lambda: list(read_objects([document], "objects", ReadStats(), skip_invalid=skip_invalid)))
    assert from_bytes == from_dicts


# -- the fuzzer: only InputError ever comes out ------------------------------------------


def only_input_errors(fn):
    try:
        fn()
    except InputError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes(data):
    only_input_errors(lambda: read(data))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=200),
    st.sampled_from(
        [codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, b"{", b"[", b"---\n"]
    ),
)
def test_random_bytes_behind_a_plausible_start(data, start):
    only_input_errors(lambda: read(start + data))


_yaml_scalars = st.one_of(_scalars, st.floats(), st.integers())
_yaml_values = st.recursive(
    _yaml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_words, inner, max_size=6)),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_yaml_values, st.sampled_from(["json", "json-indent", "yaml", "dict"]), st.booleans())
def test_random_documents(document, form, skip_invalid):
    if form == "dict":
        only_input_errors(lambda: Engine().ingest(document, skip_invalid=skip_invalid))
        return
    if form == "yaml":
        data = yaml.safe_dump(document).encode()
    else:
        data = json.dumps(document, indent=2 if form == "json-indent" else None).encode()
    only_input_errors(lambda: read(data, skip_invalid))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(CLUSTER), min_size=1, max_size=6),
    st.sampled_from([None, 0, 2, 4]),
    st.sampled_from(["\n", "", " ", "\r\n\r\n"]),
)
def test_any_json_layout_reads_the_same(objects, indent, separator):
    text = separator.join(json.dumps(o, indent=indent) for o in objects)
    events, _ = read(text.encode())
    assert [type(e) for e in events] == [KINDS[CLUSTER.index(o)] for o in objects]


# -- the fast IPv4 check, in both cores, says what the exact rule says ----------------------------

_octets = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["01", "00", "0x1", "", " 1", "1 ", "١"]))
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=16)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.lists(_octets, min_size=3, max_size=5).map(".".join),
            st.sampled_from(
                ["127.0.0.1", "0.0.0.0", "169.254.3.4", "224.0.0.9", "224.0.1.9", "0.1.2.3", "::1", "1.2.3.4\n"]
            ),
            _text,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_fast_ipv4_check_agrees_with_the_exact_rule(addresses):
    exact = all(rules.endpoint_ip(a, 4) is None for a in addresses)
    for core in CORES:
        strings, n, data = core.columns_from_rows(
            [[[a], None, None, None, None, None, None, None, None, None, [], []] for a in addresses]
        )
        assert core.usable_ipv4_addresses(tuple(strings), n, data) == exact


def test_msgspec_reports_trailing_bytes_as_the_framing_expects():
    """iter_json splits concatenated values where msgspec says the trailing data starts."""
    with pytest.raises(msgspec.DecodeError, match=r"trailing characters \(byte 3\)"):
        msgspec.json.decode(b"{}{}")
