"""Exceptions the engine raises.  Each carries a one-line message that names
where the problem is, because the CLI prints exactly that line and exits 1
(2 for an ``ArgumentError``: bad usage)."""

from __future__ import annotations

from typing import Optional


class EngineError(Exception):
    """Base class: every error the CLI reports as one line.

    ``argument`` names the API argument the message is about, when there is
    one; the message is then ``"ARGUMENT: DETAIL"`` and ``detail`` holds the
    rest, so the command line can say ``--price-per-gb: ...`` for
    ``price_per_gb``.
    """

    def __init__(self, message: str, *, argument: Optional[str] = None):
        super().__init__(f"{argument}: {message}" if argument else message)
        self.argument = argument
        self.detail = message


class ArgumentError(EngineError):
    """An argument of the wrong type or with a value the engine does not know
    (a port given as a string, an unknown policy or protocol)."""


class InputError(EngineError):
    """Kubernetes input that cannot be turned into events (file, object, field)."""


class RecordError(EngineError):
    """An event record whose shape or types are wrong."""


class LogError(EngineError):
    """The event log cannot be opened, read or written as asked."""


class LogCorruption(LogError):
    """Damage in the middle of the log: valid frames follow a bad one."""


class LookupFailed(EngineError):
    """A query names a service, port, node or zone the cluster does not have."""


class Overflow(EngineError):
    """An async subscriber fell further behind than its queue allows."""
