"""The kernels: the compiled module really loaded, and it agrees with its twin."""
import os
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import _fastsel_py, kernels


def test_compiled_kernels_loaded_unless_pure_requested():
    if os.environ.get("ENGINE_NO_EXTENSIONS") == "1":
        assert kernels.IMPLEMENTATION == "pure"
        assert kernels.hint_match is _fastsel_py.hint_match
    else:
        # An editable install builds engine/_fastsel*.so in place; running the
        # suite without it would silently test only the pure twin.
        assert kernels.IMPLEMENTATION == "compiled", "engine._fastsel did not load: build it (pip install -e .)"


def _implementations():
    impls = [_fastsel_py]
    try:
        from engine import _fastsel
    except ImportError:
        if os.environ.get("ENGINE_NO_EXTENSIONS") != "1":
            raise
    else:
        impls.append(_fastsel)
    return impls


IMPLS = _implementations()


def _csr(rows):
    offsets, flat = array("i", [0]), array("i")
    for ids in rows:
        flat.extend(ids)
        offsets.append(len(flat))
    return offsets, flat


@pytest.mark.parametrize("impl", IMPLS, ids=lambda m: m.__name__)
def test_hint_match_basic(impl):
    offsets, flat = _csr([[1], [], [2, 1], [2], [1, 1]])
    rows, unhinted = impl.hint_match(offsets, flat, 1)
    assert list(rows) == [0, 2, 4]
    assert unhinted == 1
    rows, unhinted = impl.hint_match(offsets, flat, 7)
    assert list(rows) == [] and unhinted == 1


@pytest.mark.parametrize("impl", IMPLS, ids=lambda m: m.__name__)
def test_hint_match_empty(impl):
    rows, unhinted = impl.hint_match(array("i", [0]), array("i"), 0)
    assert list(rows) == [] and unhinted == 0


@pytest.mark.parametrize("impl", IMPLS, ids=lambda m: m.__name__)
@pytest.mark.parametrize(
    "offsets, flat, message",
    [
        ([], [], "at least one entry"),
        ([1, 2], [0, 0], "start at 0"),
        ([0, 3], [0], "end at len"),
        ([0, 2, 1, 2], [0, 0], "must not decrease"),
    ],
)
def test_hint_match_rejects_bad_csr_alike(impl, offsets, flat, message):
    with pytest.raises(ValueError, match=message):
        impl.hint_match(array("i", offsets), array("i", flat), 0)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(st.integers(0, 80), max_size=8), max_size=60),
    wanted=st.integers(-1, 81),
)
def test_compiled_equals_pure(rows, wanted):
    offsets, flat = _csr(rows)
    results = [impl.hint_match(offsets, flat, wanted) for impl in IMPLS]
    expected_rows = [i for i, ids in enumerate(rows) if wanted in ids]
    for found_rows, unhinted in results:
        assert list(found_rows) == expected_rows
        assert unhinted == sum(1 for ids in rows if not ids)
