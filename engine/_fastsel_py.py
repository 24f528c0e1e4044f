"""Pure-Python twin of engine/_fastsel.pyx: same functions, results and errors.

Used when ENGINE_NO_EXTENSIONS=1 or the compiled module is missing.

Layouts the kernels share:

* CSR hints: row ``i`` owns ``ids[offsets[i]:offsets[i + 1]]``, the interned
  zone (or node) ids it is hinted for.  CSR is correct for any number of
  zones and any number of hints per endpoint.
* Hint masks: an ``array('Q')`` with bit ``z`` of row ``i`` set when the row
  is hinted for zone id ``z`` (ids 0..63 only; larger ids live beside it).
* Row lists: ``array('i')`` of row numbers in ascending order.
"""
from array import array

MASK_BITS = 64


def _check_csr(offsets, ids):
    n = len(offsets) - 1
    if n < 0:
        raise ValueError("offsets must hold at least one entry")
    if offsets[0] != 0 or offsets[n] != len(ids):
        raise ValueError("offsets must start at 0 and end at len(ids)")
    # The whole layout is checked before any row is read, as the compiled
    # twin must (it reads without bounds checks).
    if any(offsets[i + 1] < offsets[i] for i in range(n)):
        raise ValueError("offsets must not decrease")
    return n


def hint_match(offsets, ids, wanted):
    """Rows hinted for ``wanted``, and how many rows carry no hint at all.

    Returns ``(rows, unhinted)`` with ``rows`` an ``array('i')`` in ascending
    order.  A row listing ``wanted`` several times is returned once.
    """
    n = _check_csr(offsets, ids)
    rows = array("i")
    unhinted = 0
    for i in range(n):
        start = offsets[i]
        end = offsets[i + 1]
        if start == end:
            unhinted += 1
            continue
        for j in range(start, end):
            if ids[j] == wanted:
                rows.append(i)
                break
    return rows, unhinted


def hint_masks(offsets, ids, n_ids):
    """Bulk rebuild of the hint columns from CSR hints with ids in ``0..n_ids-1``.

    Returns ``(masks, counts, unhinted)``: the ``array('Q')`` hint masks (ids
    below 64), the ``array('i')`` count of rows hinted for each id (a row
    naming an id twice counts once) and the number of rows with no hint.
    """
    n = _check_csr(offsets, ids)
    if n_ids < 0:
        raise ValueError("n_ids must not be negative")
    masks = array("Q", bytes(8 * n))
    counts = array("i", bytes(4 * n_ids))
    unhinted = 0
    for i in range(n):
        start = offsets[i]
        end = offsets[i + 1]
        if start == end:
            unhinted += 1
            continue
        mask = 0
        for j in range(start, end):
            z = ids[j]
            if z < 0 or z >= n_ids:
                raise ValueError("hint ids must lie in 0..n_ids-1")
            if z < MASK_BITS:
                bit = 1 << z
                if not mask & bit:
                    mask |= bit
                    counts[z] += 1
            elif z not in ids[start:j]:
                counts[z] += 1
        masks[i] = mask
    return masks, counts, unhinted


def mask_rows(masks, bit):
    """Rows whose mask has ``bit`` (0..63) set, ascending."""
    if bit < 0 or bit >= MASK_BITS:
        raise ValueError("bit must lie in 0..63")
    flag = 1 << bit
    return array("i", [i for i, mask in enumerate(masks) if mask & flag])


def equal_rows(column, wanted):
    """Rows where ``column`` (an int column) equals ``wanted``, ascending."""
    return array("i", [i for i, value in enumerate(column) if value == wanted])
