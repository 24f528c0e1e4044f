# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled kernels for endpoint selection; engine/_fastsel_py.py is the twin
with the same functions, results and errors (see its docstring for the
layouts: CSR hints, hint masks, row lists)."""
from cpython.array cimport array, clone, resize

cdef array _INT_TEMPLATE = array("i")
cdef array _MASK_TEMPLATE = array("Q")
cdef enum:
    MASK_BITS = 64  # hint ids below this live in the row's mask


cdef Py_ssize_t _check_csr(const int[:] offsets, const int[:] ids) except -1:
    """Validate the whole CSR layout before any row is read: with bounds
    checks off, a bad offset must never reach an index into ``ids``."""
    cdef Py_ssize_t n = offsets.shape[0] - 1, i
    if n < 0:
        raise ValueError("offsets must hold at least one entry")
    if offsets[0] != 0 or offsets[n] != ids.shape[0]:
        raise ValueError("offsets must start at 0 and end at len(ids)")
    for i in range(n):
        if offsets[i + 1] < offsets[i]:
            raise ValueError("offsets must not decrease")
    return n


def hint_match(const int[:] offsets, const int[:] ids, int wanted):
    cdef Py_ssize_t n = _check_csr(offsets, ids)
    cdef array rows = clone(_INT_TEMPLATE, n, zero=False)
    cdef int[:] out = rows
    cdef Py_ssize_t i, j, count = 0, unhinted = 0
    cdef int start, end
    for i in range(n):
        start = offsets[i]
        end = offsets[i + 1]
        if start == end:
            unhinted += 1
            continue
        for j in range(start, end):
            if ids[j] == wanted:
                out[count] = <int>i
                count += 1
                break
    resize(rows, count)
    return rows, unhinted


def hint_masks(const int[:] offsets, const int[:] ids, int n_ids):
    cdef Py_ssize_t n = _check_csr(offsets, ids)
    if n_ids < 0:
        raise ValueError("n_ids must not be negative")
    cdef array masks = clone(_MASK_TEMPLATE, n, zero=True)
    cdef array counts = clone(_INT_TEMPLATE, n_ids, zero=True)
    cdef unsigned long long[:] mask_out = masks
    cdef int[:] count_out = counts
    cdef Py_ssize_t i, j, k, unhinted = 0
    cdef int start, end, z
    cdef unsigned long long mask, bit
    cdef bint seen
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
                bit = (<unsigned long long>1) << z
                if not (mask & bit):
                    mask |= bit
                    count_out[z] += 1
            else:
                seen = False
                for k in range(start, j):
                    if ids[k] == z:
                        seen = True
                        break
                if not seen:
                    count_out[z] += 1
        mask_out[i] = mask
    return masks, counts, unhinted


def mask_rows(const unsigned long long[:] masks, int bit):
    if bit < 0 or bit >= MASK_BITS:
        raise ValueError("bit must lie in 0..63")
    cdef Py_ssize_t n = masks.shape[0], i, count = 0
    cdef unsigned long long flag = (<unsigned long long>1) << bit
    cdef array rows = clone(_INT_TEMPLATE, n, zero=False)
    cdef int[:] out = rows
    for i in range(n):
        if masks[i] & flag:
            out[count] = <int>i
            count += 1
    resize(rows, count)
    return rows


def equal_rows(const int[:] column, int wanted):
    cdef Py_ssize_t n = column.shape[0], i, count = 0
    cdef array rows = clone(_INT_TEMPLATE, n, zero=False)
    cdef int[:] out = rows
    for i in range(n):
        if column[i] == wanted:
            out[count] = <int>i
            count += 1
    resize(rows, count)
    return rows
