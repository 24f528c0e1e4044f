"""The core in use: compiled (engine._fastsel) unless ENGINE_NO_EXTENSIONS=1
asks for the pure-Python twin, or the compiled module was not built.
``IMPLEMENTATION`` says which one loaded, so tests and benchmarks can tell;
``for_implementation`` gives either by name, for code that runs both."""

import os
from types import ModuleType
from typing import TYPE_CHECKING

from . import _fastsel_py


def for_implementation(name: str) -> ModuleType:
    if name == "pure":
        return _fastsel_py
    from . import _fastsel

    return _fastsel


if TYPE_CHECKING:
    # Type checkers read the compiled module's stub (engine/_fastsel.pyi),
    # whichever core loads: the twin has the same signatures, which
    # tests/test_kernel_stub.py holds both to.
    from . import _fastsel as _impl

    IMPLEMENTATION: str
elif os.environ.get("ENGINE_NO_EXTENSIONS") == "1":
    _impl = _fastsel_py
    IMPLEMENTATION = "pure"
else:
    try:
        _impl = for_implementation("compiled")
        IMPLEMENTATION = "compiled"
    except ImportError:
        _impl = _fastsel_py
        IMPLEMENTATION = "pure"

RESERVED_STRINGS = _impl.RESERVED_STRINGS
StringTable = _impl.StringTable
Identities = _impl.Identities
ZoneMap = _impl.ZoneMap
Publisher = _impl.Publisher
columns_from_rows = _impl.columns_from_rows
columns_from_endpoints = _impl.columns_from_endpoints
endpoint_strings = _impl.endpoint_strings
usable_ipv4_addresses = _impl.usable_ipv4_addresses
check_columns = _impl.check_columns
endpoint_fields = _impl.endpoint_fields
endpoint_values = _impl.endpoint_values
