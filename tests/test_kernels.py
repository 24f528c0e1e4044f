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
        assert kernels.hint_masks is _fastsel_py.hint_masks
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


# ---------------------------------------------------------------------------
# Index kernels: hint masks and counts, row membership, selection diffs

def _plain_masks(rows, n_ids):
    masks = [sum(1 << z for z in set(ids) if z < 64) for ids in rows]
    counts = [sum(1 for ids in rows if z in ids) for z in range(n_ids)]
    return masks, counts, sum(1 for ids in rows if not ids)


def _same(results):
    """Every implementation's result, as plain lists, is the same."""
    plain = [tuple(list(part) if not isinstance(part, int) else part for part in r) if isinstance(r, tuple)
             else list(r) for r in results]
    assert all(p == plain[0] for p in plain)
    return plain[0]


EDGE_ROWS = [
    [],  # no endpoint
    [[]],  # one unhinted endpoint
    [[3]],  # one hinted endpoint
    [[0, 63, 64, 79]],  # both sides of the mask boundary
    [list(range(i, i + 8)) for i in range(0, 72, 9)],  # 8 hints per endpoint, ids past 64
    [[70, 70, 5, 5], [], [64]],  # repeats count once
]


@pytest.mark.parametrize("rows", EDGE_ROWS)
def test_hint_masks_edges(rows):
    offsets, flat = _csr(rows)
    masks, counts, unhinted = _same([impl.hint_masks(offsets, flat, 80) for impl in IMPLS])
    assert (masks, counts, unhinted) == tuple(_plain_masks(rows, 80))


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 99), max_size=8), max_size=60), bit=st.integers(0, 63))
def test_hint_masks_and_mask_rows_compiled_equals_pure(rows, bit):
    offsets, flat = _csr(rows)
    masks, counts, unhinted = _same([impl.hint_masks(offsets, flat, 100) for impl in IMPLS])
    assert (masks, counts, unhinted) == tuple(_plain_masks(rows, 100))
    found = _same([impl.mask_rows(array("Q", masks), bit) for impl in IMPLS])
    assert found == [i for i, ids in enumerate(rows) if bit in ids]


@settings(max_examples=100, deadline=None)
@given(column=st.lists(st.integers(-1, 5), max_size=80), wanted=st.integers(-2, 6))
def test_equal_rows_compiled_equals_pure(column, wanted):
    found = _same([impl.equal_rows(array("i", column), wanted) for impl in IMPLS])
    assert found == [i for i, value in enumerate(column) if value == wanted]


@pytest.mark.parametrize("impl", IMPLS, ids=lambda m: m.__name__)
def test_index_kernels_reject_bad_input_alike(impl):
    with pytest.raises(ValueError, match="lie in 0..n_ids-1"):
        impl.hint_masks(array("i", [0, 1]), array("i", [5]), 5)
    with pytest.raises(ValueError, match="must not decrease"):
        impl.hint_masks(array("i", [0, 2, 1, 2]), array("i", [0, 0]), 1)
    with pytest.raises(ValueError, match="at least one entry"):
        impl.hint_masks(array("i"), array("i"), 1)
    with pytest.raises(ValueError, match="must not be negative"):
        impl.hint_masks(array("i", [0]), array("i"), -1)
    for bit in (-1, 64):
        with pytest.raises(ValueError, match="bit must lie in 0..63"):
            impl.mask_rows(array("Q", [1]), bit)


@pytest.mark.parametrize("impl", IMPLS, ids=lambda m: m.__name__)
def test_offsets_past_the_ids_are_rejected_before_any_read(impl):
    # Row 0 claims ids[0:10] of 3: the layout is refused up front, never read.
    offsets, flat = array("i", [0, 10, 3]), array("i", [1, 2, 3])
    with pytest.raises(ValueError, match="must not decrease"):
        impl.hint_match(offsets, flat, 1)
    with pytest.raises(ValueError, match="must not decrease"):
        impl.hint_masks(offsets, flat, 4)
