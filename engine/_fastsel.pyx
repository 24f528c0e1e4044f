# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled core: the string table, endpoint columns, identities and the
port publishers' fold, selection and diff, over C arrays.

engine/_fastsel_py.py is the twin with the same classes, functions, results
and errors; its docstring describes the layouts both share, and each
algorithm here follows it step for step.  What differs is storage only: C
arrays instead of lists, an open-addressing hash of 128-bit identity keys
instead of a dict of tuples, a string table that keeps UTF-8 bytes in one
buffer instead of one Python string per entry.
"""
from cpython.array cimport array as int_array, clone
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memcmp, memcpy, memset

from array import array

from .errors import RecordError

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object unicode, Py_ssize_t* size) except NULL

cdef extern from *:
    int __builtin_ctzll(unsigned long long) nogil

cdef extern from "Python.h":
    ctypedef struct PyObject
    ctypedef struct PyMemberDef:
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member

RESERVED_STRINGS = ("", "IPv4", "IPv6", "FQDN", "Pod", "ExternalWorkload")
S_EMPTY, S_IPV4, S_IPV6, S_FQDN, S_POD, S_EXTERNAL_WORKLOAD = range(len(RESERVED_STRINGS))
DEF C_IPV4 = 1
DEF C_IPV6 = 2
DEF C_POD = 4
DEF C_EXTERNAL_WORKLOAD = 5

FIXED_COLUMNS = 7
COND, NODE, ZONE, HOSTNAME, TARGET_KIND, TARGET_NAMESPACE, TARGET_NAME = range(FIXED_COLUMNS)
ADDRESS_LISTS, ZONE_HINT_LISTS, NODE_HINT_LISTS = range(3)
DEF FIXED = 7
DEF C_NODE = 1
DEF C_HOSTNAME = 3
DEF C_TARGET_KIND = 4
DEF C_TARGET_NAMESPACE = 5
DEF C_TARGET_NAME = 6
NOT_READY = 1

ABSENT, NO_TARGET, POD_ROW, EXTERNAL_ROW = 0, 1, 2, 3
DEF K_ABSENT = 0
DEF K_NO_TARGET = 1
DEF K_POD = 2
DEF K_EXTERNAL = 3

MASK_BITS = 64
DEF C_MASK_BITS = 64
F_NONE, F_ALL, F_LOCAL, F_NODE_HINT, F_ZONE = range(5)
DEF CF_NONE = 0
DEF CF_ALL = 1
DEF CF_LOCAL = 2
DEF CF_NODE_HINT = 3
DEF CF_ZONE = 4
HOST_ANY = -2
HOST_UNKNOWN = -3
DEF C_HOST_ANY = -2

cdef int_array _INTS = array("i")


cdef int_array _ints(const int32_t* values, Py_ssize_t count):
    """An ``array('i')`` holding a copy of ``count`` C ints."""
    cdef int_array out = clone(_INTS, count, zero=False)
    if count:
        memcpy(out.data.as_voidptr, values, count * sizeof(int32_t))
    return out


cdef void* _grow_array(void* p, Py_ssize_t items, Py_ssize_t size) except NULL:
    cdef void* q = realloc(p, items * size if items > 0 else 1)
    if q == NULL:
        raise MemoryError()
    return q


cdef inline Py_ssize_t _power_of_two(Py_ssize_t at_least) noexcept:
    cdef Py_ssize_t n = 16
    while n < at_least:
        n *= 2
    return n


cdef inline uint64_t _mix(uint64_t x) nogil:
    """A 64-bit finaliser (splitmix64): spreads the bits of a key over the hash."""
    x ^= x >> 30
    x *= 0xbf58476d1ce4e5b9ULL
    x ^= x >> 27
    x *= 0x94d049bb133111ebULL
    x ^= x >> 31
    return x


cdef inline uint64_t _hash_bytes(const char* p, Py_ssize_t n) nogil:
    cdef uint64_t h = 0xcbf29ce484222325ULL
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ <uint8_t>p[i]) * 0x100000001b3ULL
    return _mix(h)


# ---------------------------------------------------------------------------
# Strings


cdef class StringTable:
    """Strings interned to ids 0, 1, 2, ... in the order first seen, held as
    UTF-8 bytes in one buffer, with an open-addressing table of ids."""

    cdef char* _buf
    cdef Py_ssize_t _used, _cap
    cdef uint32_t* _offs  # string i is _buf[_offs[i]:_offs[i + 1]]
    cdef Py_ssize_t _count, _count_cap
    cdef int32_t* _slots  # id + 1, 0 empty; placed by the hash of the bytes
    cdef Py_ssize_t _mask

    def __cinit__(self):
        self._cap = 1 << 12
        self._buf = <char*>_grow_array(NULL, self._cap, 1)
        self._count_cap = 64
        self._offs = <uint32_t*>_grow_array(NULL, self._count_cap + 1, sizeof(uint32_t))
        self._offs[0] = 0
        self._mask = 127
        self._slots = <int32_t*>_grow_array(NULL, self._mask + 1, sizeof(int32_t))
        memset(self._slots, 0, (self._mask + 1) * sizeof(int32_t))

    def __init__(self):
        for s in RESERVED_STRINGS:
            self.intern(s)

    def __dealloc__(self):
        free(self._buf)
        free(self._offs)
        free(self._slots)

    def __len__(self):
        return self._count

    def __getitem__(self, Py_ssize_t sid):
        if not 0 <= sid < self._count:
            raise IndexError(f"string id {sid} is not in the table")
        return PyUnicode_DecodeUTF8(self._buf + self._offs[sid], self._offs[sid + 1] - self._offs[sid], NULL)

    cdef inline const char* _ptr(self, Py_ssize_t sid, Py_ssize_t* size) noexcept:
        size[0] = self._offs[sid + 1] - self._offs[sid]
        return self._buf + self._offs[sid]

    cdef Py_ssize_t _lookup(self, const char* p, Py_ssize_t n, uint64_t h) noexcept:
        """The id of these bytes, or -1; ``h`` is their hash."""
        cdef Py_ssize_t i = h & self._mask
        cdef int32_t slot
        while True:
            slot = self._slots[i]
            if slot == 0:
                return -1
            slot -= 1
            if self._offs[slot + 1] - self._offs[slot] == n and memcmp(self._buf + self._offs[slot], p, n) == 0:
                return slot
            i = (i + 1) & self._mask

    cdef void _place(self, Py_ssize_t sid) noexcept:
        cdef Py_ssize_t size
        cdef const char* p = self._ptr(sid, &size)
        cdef Py_ssize_t i = _hash_bytes(p, size) & self._mask
        while self._slots[i] != 0:
            i = (i + 1) & self._mask
        self._slots[i] = <int32_t>(sid + 1)

    cdef int _rehash(self, Py_ssize_t slots) except -1:
        free(self._slots)
        self._mask = slots - 1
        self._slots = <int32_t*>_grow_array(NULL, slots, sizeof(int32_t))
        memset(self._slots, 0, slots * sizeof(int32_t))
        cdef Py_ssize_t sid
        for sid in range(self._count):
            self._place(sid)
        return 0

    cdef Py_ssize_t _append(self, const char* p, Py_ssize_t n, uint64_t h) except -1:
        if self._count >= 0x7FFFFFF0 or self._used + n > 0xFFFFFFFF:
            raise OverflowError("the string table is full")
        while self._used + n > self._cap:
            self._cap *= 2
            self._buf = <char*>_grow_array(self._buf, self._cap, 1)
        if self._count + 1 > self._count_cap:
            self._count_cap *= 2
            self._offs = <uint32_t*>_grow_array(self._offs, self._count_cap + 1, sizeof(uint32_t))
        memcpy(self._buf + self._used, p, n)
        self._used += n
        cdef Py_ssize_t sid = self._count, i
        self._count += 1
        self._offs[self._count] = <uint32_t>self._used
        if 10 * self._count > 7 * (self._mask + 1):  # at most 70% full: linear probing stays short
            self._rehash(2 * (self._mask + 1))
        else:
            i = h & self._mask
            while self._slots[i] != 0:
                i = (i + 1) & self._mask
            self._slots[i] = <int32_t>(sid + 1)
        return sid

    cdef Py_ssize_t _intern(self, object s) except -2:
        if type(s) is not str:
            raise TypeError(f"expected a string, found {type(s).__name__}")
        cdef Py_ssize_t n
        cdef const char* p
        try:
            p = PyUnicode_AsUTF8AndSize(s, &n)
        except UnicodeEncodeError:
            raise RecordError(f"string {s[:40]!r} is not valid Unicode (a lone surrogate?)") from None
        cdef uint64_t h = _hash_bytes(p, n)
        cdef Py_ssize_t found = self._lookup(p, n, h)
        if found >= 0:
            return found
        return self._append(p, n, h)

    def intern(self, s):
        return self._intern(s)

    def find(self, s):
        """The id of ``s``, or -1 if it was never interned."""
        if type(s) is not str:
            return -1
        cdef Py_ssize_t n
        cdef const char* p
        try:
            p = PyUnicode_AsUTF8AndSize(s, &n)
        except UnicodeEncodeError:
            return -1
        return self._lookup(p, n, _hash_bytes(p, n))

    def tail(self, Py_ssize_t start):
        """The strings from id ``start`` on: their UTF-8 bytes back to back,
        and their byte lengths as uint32."""
        if start < 0:
            start = 0
        if start > self._count:
            start = self._count
        cdef Py_ssize_t count = self._count - start, i
        blob = PyBytes_FromStringAndSize(self._buf + self._offs[start], self._offs[self._count] - self._offs[start])
        lengths = PyBytes_FromStringAndSize(NULL, 4 * count)
        cdef uint32_t* out = <uint32_t*>PyBytes_AS_STRING(lengths)
        for i in range(count):
            out[i] = <uint32_t>(self._offs[start + i + 1] - self._offs[start + i])
        return blob, lengths

    def extend(self, Py_ssize_t first, bytes blob, bytes lengths):
        """Strings ``first``, ``first + 1``, ... are those encoded (as ``tail``
        encodes them): append the ones past the end of the table, and check
        that the ones already in it are the same."""
        cdef Py_ssize_t nbytes = PyBytes_GET_SIZE(lengths)
        if nbytes % 4:
            raise RecordError(f"string lengths take {nbytes} bytes, not a whole number of uint32")
        cdef Py_ssize_t count = nbytes // 4, i, pos = 0, total = 0, sid, size
        cdef const uint32_t* sizes = <const uint32_t*>PyBytes_AS_STRING(lengths)
        cdef const char* p = PyBytes_AS_STRING(blob)
        cdef uint64_t h
        for i in range(count):
            total += sizes[i]
        if total != PyBytes_GET_SIZE(blob):
            raise RecordError(f"string lengths add up to {total} bytes, the strings hold {PyBytes_GET_SIZE(blob)}")
        if not 0 <= first <= self._count:
            raise RecordError(f"strings from id {first} do not follow the table's {self._count}")
        # Strings are appended as they are checked, so a string met twice in
        # the record is found the second time; a bad record adds nothing.
        cdef Py_ssize_t start = self._count
        try:
            for i in range(count):
                size = sizes[i]
                try:
                    text = PyUnicode_DecodeUTF8(p + pos, size, NULL)
                except UnicodeDecodeError:
                    raise RecordError(f"string at byte {pos} is not valid UTF-8") from None
                sid = first + i
                if sid < start:
                    if self._offs[sid + 1] - self._offs[sid] != size or \
                            memcmp(self._buf + self._offs[sid], p + pos, size):
                        raise RecordError(f"string {sid} is {text[:40]!r} here but {self[sid][:40]!r} in the table")
                else:
                    h = _hash_bytes(p + pos, size)
                    if self._lookup(p + pos, size, h) >= 0:
                        raise RecordError(f"string {text[:40]!r} is already in the string table")
                    self._append(p + pos, size, h)
                pos += size
        except BaseException:
            self.truncate(start)
            raise

    def truncate(self, Py_ssize_t size):
        """Forget the strings from id ``size`` on (what an append that failed added)."""
        if not len(RESERVED_STRINGS) <= size <= self._count:
            raise ValueError(f"cannot truncate {self._count} strings to {size}")
        if size < self._count:
            self._count = size
            self._used = self._offs[size]
            self._rehash(self._mask + 1)

    def adopt(self, strings, Py_ssize_t n, bytes data):
        """``data``, endpoint columns whose ids index ``strings`` (a slice's own
        tuple, or another table), with the ids made this table's: the strings
        the columns use are interned in the order of their old ids."""
        if strings is self:
            return data
        out = PyBytes_FromStringAndSize(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
        cdef int32_t* words = <int32_t*>PyBytes_AS_STRING(out)
        cdef Py_ssize_t total = PyBytes_GET_SIZE(data) // 4, i, k, used = 0, lo, hi, mid
        cdef int32_t* old = <int32_t*>_grow_array(NULL, total, sizeof(int32_t))
        cdef int32_t* new = NULL
        try:
            for i in range(n, FIXED * n):
                if words[i] >= 0:
                    old[used] = words[i]
                    used += 1
            for i in range(_lists_start(n), total):
                old[used] = words[i]
                used += 1
            qsort(old, used, sizeof(int32_t), _compare_ints)
            k = 0
            for i in range(used):  # unique, ascending
                if k == 0 or old[k - 1] != old[i]:
                    old[k] = old[i]
                    k += 1
            used = k
            new = <int32_t*>_grow_array(NULL, used, sizeof(int32_t))
            for i in range(used):
                new[i] = <int32_t>self._intern(strings[old[i]])
            for i in range(n, total):
                if (i < FIXED * n and words[i] < 0) or FIXED * n <= i < _lists_start(n):
                    continue  # no string, or an offset
                lo, hi = 0, used - 1
                while lo < hi:  # the id's place among the used ones
                    mid = (lo + hi) // 2
                    if old[mid] < words[i]:
                        lo = mid + 1
                    else:
                        hi = mid
                words[i] = new[lo]
        finally:
            free(old)
            free(new)
        return out


cdef int _compare_ints(const void* x, const void* y) noexcept nogil:
    cdef int32_t a = (<const int32_t*>x)[0], b = (<const int32_t*>y)[0]
    return -1 if a < b else (1 if a > b else 0)


# ---------------------------------------------------------------------------
# Endpoint columns


cdef inline Py_ssize_t _lists_start(Py_ssize_t n) noexcept:
    return FIXED * n + 3 * (n + 1)


cdef inline Py_ssize_t _offsets(Py_ssize_t n, int which) noexcept:
    return FIXED * n + which * (n + 1)


cdef inline const int32_t* _words(bytes data) noexcept:
    return <const int32_t*>PyBytes_AS_STRING(data)


ctypedef struct IntBuffer:
    int32_t* data
    Py_ssize_t size, cap


cdef int _push(IntBuffer* buf, int32_t value) except -1:
    if buf.size == buf.cap:
        buf.cap = buf.cap * 2 if buf.cap else 256
        buf.data = <int32_t*>_grow_array(buf.data, buf.cap, sizeof(int32_t))
    buf.data[buf.size] = value
    buf.size += 1
    return 0


def columns_from_rows(rows):
    """Endpoint columns from endpoint rows laid out as in the version-1 log
    record (see the twin): ``(strings, n, data)``; RecordError naming the
    endpoint and field on a wrong shape or type."""
    if type(rows) not in (list, tuple):
        raise RecordError(f"endpoints: expected a list, found {type(rows).__name__}")
    cdef _Strings strings = _Strings()
    cdef Py_ssize_t n = len(rows), i, g, k, start, total
    # The fixed columns, then each list's offsets (relative to its own list)
    # and ids, in C buffers; laid out into one bytes object at the end.
    cdef int32_t* fixed = <int32_t*>_grow_array(NULL, FIXED * n, sizeof(int32_t))
    cdef int32_t* offsets = <int32_t*>_grow_array(NULL, 3 * (n + 1), sizeof(int32_t))
    cdef IntBuffer lists[3]
    memset(lists, 0, sizeof(lists))
    cdef object row
    try:
        for i in range(n):
            row = rows[i]
            if type(row) not in (list, tuple) or len(row) != 12:
                raise RecordError(f"endpoint {i}: expected a list of 12 fields")
            (addresses, ready, serving, terminating, node, zone, hostname,
             kind, namespace, name, for_zones, for_nodes) = row
            offsets[i] = <int32_t>lists[0].size
            _id_list(strings, addresses, i, "addresses", &lists[0])
            fixed[i] = (_tristate(ready, i, "ready") | _tristate(serving, i, "serving") << 2
                        | _tristate(terminating, i, "terminating") << 4)
            fixed[n + i] = _sid(strings, node, i, "nodeName")
            fixed[2 * n + i] = _sid(strings, zone, i, "zone")
            fixed[3 * n + i] = _sid(strings, hostname, i, "hostname")
            fixed[4 * n + i] = _sid(strings, kind, i, "targetRef.kind")
            fixed[5 * n + i] = _sid(strings, namespace, i, "targetRef.namespace")
            fixed[6 * n + i] = _sid(strings, name, i, "targetRef.name")
            offsets[(n + 1) + i] = <int32_t>lists[1].size
            _id_list(strings, for_zones, i, "hints.forZones", &lists[1])
            offsets[2 * (n + 1) + i] = <int32_t>lists[2].size
            _id_list(strings, for_nodes, i, "hints.forNodes", &lists[2])
        return tuple(strings.order), n, _lay_out(n, fixed, offsets, lists)
    finally:
        free(fixed)
        free(offsets)
        for g in range(3):
            free(lists[g].data)


cdef class _Strings:
    """A slice's own strings, each given the next id when first met: a
    small open-addressing table over the strings' cached hashes (cheaper
    than a dict, which also allocates an int per entry)."""

    cdef list order  # the strings, by id
    cdef Py_hash_t* _hashes
    cdef int32_t* _slots  # id + 1, 0 empty
    cdef Py_ssize_t _mask, _count

    def __cinit__(self):
        self.order = []
        self._mask = 63
        self._slots = <int32_t*>_grow_array(NULL, 64, sizeof(int32_t))
        memset(self._slots, 0, 64 * sizeof(int32_t))
        self._hashes = <Py_hash_t*>_grow_array(NULL, 32, sizeof(Py_hash_t))

    def __dealloc__(self):
        free(self._slots)
        free(self._hashes)

    cdef int32_t id_of(self, str value) except -2:
        cdef Py_hash_t h = hash(value)
        cdef Py_ssize_t i = <size_t>h & self._mask, sid
        cdef int32_t slot
        while True:
            slot = self._slots[i]
            if slot == 0:
                break
            if self._hashes[slot - 1] == h and <str>self.order[slot - 1] == value:
                return slot - 1
            i = (i + 1) & self._mask
        try:
            PyUnicode_AsUTF8AndSize(value, NULL)  # cached in the string: adopting it reuses it
        except UnicodeEncodeError:
            raise RecordError(f"string {value[:40]!r} is not valid Unicode (a lone surrogate?)") from None
        sid = self._count
        self.order.append(value)
        self._count += 1
        if (self._count & (self._count - 1)) == 0 and self._count >= 32:
            self._hashes = <Py_hash_t*>_grow_array(self._hashes, 2 * self._count, sizeof(Py_hash_t))
        self._hashes[sid] = h
        self._slots[i] = <int32_t>(sid + 1)
        if 2 * self._count > self._mask:
            self._regrow()
        return <int32_t>sid

    cdef int _regrow(self) except -1:
        cdef Py_ssize_t size = 2 * (self._mask + 1), sid, i
        free(self._slots)
        self._slots = <int32_t*>_grow_array(NULL, size, sizeof(int32_t))
        memset(self._slots, 0, size * sizeof(int32_t))
        self._mask = size - 1
        for sid in range(self._count):
            i = <size_t>self._hashes[sid] & self._mask
            while self._slots[i] != 0:
                i = (i + 1) & self._mask
            self._slots[i] = <int32_t>(sid + 1)
        return 0


cdef int32_t _sid(_Strings strings, object value, Py_ssize_t i, str what) except? -2:
    if value is None:
        return -1
    if type(value) is not str:
        raise RecordError(f"endpoint {i}: {what}: expected a string, found {type(value).__name__}")
    return strings.id_of(<str>value)


cdef int _tristate(object value, Py_ssize_t i, str what) except -1:
    if value is None:
        return 0
    if value is True:
        return 2
    if value is False:
        return 1
    raise RecordError(f"endpoint {i}: {what}: expected a boolean, found {type(value).__name__}")


cdef int _id_list(_Strings strings, object values, Py_ssize_t i, str what, IntBuffer* out) except -1:
    if type(values) is not list and type(values) is not tuple:
        raise RecordError(f"endpoint {i}: {what}: expected a list, found {type(values).__name__}")
    for value in values:
        _push(out, _listed_sid(strings, value, i, what))
    return 0


cdef inline int32_t _listed_sid(_Strings strings, object value, Py_ssize_t i, str what) except? -2:
    """A list entry's id: unlike a field, an entry is never absent."""
    if value is None:
        raise RecordError(f"endpoint {i}: {what}: expected a string, found NoneType")
    return _sid(strings, value, i, what)


