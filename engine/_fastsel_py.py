"""Pure-Python twin of engine/_fastsel.pyx: same functions, results and errors.

Used when ENGINE_NO_EXTENSIONS=1 or the compiled module is missing.  Hints are
passed in CSR form: row ``i`` owns ``ids[offsets[i]:offsets[i + 1]]``, the
interned zone (or node) names it is hinted for.  CSR keeps the kernels correct
for any number of zones and any number of hints per endpoint.
"""
from array import array


def _check_csr(offsets, ids):
    n = len(offsets) - 1
    if n < 0:
        raise ValueError("offsets must hold at least one entry")
    if offsets[0] != 0 or offsets[n] != len(ids):
        raise ValueError("offsets must start at 0 and end at len(ids)")
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
        if end < start:
            raise ValueError("offsets must not decrease")
        if start == end:
            unhinted += 1
            continue
        for j in range(start, end):
            if ids[j] == wanted:
                rows.append(i)
                break
    return rows, unhinted
