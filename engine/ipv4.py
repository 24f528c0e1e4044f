"""IPv4 addresses by their text: the pattern of a strict dotted quad, shared
by the core's pure twin (the fast check of a slice's addresses) and
kube-proxy's printing of addresses."""

import re

# Four decimal parts of at most 255 without leading zeros: what strict
# parsers (inet_pton, Go's netip.ParseAddr) read as IPv4, and exactly the
# text an address printed from its value has.
STRICT_DOTTED_QUAD = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
)