cdef class _Fields:
    """Reads named fields of objects of one class the way CPython's own slot
    descriptors do, by offset: the C API's getattr finds a field through the
    class dictionary every time (the interpreter caches that, C code does
    not), and on the ingest path that look-up was most of the work.  Falls
    back to getattr for a class whose field is not a slot."""

    cdef object cls
    cdef tuple names
    cdef Py_ssize_t offsets[8]

    def __cinit__(self, *names):
        self.names = names
        self.cls = None

    cdef int _learn(self, object cls) except -1:
        cdef Py_ssize_t i
        for i in range(len(self.names)):
            found = getattr(cls, self.names[i], None)
            if type(found).__name__ == "member_descriptor":
                self.offsets[i] = (<PyMemberDescrObject*>found).d_member.offset
            else:
                self.offsets[i] = -1
        self.cls = cls
        return 0

    cdef inline object get(self, object obj, int i):
        if type(obj) is not self.cls:
            self._learn(type(obj))
        cdef Py_ssize_t offset = self.offsets[i]
        cdef PyObject* value
        if offset >= 0:
            value = (<PyObject**>((<char*><void*>obj) + offset))[0]
            if value != NULL:
                return <object>value
        return getattr(obj, self.names[i])


cdef _Fields _ENDPOINT = _Fields("addresses", "conditions", "nodeName", "zone", "hostname", "targetRef", "hints")
cdef _Fields _CONDITIONS = _Fields("ready", "serving", "terminating")
cdef _Fields _REFERENCE = _Fields("kind", "namespace", "name")
cdef _Fields _HINTS = _Fields("forZones", "forNodes")
cdef _Fields _HINT = _Fields("name")


