"""What callers may pass: service names, ports, protocols, policies, node
and zone names.

One place checks them, so the API, ``--batch`` lines and the command line
reject the same things with the same words.  Every check raises
``ArgumentError`` naming the argument; names the cluster does not have raise
``LookupFailed`` (``unknown_name``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Optional

from .errors import ArgumentError, LookupFailed
from .policies import POLICIES

# Service port protocols, as Kubernetes spells them; a port without one is TCP.
PROTOCOLS = ("TCP", "UDP", "SCTP")
DEFAULT_PROTOCOL = "TCP"
TARGET_SYNTAX = "NAMESPACE/NAME:PORT[/PROTOCOL]"


def _kind(value: object) -> str:
    return type(value).__name__


def service_key(value: object, argument: str = "service") -> str:
    """``"namespace/name"``."""
    if not isinstance(value, str) or value.count("/") != 1 or not all(value.split("/")):
        raise ArgumentError(f'expected "namespace/name", got {_kind(value)} {value!r}', argument=argument)
    return value


def port_number(value: object, argument: str = "port") -> int:
    """A port number, 1..65535 (an int: ``"80"`` is refused, not guessed at)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ArgumentError(f"expected an integer 1..65535, got {_kind(value)} {value!r}", argument=argument)
    if not 0 < value <= 65535:
        raise ArgumentError(f"{value} is outside 1..65535", argument=argument)
    return value


def protocol(value: object, argument: str = "protocol") -> str:
    """``TCP``, ``UDP`` or ``SCTP``, in any case; returned as Kubernetes spells it."""
    found = value.upper() if isinstance(value, str) else None
    if found not in PROTOCOLS:
        raise ArgumentError(f"expected one of {', '.join(PROTOCOLS)}, got {_kind(value)} {value!r}", argument=argument)
    return found


def policy(value: object, argument: str = "policy") -> str:
    if value not in POLICIES:
        raise ArgumentError(f"unknown policy {value!r} (known: {', '.join(POLICIES)})", argument=argument)
    return value


def optional_name(value: object, argument: str) -> Optional[str]:
    """A node, zone or hostname: a non-empty string, or None."""
    if value is not None and (not isinstance(value, str) or not value):
        raise ArgumentError(
            f"expected a name (a non-empty string) or None, got {_kind(value)} {value!r}", argument=argument
        )
    return value


def service_port(text: str) -> tuple[str, int, str]:
    """``NAMESPACE/NAME:PORT[/PROTOCOL]`` -> (``"namespace/name"``, port, protocol).

    Nothing else may follow the port: ``shop/web:80:90`` is an error, not a
    service named ``shop/web:80``.
    """
    service, sep, rest = text.partition(":")
    number, slash, proto = rest.partition("/")
    if not sep or not number.isdigit() or (slash and not proto):
        raise ArgumentError(f"expected {TARGET_SYNTAX}, got {text!r}")
    try:
        return service_key(service), port_number(int(number)), protocol(proto) if slash else DEFAULT_PROTOCOL
    except ArgumentError as exc:
        raise ArgumentError(f"{text!r}: {exc}") from None


def unknown_name(kind: str, name: str, known: Iterable[str], argument: Optional[str] = None) -> LookupFailed:
    """The error for a ``kind`` (node, zone, ...) the cluster does not have, with
    the closest known names (or all of them, when there are few)."""
    names = sorted(known)
    close = sorted(difflib.get_close_matches(name, names, n=3, cutoff=0.6))
    if close:
        hint = f"did you mean {', '.join(close)}?"
    elif not names:
        hint = f"the cluster has no {kind}s"
    elif len(names) <= 8:
        hint = f"{kind}s: {', '.join(names)}"
    else:
        hint = f"{len(names)} {kind}s, e.g. {', '.join(names[:5])}"
    return LookupFailed(f"no {kind} {name} ({hint})", argument=argument)
