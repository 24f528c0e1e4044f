"""The API server's syntax rules for the values we read.

Names, label keys and values, DNS labels and subdomains, port names,
endpoint addresses and resource quantities, as ``k8s.io/apimachinery``
(``pkg/util/validation``, ``pkg/api/validation``) and ``pkg/apis/core``
validation define them.  Each rule takes a string and returns ``None`` when
the API server accepts it, or a short phrase saying what is wrong.

The same few names (nodes, zones, namespaces, label keys) come back in
every object, so the string rules remember their recent answers.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Optional

_REMEMBERED = 1 << 16

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(_LABEL)
_DNS1123_SUBDOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DNS1035_LABEL = re.compile(r"[a-z](?:[-a-z0-9]*[a-z0-9])?")
# A label value, and the name part of a label key or qualified name.
_NAME_PART = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_PORT_NAME = re.compile(r"[-a-z0-9]+")

LABEL_MAX = 63
SUBDOMAIN_MAX = 253
PORT_NAME_MAX = 15


def _syntax(value: str, longest: int, pattern: re.Pattern, what: str) -> Optional[str]:
    if len(value) > longest:
        return f"longer than {longest} characters"
    if not pattern.fullmatch(value):
        return f"not {what}"
    return None


@lru_cache(maxsize=_REMEMBERED)
def dns1123_label(value: str) -> Optional[str]:
    """A DNS label (RFC 1123): namespaces, port names, endpoint hostnames."""
    return _syntax(
        value, LABEL_MAX, _DNS1123_LABEL, "a lowercase RFC 1123 label (a-z, 0-9 and '-', alphanumeric at both ends)"
    )


@lru_cache(maxsize=_REMEMBERED)
def dns1123_subdomain(value: str) -> Optional[str]:
    """A DNS subdomain (RFC 1123): node and EndpointSlice names."""
    return _syntax(
        value,
        SUBDOMAIN_MAX,
        _DNS1123_SUBDOMAIN,
        "a lowercase RFC 1123 subdomain (dot-separated labels of a-z, 0-9 and '-')",
    )


@lru_cache(maxsize=_REMEMBERED)
def dns1035_label(value: str) -> Optional[str]:
    """A DNS-1035 label: Service names (they become DNS names and environment variables)."""
    return _syntax(
        value, LABEL_MAX, _DNS1035_LABEL, "a lowercase RFC 1035 label (a-z, 0-9 and '-', starting with a letter)"
    )


@lru_cache(maxsize=_REMEMBERED)
def label_value(value: str) -> Optional[str]:
    """A label value (also what zone hints must be): empty, or up to 63 name characters."""
    if len(value) > LABEL_MAX:
        return f"longer than {LABEL_MAX} characters"
    if value and not _NAME_PART.fullmatch(value):
        return "not a label value (A-Z, a-z, 0-9, '-', '_' and '.', alphanumeric at both ends)"
    return None


@lru_cache(maxsize=_REMEMBERED)
def qualified_name(value: str) -> Optional[str]:
    """A label key or qualified name: ``[DNS subdomain/]name``."""
    parts = value.split("/")
    if len(parts) > 2:
        return "not a qualified name (at most one '/', between a DNS subdomain prefix and a name)"
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            return "empty prefix before '/'"
        problem = dns1123_subdomain(parts[0])
        if problem:
            return f"prefix {problem}"
    if not name:
        return "empty name"
    if len(name) > LABEL_MAX:
        return f"name part longer than {LABEL_MAX} characters"
    if not _NAME_PART.fullmatch(name):
        return "name part not made of A-Z, a-z, 0-9, '-', '_' and '.' (alphanumeric at both ends)"
    return None


_PASSED: dict[Callable, set[str]] = {}


def first_refused(values: set[str], rule: Callable[[str], Optional[str]]) -> Optional[tuple[str, str]]:
    """(value, problem) for the first of ``values`` that ``rule`` refuses, or None.

    For the names a slice repeats on every endpoint (nodes, zones): values
    that passed before are set aside with one set difference, in C, rather
    than looked up one by one."""
    passed = _PASSED.setdefault(rule, set())
    for value in values - passed:
        problem = rule(value)
        if problem:
            return value, problem
        if len(passed) >= _REMEMBERED:
            passed.clear()
        passed.add(value)
    return None


def port_name(value: str) -> Optional[str]:
    """An IANA service name, as a Service's string ``targetPort`` must be."""
    if len(value) > PORT_NAME_MAX:
        return f"longer than {PORT_NAME_MAX} characters"
    if not _PORT_NAME.fullmatch(value):
        return "not a port name (a-z, 0-9 and '-')"
    if not any("a" <= c <= "z" for c in value):
        return "a port name needs at least one letter"
    if "--" in value or value.startswith("-") or value.endswith("-"):
        return "a port name may not start or end with '-' or contain '--'"
    return None