def columns_from_endpoints(endpoints):
    """Endpoint columns from decoded EndpointSlice endpoints, read by their
    Kubernetes field names (see the twin): what ``columns_from_rows`` gives
    for the same endpoints as rows, without building the rows."""
    cdef _Strings strings = _Strings()
    cdef Py_ssize_t n = len(endpoints), i, g
    cdef int32_t* fixed = <int32_t*>_grow_array(NULL, FIXED * n, sizeof(int32_t))
    cdef int32_t* offsets = <int32_t*>_grow_array(NULL, 3 * (n + 1), sizeof(int32_t))
    cdef IntBuffer lists[3]
    memset(lists, 0, sizeof(lists))
    cdef object e, c, r, h, hints
    try:
        for i in range(n):
            e = endpoints[i]
            offsets[i] = <int32_t>lists[0].size
            _id_list(strings, _ENDPOINT.get(e, 0), i, "addresses", &lists[0])
            c = _ENDPOINT.get(e, 1)
            if c is None:
                fixed[i] = 0
            else:
                fixed[i] = (_tristate(_CONDITIONS.get(c, 0), i, "ready")
                            | _tristate(_CONDITIONS.get(c, 1), i, "serving") << 2
                            | _tristate(_CONDITIONS.get(c, 2), i, "terminating") << 4)
            fixed[n + i] = _sid(strings, _ENDPOINT.get(e, 2), i, "nodeName")
            fixed[2 * n + i] = _sid(strings, _ENDPOINT.get(e, 3) or None, i, "zone")
            fixed[3 * n + i] = _sid(strings, _ENDPOINT.get(e, 4), i, "hostname")
            r = _ENDPOINT.get(e, 5)
            if r is None:
                fixed[4 * n + i] = fixed[5 * n + i] = fixed[6 * n + i] = -1
            else:
                fixed[4 * n + i] = _sid(strings, _REFERENCE.get(r, 0), i, "targetRef.kind")
                fixed[5 * n + i] = _sid(strings, _REFERENCE.get(r, 1), i, "targetRef.namespace")
                fixed[6 * n + i] = _sid(strings, _REFERENCE.get(r, 2), i, "targetRef.name")
            h = _ENDPOINT.get(e, 6)
            offsets[(n + 1) + i] = <int32_t>lists[1].size
            if h is not None:
                hints = _HINTS.get(h, 0)
                if hints:
                    for hint in hints:
                        _push(&lists[1], _listed_sid(strings, _HINT.get(hint, 0), i, "hints.forZones"))
            offsets[2 * (n + 1) + i] = <int32_t>lists[2].size
            if h is not None:
                hints = _HINTS.get(h, 1)
                if hints:
                    for hint in hints:
                        _push(&lists[2], _listed_sid(strings, _HINT.get(hint, 0), i, "hints.forNodes"))
        return tuple(strings.order), n, _lay_out(n, fixed, offsets, lists)
    finally:
        free(fixed)
        free(offsets)
        for g in range(3):
            free(lists[g].data)


cdef bytes _lay_out(Py_ssize_t n, const int32_t* fixed, int32_t* offsets, IntBuffer* lists):
    """The column words from the fixed columns and each list's own offsets and ids."""
    cdef Py_ssize_t total = FIXED * n + 3 * (n + 1) + lists[0].size + lists[1].size + lists[2].size, g, i, k, start
    data = PyBytes_FromStringAndSize(NULL, 4 * total)
    cdef int32_t* out = <int32_t*>PyBytes_AS_STRING(data)
    if n:
        memcpy(out, fixed, FIXED * n * sizeof(int32_t))
    start = 0  # where each list begins in the one list region
    k = _lists_start(n)
    for g in range(3):
        offsets[g * (n + 1) + n] = <int32_t>lists[g].size
        for i in range(n + 1):
            out[FIXED * n + g * (n + 1) + i] = <int32_t>(offsets[g * (n + 1) + i] + start)
        if lists[g].size:
            memcpy(out + k, lists[g].data, lists[g].size * sizeof(int32_t))
        k += lists[g].size
        start += lists[g].size
    return data


