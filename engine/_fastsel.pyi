"""Signatures of the compiled core (engine/_fastsel.pyx); engine/_fastsel_py.py
is its twin with the same names and behaviour."""

from array import array
from collections.abc import Callable, Sequence
from typing import Any, Optional, TypeVar, Union

T = TypeVar("T")

RESERVED_STRINGS: tuple[str, ...]
S_EMPTY: int
S_IPV4: int
S_IPV6: int
S_FQDN: int
S_POD: int
S_EXTERNAL_WORKLOAD: int
FIXED_COLUMNS: int
COND: int
NODE: int
ZONE: int
HOSTNAME: int
TARGET_KIND: int
TARGET_NAMESPACE: int
TARGET_NAME: int
ADDRESS_LISTS: int
ZONE_HINT_LISTS: int
NODE_HINT_LISTS: int
NOT_READY: int
ABSENT: int
NO_TARGET: int
POD_ROW: int
EXTERNAL_ROW: int
MASK_BITS: int
F_NONE: int
F_ALL: int
F_LOCAL: int
F_NODE_HINT: int
F_ZONE: int
HOST_ANY: int
HOST_UNKNOWN: int

Strings = Union[Sequence[str], "StringTable"]
Columns = tuple[tuple[str, ...], int, bytes]

class StringTable:
    def __len__(self) -> int: ...
    def __getitem__(self, sid: int) -> str: ...
    def intern(self, s: str) -> int: ...
    def find(self, s: Optional[str]) -> int: ...
    def tail(self, start: int) -> tuple[bytes, bytes]: ...
    def extend(self, first: int, blob: bytes, lengths: bytes) -> None: ...
    def truncate(self, size: int) -> None: ...
    def adopt(self, strings: Strings, n: int, data: bytes) -> bytes: ...

def columns_from_rows(rows: Sequence[Sequence[Any]]) -> Columns: ...
def columns_from_endpoints(endpoints: Sequence[Any]) -> Columns: ...
def endpoint_strings(strings: Strings, n: int, data: bytes) -> tuple[set[str], set[str], set[str], set[str], bool]: ...
def usable_ipv4_addresses(strings: tuple[str, ...], n: int, data: bytes) -> bool: ...
def endpoint_values(strings: Strings, n: int, data: bytes, make: Callable[..., T]) -> tuple[T, ...]: ...
def check_columns(n: int, data: bytes, limit: int) -> None: ...
def endpoint_fields(
    n: int, data: bytes, i: int
) -> tuple[int, int, int, int, int, int, int, tuple[int, ...], tuple[int, ...], tuple[int, ...]]: ...

class Identities:
    def __len__(self) -> int: ...
    def settle(self) -> None: ...

class ZoneMap:
    def __len__(self) -> int: ...
    def find(self, sid: int) -> int: ...

class Publisher:
    size: int
    unhinted: int
    node_unhinted: int
    facts_version: int
    next_order: int
    def capacity(self) -> int: ...
    def holds(self, row: int) -> bool: ...
    def rows(self) -> array: ...
    def row(self, r: int) -> tuple[int, int, int, int, int, int, int, int, int]: ...
    def zone_count(self, zone: int) -> int: ...
    def begin(self) -> None: ...
    def end(self) -> None: ...
    def take_back(
        self, ids: Identities, n: int, data: bytes, port: int, namespace: int, family: int, sources: list
    ) -> None: ...
    def put(
        self,
        ids: Identities,
        zones: ZoneMap,
        n: int,
        data: bytes,
        port: int,
        namespace: int,
        family: int,
        slice_number: int,
        sources: list,
    ) -> None: ...
    def put_one(
        self,
        ids: Identities,
        zones: ZoneMap,
        n: int,
        data: bytes,
        port: int,
        namespace: int,
        family: int,
        slice_number: int,
        e: int,
        a: int,
        sources: list,
    ) -> None: ...
    def clear(self, ids: Identities, sources: list) -> None: ...
    def log_rows(self) -> array: ...
    def touched(self) -> tuple[list[int], list[int], list[int], list[int]]: ...
    def passes(self, row: int, kind: int, arg: int, host: int) -> bool: ...
    def select(self, ids: Identities, kind: int, arg: int, host: int, ipv6: bool) -> array: ...
    def facts(self, rows: Sequence[int]) -> tuple[int, int, int]: ...
    def host_rows(self, host: int) -> array: ...
    def count_passing(self, rows: Sequence[int], kind: int, arg: int) -> int: ...
    def diff(
        self,
        ids: Identities,
        member: bytearray,
        kind: int,
        arg: int,
        host: int,
        ipv6: bool,
        full: bool,
        logged: bool,
        sources: list,
    ) -> tuple[array, array]: ...
    def sources(self, rows: Sequence[int]) -> array: ...
    def sort(self, table: StringTable, rows: Sequence[int]) -> array: ...
    def map_order(self) -> array: ...
