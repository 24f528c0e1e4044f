"""Exceptions the engine raises.  Each carries a one-line message that names
where the problem is, because the CLI prints exactly that line and exits 1."""


class EngineError(Exception):
    """Base class: every error the CLI reports as one line with exit code 1."""


class InputError(EngineError):
    """Kubernetes input that cannot be turned into events (file, object, field)."""


class RecordError(EngineError):
    """An event record whose shape or types are wrong."""


class LogError(EngineError):
    """The event log cannot be opened, read or written as asked."""


class LogCorruption(LogError):
    """Damage in the middle of the log: valid frames follow a bad one."""


class LookupFailed(EngineError):
    """A query names a service or port the cluster does not have."""