def endpoint_strings(strings, Py_ssize_t n, bytes data):
    """What a slice's endpoints name, for checking each name once: (node
    names, hostnames, zone hints, node hints, whether some endpoint lists a
    hint twice)."""
    cdef const int32_t* w = _words(data)
    cdef Py_ssize_t lists = _lists_start(n), e, j, k, which
    cdef set nodes = set(), hostnames = set(), zone_hints = set(), node_hints = set()
    cdef bint repeated = False
    cdef Py_ssize_t base, s0, s1
    cdef set seen
    for e in range(n):
        if w[n + e] >= 0:
            nodes.add(w[n + e])
        if w[3 * n + e] >= 0:
            hostnames.add(w[3 * n + e])
        for which in range(1, 3):
            base = _offsets(n, which)
            s0, s1 = lists + w[base + e], lists + w[base + e + 1]
            seen = zone_hints if which == 1 else node_hints
            for j in range(s0, s1):
                seen.add(w[j])
                if not repeated:
                    for k in range(s0, j):
                        if w[k] == w[j]:
                            repeated = True
    return ({strings[i] for i in nodes}, {strings[i] for i in hostnames},
            {strings[i] for i in zone_hints}, {strings[i] for i in node_hints}, repeated)


def usable_ipv4_addresses(tuple strings, Py_ssize_t n, bytes data):
    """True when every address of the endpoints is certainly a usable IPv4
    endpoint address (see the twin for the rule); False means only "not
    certainly", and the exact rule then says which address is wrong."""
    cdef const int32_t* w = _words(data)
    cdef Py_ssize_t lists = _lists_start(n), j, size
    cdef const char* text
    for j in range(lists + w[_offsets(n, 0)], lists + w[_offsets(n, 1)]):
        text = PyUnicode_AsUTF8AndSize(strings[w[j]], &size)
        if not _usable_ipv4(text, size):
            return False
    return True


cdef bint _usable_ipv4(const char* text, Py_ssize_t size) noexcept:
    cdef int parts[4]
    cdef int part = 0, digits = 0, value = 0
    cdef Py_ssize_t i
    cdef char c
    for i in range(size):
        c = text[i]
        if c == c'.':
            if digits == 0 or part == 3:
                return False
            parts[part] = value
            part += 1
            digits = value = 0
        elif c'0' <= c <= c'9':
            if digits and value == 0:
                return False  # a leading zero
            value = 10 * value + (c - c'0')
            digits += 1
            if value > 255:
                return False
        else:
            return False
    if part != 3 or digits == 0:
        return False
    parts[3] = value
    return not (parts[0] == 0 and parts[1] == 0 and parts[2] == 0 and parts[3] == 0
                or parts[0] == 127
                or parts[0] == 169 and parts[1] == 254
                or parts[0] == 224 and parts[1] == 0 and parts[2] == 0)


def check_columns(Py_ssize_t n, bytes data, Py_ssize_t limit):
    """Raise RecordError unless ``data`` is a whole layout of ``n``
    endpoints whose string ids lie below ``limit``."""
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
    if n < 0 or size % 4:
        raise RecordError("endpoint columns: not whole int32 words")
    cdef const int32_t* words = _words(data)
    cdef Py_ssize_t count = size // 4, start = _lists_start(n), i, base, previous = 0
    cdef int32_t cond
    cdef int which, shift
    if count < start:
        raise RecordError(f"endpoint columns: {count} words cannot hold {n} endpoints")
    for i in range(n):
        cond = words[i]
        if cond & ~0x3F:
            raise RecordError(f"endpoint columns: endpoint {i} has an invalid condition word {cond}")
        for shift in range(0, 6, 2):
            if (cond >> shift) & 3 == 3:
                raise RecordError(f"endpoint columns: endpoint {i} has an invalid condition word {cond}")
    for i in range(n, FIXED * n):
        if not -1 <= words[i] < limit:
            raise RecordError(f"endpoint columns: string id {words[i]} out of range")
    for which in range(3):
        base = _offsets(n, which)
        if words[base] != previous:
            raise RecordError("endpoint columns: offset arrays do not follow each other")
        for i in range(n):
            if words[base + i + 1] < words[base + i]:
                raise RecordError("endpoint columns: offsets decrease")
        previous = words[base + n]
    if start + previous != count:
        raise RecordError(f"endpoint columns: offsets end at {previous}, the lists hold {count - start}")
    for i in range(start, count):
        if not 0 <= words[i] < limit:
            raise RecordError(f"endpoint columns: string id {words[i]} out of range")


cdef tuple _span(const int32_t* words, Py_ssize_t n, int which, Py_ssize_t e):
    cdef Py_ssize_t base = _offsets(n, which), lists = _lists_start(n), j
    return tuple([words[lists + j] for j in range(words[base + e], words[base + e + 1])])


def endpoint_fields(Py_ssize_t n, bytes data, Py_ssize_t i):
    """Endpoint ``i`` as ``(condition word, node, zone, hostname, target
    kind, target namespace, target name, addresses, zone hints, node
    hints)``, the last three as tuples of ids."""
    cdef const int32_t* w = _words(data)
    return (w[i], w[n + i], w[2 * n + i], w[3 * n + i], w[4 * n + i], w[5 * n + i], w[6 * n + i],
            _span(w, n, 0, i), _span(w, n, 1, i), _span(w, n, 2, i))


cdef tuple _TRISTATE = (None, False, True)


def endpoint_values(strings, Py_ssize_t n, bytes data, make):
    """Every endpoint as ``make(addresses, ready, serving, terminating,
    node, zone, hostname, target kind, target namespace, target name, zone
    hints, node hints)``, in one pass (see the twin)."""
    cdef const int32_t* w = _words(data)
    cdef Py_ssize_t lists = _lists_start(n), e
    cdef int32_t cond
    cdef dict names = {}
    cdef list values = [None] * n
    for e in range(n):
        cond = w[e]
        values[e] = make(
            _strings_of(strings, None, w, lists, _offsets(n, 0) + e),
            _TRISTATE[cond & 3], _TRISTATE[cond >> 2 & 3], _TRISTATE[cond >> 4 & 3],
            _name(strings, names, w[n + e]), _name(strings, names, w[2 * n + e]),
            _name(strings, names, w[3 * n + e]), _name(strings, names, w[4 * n + e]),
            _name(strings, names, w[5 * n + e]), _name(strings, names, w[6 * n + e]),
            _strings_of(strings, names, w, lists, _offsets(n, 1) + e),
            _strings_of(strings, names, w, lists, _offsets(n, 2) + e))
    return tuple(values)


cdef object _name(strings, dict names, int32_t sid):
    if sid < 0:
        return None
    found = names.get(sid)
    if found is None:
        found = names[sid] = strings[sid]
    return found


cdef tuple _strings_of(strings, dict names, const int32_t* w, Py_ssize_t lists, Py_ssize_t at):
    """The strings of one list span; names shared through ``names`` unless it is None."""
    cdef Py_ssize_t j, start = lists + w[at], count = w[at + 1] - w[at]
    cdef tuple out = PyTuple_New(count)
    for j in range(count):
        value = strings[w[start + j]] if names is None else _name(strings, names, w[start + j])
        Py_INCREF(value)
        PyTuple_SET_ITEM(out, j, value)
    return out


# ---------------------------------------------------------------------------
# Identities


cdef inline int _kind(const int32_t* words, Py_ssize_t n, Py_ssize_t e) noexcept:
    if words[e] & 3 == 1:  # ready explicitly false
        return K_ABSENT
    cdef int32_t target = words[C_TARGET_KIND * n + e]
    if target == -1:
        return K_NO_TARGET
    if target == C_POD:
        return K_POD
    if target == C_EXTERNAL_WORKLOAD:
        return K_EXTERNAL
    return K_ABSENT


cdef inline uint32_t _nonneg(int32_t v) noexcept:
    return <uint32_t>(v if v > 0 else 0)


cdef inline void _identity(int kind, const int32_t* words, Py_ssize_t n, Py_ssize_t e, int32_t address,
                           int32_t port, int32_t namespace, int32_t family, uint64_t* hi, uint64_t* lo) noexcept:
    """Linkerd's identity of one address (see the twin's ``_identity``) as
    two words: the kind in the top bits, then the ids that make it."""
    if kind == K_POD:
        hi[0] = (<uint64_t>K_POD << 62) | _nonneg(words[C_TARGET_NAMESPACE * n + e])
        lo[0] = (<uint64_t>_nonneg(words[C_TARGET_NAME * n + e]) << 32) | <uint32_t>family
    elif kind == K_EXTERNAL:
        hi[0] = (<uint64_t>K_EXTERNAL << 62) | <uint32_t>namespace
        lo[0] = _nonneg(words[C_TARGET_NAME * n + e])
    else:
        hi[0] = (<uint64_t>K_NO_TARGET << 62) | _nonneg(words[C_HOSTNAME * n + e])
        lo[0] = (<uint64_t><uint32_t>port << 32) | <uint32_t>address


