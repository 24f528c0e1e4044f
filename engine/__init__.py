"""topology-engine: which endpoints each client gets under topology-aware routing.

    from engine import Engine
    with Engine.open("cluster-log") as eng:
        sel = eng.endpoints("shop/web", 80, node="node-a1")
        print(sel.rule, [e.address for e in sel.endpoints])
"""
from .api import Engine, IngestReport
from .errors import EngineError, InputError, LogCorruption, LogError, LookupFailed, RecordError
from .kernels import IMPLEMENTATION
from .values import SelectedEndpoint, Selection

__all__ = [
    "Engine", "IngestReport", "Selection", "SelectedEndpoint", "IMPLEMENTATION",
    "EngineError", "InputError", "LogError", "LogCorruption", "LookupFailed", "RecordError",
]
