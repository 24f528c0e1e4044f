"""topology-engine: which endpoints each client gets under topology-aware routing.

from engine import Engine
with Engine.open("cluster-log") as eng:
    sel = eng.endpoints("shop/web", 80, node="node-a1")
    print(sel.rule, [e.address for e in sel.endpoints])
"""

from importlib import metadata as _metadata

from .api import Engine, IngestReport
from .errors import (
    ArgumentError,
    EngineError,
    InputError,
    LogCorruption,
    LogError,
    LookupFailed,
    Overflow,
    RecordError,
)
from .kernels import IMPLEMENTATION
from .values import SelectedEndpoint, Selection

try:
    __version__ = _metadata.version("topology-engine")
except _metadata.PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Engine",
    "IngestReport",
    "Selection",
    "SelectedEndpoint",
    "IMPLEMENTATION",
    "__version__",
    "EngineError",
    "ArgumentError",
    "InputError",
    "LogError",
    "LogCorruption",
    "LookupFailed",
    "Overflow",
    "RecordError",
]