ctypedef struct Key:
    uint64_t hi, lo  # see _identity
    int32_t refs  # publishers holding the identity
    uint8_t used  # 1 while the row names an identity


cdef class Identities:
    """Identity keys interned to rows, counted by the publishers holding them."""

    cdef Key* _keys
    cdef Py_ssize_t _count, _cap
    cdef int32_t* _slots  # open addressing over the keys: row + 1, 0 empty
    cdef Py_ssize_t _mask, _filled
    cdef IntBuffer _free  # rows to reuse, last freed first
    cdef IntBuffer _unheld  # rows whose count reached 0 in the write under way

    def __cinit__(self):
        self._mask = -1  # no slots until the first identity

    def __dealloc__(self):
        free(self._keys)
        free(self._slots)
        free(self._free.data)
        free(self._unheld.data)

    def __len__(self):
        """Rows ever allocated (held or free)."""
        return self._count

    cdef inline Py_ssize_t _slot_of(self, uint64_t hi, uint64_t lo) noexcept:
        return _mix(hi ^ _mix(lo)) & self._mask

    cdef Py_ssize_t find(self, uint64_t hi, uint64_t lo) noexcept:
        if self._mask < 0:
            return -1
        cdef Py_ssize_t i = self._slot_of(hi, lo)
        cdef int32_t slot
        while True:
            slot = self._slots[i]
            if slot == 0:
                return -1
            if self._keys[slot - 1].hi == hi and self._keys[slot - 1].lo == lo:
                return slot - 1
            i = (i + 1) & self._mask

    cdef int _rehash(self, Py_ssize_t slots) except -1:
        free(self._slots)
        self._mask = slots - 1
        self._slots = <int32_t*>_grow_array(NULL, slots, sizeof(int32_t))
        memset(self._slots, 0, slots * sizeof(int32_t))
        cdef Py_ssize_t row, i
        for row in range(self._count):
            if self._keys[row].used:
                i = self._slot_of(self._keys[row].hi, self._keys[row].lo)
                while self._slots[i] != 0:
                    i = (i + 1) & self._mask
                self._slots[i] = <int32_t>(row + 1)
        return 0

    cdef Py_ssize_t acquire(self, uint64_t hi, uint64_t lo) except -1:
        cdef Py_ssize_t row = self.find(hi, lo), i
        if row < 0:
            if self._free.size:
                self._free.size -= 1
                row = self._free.data[self._free.size]
            else:
                if self._count == self._cap:
                    self._cap = self._cap + self._cap // 2 if self._cap >= 8 else 8
                    self._keys = <Key*>_grow_array(self._keys, self._cap, sizeof(Key))
                row = self._count
                self._count += 1
                self._keys[row].refs = 0
            self._keys[row].hi = hi
            self._keys[row].lo = lo
            self._keys[row].used = 1
            self._filled += 1
            if 2 * self._filled > self._mask + 1:  # keep the table at most half full
                self._rehash(_power_of_two(4 * self._filled))
            else:
                i = self._slot_of(hi, lo)
                while self._slots[i] != 0:
                    i = (i + 1) & self._mask
                self._slots[i] = <int32_t>(row + 1)
        self._keys[row].refs += 1
        return row

    cdef int release(self, Py_ssize_t row) except -1:
        self._keys[row].refs -= 1
        if self._keys[row].refs == 0:
            _push(&self._unheld, <int32_t>row)
        return 0

    cdef void _remove(self, Py_ssize_t row) noexcept:
        """Take the row's key out of the table (backward-shift deletion, so
        no tombstones are left behind)."""
        cdef Py_ssize_t i = self._slot_of(self._keys[row].hi, self._keys[row].lo), j, home
        cdef Key* k
        while self._slots[i] != row + 1:
            i = (i + 1) & self._mask
        j = i
        while True:
            self._slots[i] = 0
            while True:
                j = (j + 1) & self._mask
                if self._slots[j] == 0:
                    return
                k = &self._keys[self._slots[j] - 1]
                home = self._slot_of(k.hi, k.lo)
                # Move the entry at j back to i unless its home lies cyclically in (i, j].
                if (j > i and (home <= i or home > j)) or (j < i and home <= i and home > j):
                    break
            self._slots[i] = self._slots[j]
            i = j

    def settle(self):
        """Free the rows no publisher holds any more, in the order they were
        let go (see the twin)."""
        cdef Py_ssize_t k, row
        for k in range(self._unheld.size):
            row = self._unheld.data[k]
            if self._keys[row].refs == 0 and self._keys[row].used:
                self._remove(row)
                self._keys[row].used = 0
                self._filled -= 1
                _push(&self._free, <int32_t>row)
        self._unheld.size = 0

    cdef Py_ssize_t pod_sibling(self, Py_ssize_t row, int32_t family) noexcept:
        """The row of the same pod's identity in address family ``family``, or -1."""
        if row >= self._count or not self._keys[row].used or (self._keys[row].hi >> 62) != K_POD:
            return -1
        return self.find(self._keys[row].hi, (self._keys[row].lo & 0xFFFFFFFF00000000ULL) | <uint32_t>family)


# ---------------------------------------------------------------------------
# Zones of one service


cdef class ZoneMap:
    """A service's zone names (string ids) interned to small ids, in the order first seen."""

    cdef int32_t* _sids
    cdef Py_ssize_t _count, _cap

    def __cinit__(self):
        self._cap = 8
        self._sids = <int32_t*>_grow_array(NULL, self._cap, sizeof(int32_t))

    def __dealloc__(self):
        free(self._sids)

    def __len__(self):
        return self._count

    cdef Py_ssize_t _find(self, int32_t sid) noexcept:
        cdef Py_ssize_t i
        for i in range(self._count):  # a service sees few zones
            if self._sids[i] == sid:
                return i
        return -1

    cdef Py_ssize_t _local(self, int32_t sid) except -1:
        cdef Py_ssize_t found = self._find(sid)
        if found < 0:
            if self._count == self._cap:
                self._cap *= 2
                self._sids = <int32_t*>_grow_array(self._sids, self._cap, sizeof(int32_t))
            found = self._count
            self._sids[found] = sid
            self._count += 1
        return found


    def find(self, int32_t sid):
        return self._find(sid)


# ---------------------------------------------------------------------------
# Publishers


ctypedef struct Row:
    uint64_t zone_mask  # zone ids below MASK_BITS this row is hinted for
    int64_t order  # map order: the tie-break after (address, port)
    int32_t family  # the address type's string id for Pod rows, -1 otherwise
    int32_t port, address, node, hostname
    int32_t node_hint  # the first node hint, -1 for none
    int32_t src_slice, src_endpoint, src_address  # where the row comes from
    int32_t logged  # its index in the write log + 1; 0: this write has not touched it
    uint8_t kind


ctypedef struct Before:
    int32_t row
    int32_t present
    int32_t address, port, node, hostname, node_hint
    uint64_t zone_mask
    int32_t hints_at, hints_len  # the old source's zone hints, sorted, in the log's pool
    int32_t changed  # -1 until asked: whether the write changed what a client sees of the row


