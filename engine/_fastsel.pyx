# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled kernels for endpoint selection; engine/_fastsel_py.py is the twin
with the same functions, results and errors (see its docstring for the CSR
layout of hints)."""
from cpython.array cimport array, clone, resize

cdef array _INT_TEMPLATE = array("i")


cdef Py_ssize_t _check_csr(const int[:] offsets, const int[:] ids) except -1:
    cdef Py_ssize_t n = offsets.shape[0] - 1
    if n < 0:
        raise ValueError("offsets must hold at least one entry")
    if offsets[0] != 0 or offsets[n] != ids.shape[0]:
        raise ValueError("offsets must start at 0 and end at len(ids)")
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
        if end < start:
            raise ValueError("offsets must not decrease")
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