@lru_cache(maxsize=_REMEMBERED)
def fqdn(value: str) -> Optional[str]:
    """A fully qualified domain name, for ``addressType: FQDN`` (one trailing dot allowed)."""
    name = value[:-1] if value.endswith(".") else value
    if not name:
        return "empty domain name"
    problem = dns1123_subdomain(name)
    if problem:
        return problem
    labels = name.split(".")
    if len(labels) < 2:
        return "not fully qualified (needs at least two dot-separated labels)"
    for label in labels:
        problem = dns1123_label(label)
        if problem:
            return f"label {label!r} {problem}"
    return None


# -- IP addresses ---------------------------------------------------------------
#
# Endpoint addresses (and a Service's external IPs) must parse as the
# API server's strict IP parser does (no leading zeros in IPv4 octets, no
# IPv4-mapped IPv6 form, no zone), belong to the slice's address family, and
# not be unspecified, loopback, link-local or link-local multicast.
# Non-canonical IPv6 spellings are accepted (the API server only warns).


def ip_syntax(value: str) -> Optional[str]:
    """An IP address as the strict parser reads it (cluster IPs, load-balancer IPs)."""
    return _parsed_ip(value)[1]


def endpoint_ip(value: str, family: Optional[int] = None) -> Optional[str]:
    """An endpoint address (or external IP) of IP ``family`` (4, 6, or None for either)."""
    ip, problem = _parsed_ip(value)
    if problem is not None:
        return problem
    if family is not None and ip.version != family:
        return f"not an IPv{family} address"
    if ip.is_unspecified:
        return "the unspecified address is not allowed"
    if ip.is_loopback:
        return "a loopback address is not allowed"
    if ip.is_link_local:
        return "a link-local address is not allowed"
    if _link_local_multicast(ip):
        return "a link-local multicast address is not allowed"
    return None


def _parsed_ip(value: str):
    if "%" in value:
        return None, "not an IP address (a zone is not allowed)"
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        if _sloppy_ipv4(value):
            return None, "not a valid IP address (leading zeros are not allowed)"
        return None, "not a valid IP address"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return None, "an IPv4-mapped IPv6 address is not allowed"
    return ip, None


def _sloppy_ipv4(value: str) -> bool:
    parts = value.split(".")
    return len(parts) == 4 and all(p.isdigit() and p.isascii() and int(p) < 256 for p in parts)


def _link_local_multicast(ip) -> bool:
    packed = ip.packed
    if ip.version == 4:
        return packed[:3] == b"\xe0\x00\x00"  # 224.0.0.0/24
    return packed[0] == 0xFF and packed[1] & 0x0F == 0x02  # ffX2::/16


# -- Quantities -----------------------------------------------------------------

_QUANTITY = re.compile(
    r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+)?"
)
_SCALE = {
    None: Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
# Exponents past this cannot describe a real machine, and would make Decimal
# arithmetic on hostile input slow.
_MAX_EXPONENT = 100
MILLIS_MAX = 2**63 - 1


def quantity(value) -> tuple[Optional[Decimal], Optional[str]]:
    """A resource quantity ("4", "3500m", "1.5Gi", 2): its value, or why it is not one."""
    if isinstance(value, bool):
        return None, "not a quantity"
    text = value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    match = _QUANTITY.fullmatch(text.strip())
    if match is None:
        return None, f"not a quantity: {text[:40]!r}"
    number, suffix = match.groups()
    if suffix and suffix[0] in "eE":
        exponent = int(suffix[1:])
        if abs(exponent) > _MAX_EXPONENT:
            return None, f"exponent of {text[:40]!r} out of range"
        scale = Decimal(10) ** exponent
    else:
        scale = _SCALE[suffix]
    try:
        amount = Decimal(number) * scale
    except InvalidOperation:
        return None, f"not a quantity: {text[:40]!r}"
    if amount < 0:
        return None, "must not be negative"
    return amount, None


def millis(amount: Decimal) -> int:
    """Millis of a quantity, rounded up as ``Quantity.MilliValue`` does ("1.0001" is 1001m)."""
    return int((amount * 1000).to_integral_value(rounding="ROUND_CEILING"))