cdef class Publisher:
    """One port publisher's address map as row columns (see the twin)."""

    cdef Row* _rows  # row r of the map; empty when kind is K_ABSENT
    cdef Py_ssize_t _cap
    cdef dict _wide_zones  # row -> all its zone ids, for rows with one >= MASK_BITS
    cdef dict _wide_nodes  # row -> all its node hints, for rows with several
    cdef int32_t* _zone_counts
    cdef Py_ssize_t _zones_cap
    cdef readonly Py_ssize_t size, unhinted, node_unhinted
    cdef readonly int64_t facts_version  # see the twin: bumped when a count the rule reads crosses zero
    cdef readonly int64_t next_order
    # The write log: what each touched row held before, and the old zone
    # hints (sorted) in a pool; rows with wide zones or nodes keep those too.
    cdef Before* _log
    cdef Py_ssize_t _log_len, _log_cap
    cdef dict _log_wide  # log index -> (zone ids, node hints) before
    cdef int32_t* _pool
    cdef Py_ssize_t _pool_len, _pool_cap
    # The slice the last source look-up found: rows of one write mostly share it.
    cdef object _src_obj
    cdef bytes _src_data
    cdef const int32_t* _src_words
    cdef Py_ssize_t _src_n

    def __cinit__(self):
        # Everything is allocated when first needed: a service has a
        # publisher per port, and most services are small.
        self._wide_zones = None
        self._wide_nodes = None
        self._log_wide = None

    def __dealloc__(self):
        free(self._rows)
        free(self._zone_counts)
        free(self._log)
        free(self._pool)

    cdef int _grow(self, Py_ssize_t rows) except -1:
        cdef Py_ssize_t old = self._cap, new, r
        if rows <= old:
            return 0
        new = old + old // 2  # amortised: grow by half
        if new < rows:
            new = rows
        self._rows = <Row*>_grow_array(self._rows, new, sizeof(Row))
        for r in range(old, new):
            self._rows[r].kind = K_ABSENT
            self._rows[r].family = -1
            self._rows[r].port = 0
            self._rows[r].address = -1
            self._rows[r].node = -1
            self._rows[r].hostname = -1
            self._rows[r].node_hint = -1
            self._rows[r].zone_mask = 0
            self._rows[r].order = 0
            self._rows[r].src_slice = -1
            self._rows[r].src_endpoint = 0
            self._rows[r].src_address = 0
            self._rows[r].logged = 0
        self._cap = new
        return 0

    # -- reading rows ----------------------------------------------------------

    def capacity(self):
        return self._cap

    cdef inline bint _holds(self, Py_ssize_t row) noexcept:
        return 0 <= row < self._cap and self._rows[row].kind != K_ABSENT

    def holds(self, Py_ssize_t row):
        return self._holds(row)

    def rows(self):
        """Every held row, ascending."""
        cdef int_array out = clone(_INTS, self.size, zero=False)
        cdef Py_ssize_t r, count = 0
        for r in range(self._cap):
            if self._rows[r].kind:
                out.data.as_ints[count] = <int32_t>r
                count += 1
        return out

    def row(self, Py_ssize_t r):
        """``(kind, family, port, address, node, hostname, slice, endpoint, address index)``."""
        return (self._rows[r].kind, self._rows[r].family, self._rows[r].port, self._rows[r].address, self._rows[r].node, self._rows[r].hostname,
                self._rows[r].src_slice, self._rows[r].src_endpoint, self._rows[r].src_address)

    cdef tuple _zone_ids(self, Py_ssize_t r):
        if self._wide_zones:
            wide = self._wide_zones.get(r)
            if wide is not None:
                return wide
        cdef uint64_t mask = self._rows[r].zone_mask
        cdef int z
        return tuple([z for z in range(64) if (mask >> z) & 1])

    cdef tuple _node_hints(self, Py_ssize_t r):
        if self._wide_nodes:
            wide = self._wide_nodes.get(r)
            if wide is not None:
                return wide
        return () if self._rows[r].node_hint < 0 else (self._rows[r].node_hint,)

    def zone_count(self, Py_ssize_t zone):
        return self._zone_counts[zone] if 0 <= zone < self._zones_cap else 0

    # -- writing ---------------------------------------------------------------

    def begin(self):
        """Start a write: the log will hold what this write touches."""
        self.end()

    def end(self):
        """Forget the last write's log (once whatever reads it has)."""
        cdef Py_ssize_t k
        for k in range(self._log_len):
            self._rows[self._log[k].row].logged = 0
        self._log_len = 0
        self._pool_len = 0
        self._log_wide = None
        self._src_obj = None
        self._src_data = None
        # Most publishers are written rarely: their log costs nothing between writes.
        free(self._log)
        free(self._pool)
        self._log = NULL
        self._pool = NULL
        self._log_cap = self._pool_cap = 0

    def take_back(self, Identities ids, Py_ssize_t n, bytes data, int32_t port, int32_t namespace,
                  int32_t family, list sources):
        """Drop every identity the slice (its previous version) gave that this map holds."""
        cdef const int32_t* words = _words(data)
        cdef Py_ssize_t lists = _lists_start(n), base = _offsets(n, 0), e, a, row
        cdef int kind
        cdef uint64_t hi, lo
        for e in range(n):
            kind = _kind(words, n, e)
            if kind == K_ABSENT:
                continue
            for a in range(words[base + e + 1] - words[base + e]):
                _identity(kind, words, n, e, words[lists + words[base + e] + a], port, namespace, family, &hi, &lo)
                row = ids.find(hi, lo)
                if row >= 0 and self._holds(row):
                    self._touch(row, sources)
                    self._count(row, -1)
                    self._rows[row].kind = K_ABSENT
                    self._resize(-1)
                    ids.release(row)

    def put(self, Identities ids, ZoneMap zones, Py_ssize_t n, bytes data, int32_t port, int32_t namespace,
            int32_t family, int32_t slice_number, list sources):
        """Write what the slice gives; a held identity is overwritten in place
        (it keeps its place in map order), a new one goes to the end."""
        cdef const int32_t* words = _words(data)
        cdef Py_ssize_t lists = _lists_start(n), base = _offsets(n, 0), e, a
        cdef int kind
        cdef int32_t address
        cdef uint64_t hi, lo
        for e in range(n):
            kind = _kind(words, n, e)
            if kind == K_ABSENT:
                continue
            for a in range(words[base + e + 1] - words[base + e]):
                address = words[lists + words[base + e] + a]
                _identity(kind, words, n, e, address, port, namespace, family, &hi, &lo)
                self._write(ids, zones, words, n, e, a, kind, address, hi, lo, port, family, slice_number, sources)

    def put_one(self, Identities ids, ZoneMap zones, Py_ssize_t n, bytes data, int32_t port, int32_t namespace,
                int32_t family, int32_t slice_number, Py_ssize_t e, Py_ssize_t a, list sources):
        """Write address ``a`` of endpoint ``e`` alone (loading a snapshot's rows in map order)."""
        cdef const int32_t* words = _words(data)
        cdef int kind = _kind(words, n, e) if 0 <= e < n else K_ABSENT
        cdef Py_ssize_t base = _offsets(n, 0)
        if kind == K_ABSENT or not 0 <= a < words[base + e + 1] - words[base + e]:
            raise RecordError(f"snapshot row: endpoint {e} address {a} gives no row")
        cdef int32_t address = words[_lists_start(n) + words[base + e] + a]
        cdef uint64_t hi, lo
        _identity(kind, words, n, e, address, port, namespace, family, &hi, &lo)
        self._write(ids, zones, words, n, e, a, kind, address, hi, lo, port, family, slice_number, sources)

    cdef int _write(self, Identities ids, ZoneMap zones, const int32_t* words, Py_ssize_t n, Py_ssize_t e,
                    Py_ssize_t a, int kind, int32_t address, uint64_t hi, uint64_t lo, int32_t port, int32_t family,
                    int32_t slice_number, list sources) except -1:
        cdef Py_ssize_t row = ids.acquire(hi, lo)
        self._touch(row, sources)
        if self._holds(row):
            ids.release(row)  # the acquire above was a look-up: this map already counted it
            self._count(row, -1)
        else:
            self._grow(row + 1)
            self._rows[row].order = self.next_order
            self.next_order += 1
            self._resize(1)
        self._rows[row].kind = <uint8_t>kind
        self._rows[row].family = family if kind == K_POD else -1
        self._rows[row].port = port
        self._rows[row].address = address
        self._rows[row].node = words[C_NODE * n + e]
        self._rows[row].hostname = words[C_HOSTNAME * n + e]
        self._rows[row].src_slice = slice_number
        self._rows[row].src_endpoint = <int32_t>e
        self._rows[row].src_address = <int32_t>a
        cdef Py_ssize_t lists = _lists_start(n), zb = _offsets(n, 1), nb = _offsets(n, 2), j, z
        cdef Py_ssize_t z_start = lists + words[zb + e], z_end = lists + words[zb + e + 1]
        cdef Py_ssize_t n_start = lists + words[nb + e], n_end = lists + words[nb + e + 1]
        cdef uint64_t mask = 0
        cdef bint wide = False
        for j in range(z_start, z_end):
            z = zones._local(words[j])
            if z < C_MASK_BITS:
                mask |= (<uint64_t>1) << z
            else:
                wide = True
        self._rows[row].zone_mask = mask
        if wide:
            if self._wide_zones is None:
                self._wide_zones = {}
            self._wide_zones[row] = tuple([zones._local(words[j]) for j in range(z_start, z_end)])
        elif self._wide_zones:
            self._wide_zones.pop(row, None)
        self._rows[row].node_hint = words[n_start] if n_end > n_start else -1
        if n_end - n_start > 1:
            if self._wide_nodes is None:
                self._wide_nodes = {}
            self._wide_nodes[row] = tuple([words[j] for j in range(n_start, n_end)])
        elif self._wide_nodes:
            self._wide_nodes.pop(row, None)
        self._count(row, 1)
        return 0

    def clear(self, Identities ids, list sources):
        """Drop every row (a Service deleted): each goes in the log."""
        cdef Py_ssize_t r
        for r in range(self._cap):
            if self._rows[r].kind:
                self._touch(r, sources)
                self._count(r, -1)
                self._rows[r].kind = K_ABSENT
                ids.release(r)
        if self.size:
            self.size = 0
            self.facts_version += 1

    cdef inline void _resize(self, int step) noexcept:
        self.size += step
        if self.size == 0 or self.size == step:
            self.facts_version += 1

    cdef int _count(self, Py_ssize_t row, int step) except -1:
        """Add (or with -1 take back) the row's share of the counts."""
        cdef uint64_t mask = self._rows[row].zone_mask
        cdef int z
        wide = self._wide_zones.get(row) if self._wide_zones else None
        if wide is not None:
            for z in set(wide):
                self._add_zone_count(z, step)
        elif mask == 0:
            self.unhinted += step
            if self.unhinted == 0 or self.unhinted == step:
                self.facts_version += 1
        else:
            while mask:  # each set bit, lowest first
                self._add_zone_count(__builtin_ctzll(mask), step)
                mask &= mask - 1
        if self._rows[row].node_hint < 0:
            self.node_unhinted += step
            if self.node_unhinted == 0 or self.node_unhinted == step:
                self.facts_version += 1
        return 0

    cdef inline int _add_zone_count(self, Py_ssize_t z, int step) except -1:
        cdef Py_ssize_t old = self._zones_cap, new = old if old else 4
        if z >= old:
            while new <= z:
                new *= 2
            self._zone_counts = <int32_t*>_grow_array(self._zone_counts, new, sizeof(int32_t))
            memset(self._zone_counts + old, 0, (new - old) * sizeof(int32_t))
            self._zones_cap = new
        self._zone_counts[z] += step
        if self._zone_counts[z] == 0 or self._zone_counts[z] == step:
            self.facts_version += 1
        return 0

    cdef int _source(self, list sources, Py_ssize_t number) except -1:
        """Point _src_words and _src_n at slice ``number``'s columns."""
        es = sources[number]
        if es is not self._src_obj:
            cols = es.endpoints
            self._src_data = cols.data
            self._src_words = _words(self._src_data)
            self._src_n = cols.n
            self._src_obj = es
        return 0

    cdef int _touch(self, Py_ssize_t row, list sources) except -1:
        """Note the row's content before its first change in this write."""
        self._grow(row + 1)
        if self._rows[row].logged:
            return 0
        if self._log_len == self._log_cap:
            self._log_cap = self._log_cap * 2 if self._log_cap else 16
            self._log = <Before*>_grow_array(self._log, self._log_cap, sizeof(Before))
        cdef Py_ssize_t k = self._log_len
        cdef Before* b = &self._log[k]
        self._log_len += 1
        self._rows[row].logged = <int32_t>self._log_len
        b.row = <int32_t>row
        b.hints_at = <int32_t>self._pool_len
        b.hints_len = 0
        b.changed = -1
        if not self._holds(row):
            b.present = 0
            b.address = -1
            b.port = 0
            b.node = -1
            b.hostname = -1
            b.node_hint = -1
            b.zone_mask = 0
            return 0
        b.present = 1
        b.address = self._rows[row].address
        b.port = self._rows[row].port
        b.node = self._rows[row].node
        b.hostname = self._rows[row].hostname
        b.node_hint = self._rows[row].node_hint
        b.zone_mask = self._rows[row].zone_mask
        if (self._wide_zones and row in self._wide_zones) or (self._wide_nodes and row in self._wide_nodes):
            if self._log_wide is None:
                self._log_wide = {}
            self._log_wide[k] = (self._zone_ids(row), self._node_hints(row))
        self._source(sources, self._rows[row].src_slice)
        count = self._sorted_hints(self._src_words, self._src_n, self._rows[row].src_endpoint)
        self._log[k].hints_len = count  # (the pool grew; the log did not move)
        return 0

    cdef int32_t _sorted_hints(self, const int32_t* words, Py_ssize_t n, Py_ssize_t e) except -1:
        """Append endpoint ``e``'s zone hints to the pool, sorted; returns how many."""
        cdef Py_ssize_t lists = _lists_start(n), zb = _offsets(n, 1)
        cdef Py_ssize_t start = lists + words[zb + e], count = words[zb + e + 1] - words[zb + e], j, k
        while self._pool_len + count > self._pool_cap:
            self._pool_cap = self._pool_cap * 2 if self._pool_cap else 64
            self._pool = <int32_t*>_grow_array(self._pool, self._pool_cap, sizeof(int32_t))
        cdef int32_t* out = self._pool + self._pool_len
        cdef int32_t v
        for j in range(count):  # insertion sort: a handful of hints
            v = words[start + j]
            k = j
            while k > 0 and out[k - 1] > v:
                out[k] = out[k - 1]
                k -= 1
            out[k] = v
        self._pool_len += count
        return <int32_t>count

    # -- what a write changed --------------------------------------------------

    def log_rows(self):
        """The rows the last write touched, in first-touch order."""
        cdef int_array out = clone(_INTS, self._log_len, zero=False)
        cdef Py_ssize_t k
        for k in range(self._log_len):
            out.data.as_ints[k] = self._log[k].row
        return out

    cdef bint _changed(self, Py_ssize_t row, list sources) except -1:
        if row >= self._cap or not self._rows[row].logged:
            return False
        cdef Before* b = &self._log[self._rows[row].logged - 1]
        if b.changed < 0:  # asked once per write, whatever the number of subscriptions asking
            b.changed = self._compare(b, row, sources)
        return b.changed

    cdef int32_t _compare(self, Before* b, Py_ssize_t row, list sources) except -1:
        cdef bint held = self._holds(row)
        if b.present != held:
            return 1
        if not held:
            return 0
        if b.address != self._rows[row].address or b.port != self._rows[row].port:
            return 1
        cdef int32_t hints_at = b.hints_at, hints_len = b.hints_len
        self._source(sources, self._rows[row].src_slice)
        cdef Py_ssize_t at = self._pool_len
        cdef int32_t count = self._sorted_hints(self._src_words, self._src_n, self._rows[row].src_endpoint)
        cdef bint differ = count != hints_len or (
            count > 0 and memcmp(self._pool + hints_at, self._pool + at, count * sizeof(int32_t)) != 0)
        self._pool_len = at
        return differ


    def touched(self):
        """What the last write's rows named, before and after: (zone ids,
        nodes, node hints, hostnames), for dropping the cached selections
        that depend on them."""
        cdef set zones = set(), nodes = set(), hint_nodes = set(), hosts = set()
        cdef Py_ssize_t k, row
        cdef Before* b
        cdef uint64_t masks = 0
        cdef int z
        for k in range(self._log_len):
            b = &self._log[k]
            row = b.row
            if b.present:
                wide = self._log_wide.get(k) if self._log_wide else None
                if wide is not None:
                    zones.update(wide[0])
                    hint_nodes.update(wide[1])
                else:
                    masks |= b.zone_mask
                    if b.node_hint >= 0:
                        hint_nodes.add(b.node_hint)
                nodes.add(b.node)
                hosts.add(b.hostname)
            if self._holds(row):
                if self._wide_zones and row in self._wide_zones:
                    zones.update(self._wide_zones[row])
                else:
                    masks |= self._rows[row].zone_mask
                if self._wide_nodes and row in self._wide_nodes:
                    hint_nodes.update(self._wide_nodes[row])
                elif self._rows[row].node_hint >= 0:
                    hint_nodes.add(self._rows[row].node_hint)
                nodes.add(self._rows[row].node)
                hosts.add(self._rows[row].hostname)
        for z in range(64):
            if (masks >> z) & 1:
                zones.add(z)
        nodes.discard(-1)
        hosts.discard(-1)
        return sorted(zones), sorted(nodes), sorted(hint_nodes), sorted(hosts)

    # -- selecting -------------------------------------------------------------

    cdef bint _passes(self, Py_ssize_t row, int kind, int32_t arg, int32_t host) except -1:
        """Whether a held row survives the hostname step and filter ``kind``."""
        if not self._holds(row) or (host != C_HOST_ANY and self._rows[row].hostname != host):
            return False
        if kind == CF_ALL:
            return True
        if kind == CF_LOCAL:
            return arg >= 0 and self._rows[row].kind == K_POD and self._rows[row].node == arg
        if kind == CF_NODE_HINT:
            if arg < 0:
                return False
            if self._rows[row].node_hint == arg:
                return True
            if self._wide_nodes:
                wide = self._wide_nodes.get(row)
                return wide is not None and arg in wide
            return False
        if kind == CF_ZONE:
            if 0 <= arg < C_MASK_BITS:
                return (self._rows[row].zone_mask >> arg) & 1
            if arg < 0 or not self._wide_zones:
                return False
            wide = self._wide_zones.get(row)
            return wide is not None and arg in wide
        return False

    def passes(self, Py_ssize_t row, int kind, int32_t arg, int32_t host):
        return self._passes(row, kind, arg, host)

    cdef bint _member(self, Identities ids, Py_ssize_t row, int kind, int32_t arg, int32_t host,
                      bint ipv6) except -1:
        if not self._passes(row, kind, arg, host):
            return False
        cdef int32_t family = self._rows[row].family
        cdef Py_ssize_t sibling
        if family == C_IPV6:
            return ipv6
        if family == C_IPV4 and ipv6:
            sibling = ids.pod_sibling(row, C_IPV6)
            return sibling < 0 or not self._passes(sibling, kind, arg, host)
        return True


    def select(self, Identities ids, int kind, int32_t arg, int32_t host, bint ipv6):
        """Rows a filter keeps, then Linkerd's address-family step, ascending."""
        cdef Py_ssize_t r, count = 0
        cdef int32_t* kept = <int32_t*>_grow_array(NULL, self._cap, sizeof(int32_t))
        try:
            for r in range(self._cap):
                if self._passes(r, kind, arg, host):
                    kept[count] = <int32_t>r
                    count += 1
            return self._family_step(ids, kept, count, kind, arg, host, ipv6)
        finally:
            free(kept)

    cdef object _family_step(self, Identities ids, const int32_t* rows, Py_ssize_t count, int kind, int32_t arg,
                             int32_t host, bint ipv6):
        """Without IPv6, Pod IPv6 addresses are dropped; with it, a pod that
        has both families among the filter's rows keeps only its IPv6 one."""
        cdef int32_t* out = <int32_t*>_grow_array(NULL, count, sizeof(int32_t))
        cdef Py_ssize_t i, kept = 0, sibling
        cdef int32_t family, r
        try:
            for i in range(count):
                r = rows[i]
                family = self._rows[r].family
                if family == C_IPV6 and not ipv6:
                    continue
                if family == C_IPV4 and ipv6:
                    sibling = ids.pod_sibling(r, C_IPV6)
                    if sibling >= 0 and self._passes(sibling, kind, arg, host):
                        continue
                out[kept] = r
                kept += 1
            return _ints(out, kept)
        finally:
            free(out)

    def facts(self, rows):
        """(rows, rows without a zone hint, rows without a node hint) among ``rows``."""
        cdef Py_ssize_t unhinted = 0, node_unhinted = 0, r
        for r in rows:
            if self._rows[r].zone_mask == 0 and not (self._wide_zones and r in self._wide_zones):
                unhinted += 1
            if self._rows[r].node_hint < 0:
                node_unhinted += 1
        return len(rows), unhinted, node_unhinted

    def host_rows(self, int32_t host):
        out = array("i")
        cdef Py_ssize_t r
        for r in range(self._cap):
            if self._rows[r].kind and self._rows[r].hostname == host:
                out.append(r)
        return out

    def count_passing(self, rows, int kind, int32_t arg):
        cdef Py_ssize_t count = 0, r
        for r in rows:
            if self._passes(r, kind, arg, C_HOST_ANY):
                count += 1
        return count

    def diff(self, Identities ids, bytearray member, int kind, int32_t arg, int32_t host, bint ipv6,
             bint full, bint logged, list sources):
        """Bring a subscription's membership up to date (see the twin):
        ``(added or changed rows, removed rows)``."""
        if len(member) < self._cap:
            member.extend(bytes(self._cap - len(member)))
        cdef unsigned char* m = member
        added, removed = array("i"), array("i")
        cdef Py_ssize_t k, row, sibling, total = len(member)
        if full:
            for row in range(total):
                self._diff_row(ids, m, row, kind, arg, host, ipv6, logged, sources, added, removed)
        elif logged:
            for k in range(self._log_len):
                self._diff_row(ids, m, self._log[k].row, kind, arg, host, ipv6, logged, sources, added, removed)
            if ipv6:
                for k in range(self._log_len):
                    sibling = ids.pod_sibling(self._log[k].row, C_IPV4)
                    if sibling >= 0 and not self._rows[sibling].logged:
                        self._diff_row(ids, m, sibling, kind, arg, host, ipv6, logged, sources, added, removed)
        return added, removed

    cdef int _diff_row(self, Identities ids, unsigned char* member, Py_ssize_t row, int kind, int32_t arg,
                       int32_t host, bint ipv6, bint logged, list sources, added, removed) except -1:
        cdef bint old = member[row], new = self._member(ids, row, kind, arg, host, ipv6)
        if old and not new:
            removed.append(row)
        elif new and (not old or (logged and self._changed(row, sources))):
            added.append(row)
        member[row] = new
        return 0

    def sources(self, rows):
        """Where ``rows`` come from, four ints a row: (slice number, endpoint,
        address index, port)."""
        cdef Py_ssize_t count = len(rows), i
        cdef int_array out = clone(_INTS, 4 * count, zero=False)
        cdef int_array r = rows if isinstance(rows, array) else array("i", rows)
        cdef Row* row
        for i in range(count):
            row = &self._rows[r.data.as_ints[i]]
            out.data.as_ints[4 * i] = row.src_slice
            out.data.as_ints[4 * i + 1] = row.src_endpoint
            out.data.as_ints[4 * i + 2] = row.src_address
            out.data.as_ints[4 * i + 3] = row.port
        return out

    # -- order -----------------------------------------------------------------

    def sort(self, StringTable table, rows):
        """``rows`` by (address, port, map order): how selections are listed."""
        cdef Py_ssize_t count = len(rows), i, size
        cdef SortKey* keys = <SortKey*>_grow_array(NULL, count, sizeof(SortKey))
        cdef int_array r = rows if isinstance(rows, array) else array("i", rows)
        cdef const char* p
        cdef int32_t row
        global _sort_table
        try:
            for i in range(count):
                row = r.data.as_ints[i]
                keys[i].row = row
                keys[i].address = self._rows[row].address
                keys[i].port = self._rows[row].port
                keys[i].order = self._rows[row].order
                p = table._ptr(keys[i].address, &size)
                keys[i].k0 = _prefix(p, size, 0)
                keys[i].k1 = _prefix(p, size, 8)
                keys[i].length = <int32_t>size
            _sort_table = table
            qsort(keys, count, sizeof(SortKey), _compare_keys)
            _sort_table = None
            out = clone(_INTS, count, zero=False)
            for i in range(count):
                out.data.as_ints[i] = keys[i].row
            return out
        finally:
            free(keys)

    def map_order(self):
        """Every held row in map order (the order a snapshot lists them)."""
        cdef Py_ssize_t i, count = self.size
        cdef int_array held = self.rows()
        cdef OrderKey* keys = <OrderKey*>_grow_array(NULL, count, sizeof(OrderKey))
        try:
            for i in range(count):
                keys[i].row = held.data.as_ints[i]
                keys[i].order = self._rows[keys[i].row].order
            qsort(keys, count, sizeof(OrderKey), _compare_order)
            for i in range(count):
                held.data.as_ints[i] = keys[i].row
            return held
        finally:
            free(keys)


ctypedef struct SortKey:
    uint64_t k0, k1  # the address's first 16 UTF-8 bytes, big-endian, zero-padded
    int32_t length, address, port, row
    int64_t order


ctypedef struct OrderKey:
    int64_t order
    int32_t row


cdef StringTable _sort_table = None  # the table the comparison reads long addresses from


cdef inline uint64_t _prefix(const char* p, Py_ssize_t size, Py_ssize_t at) noexcept:
    cdef uint64_t v = 0
    cdef Py_ssize_t i
    for i in range(at, at + 8):
        v = (v << 8) | (<uint8_t>p[i] if i < size else 0)
    return v


cdef int _compare_keys(const void* x, const void* y) noexcept nogil:
    cdef const SortKey* a = <const SortKey*>x
    cdef const SortKey* b = <const SortKey*>y
    cdef int c
    if a.k0 != b.k0:
        return -1 if a.k0 < b.k0 else 1
    if a.k1 != b.k1:
        return -1 if a.k1 < b.k1 else 1
    if a.address != b.address:
        with gil:
            c = _compare_strings(a.address, b.address)
        if c:
            return c
    if a.port != b.port:
        return -1 if a.port < b.port else 1
    if a.order != b.order:
        return -1 if a.order < b.order else 1
    return 0


cdef int _compare_strings(int32_t x, int32_t y) noexcept:
    """Full comparison of two table strings whose padded prefixes are equal:
    byte order of UTF-8 is code point order, and a prefix sorts first."""
    cdef Py_ssize_t nx, ny
    cdef const char* px = _sort_table._ptr(x, &nx)
    cdef const char* py = _sort_table._ptr(y, &ny)
    cdef int c = memcmp(px, py, nx if nx < ny else ny)
    if c:
        return -1 if c < 0 else 1
    return -1 if nx < ny else (1 if nx > ny else 0)


cdef int _compare_order(const void* x, const void* y) noexcept nogil:
    cdef const OrderKey* a = <const OrderKey*>x
    cdef const OrderKey* b = <const OrderKey*>y
    return -1 if a.order < b.order else (1 if a.order > b.order else 0)
