"""Endpoint-selection policies: pure rules over the cluster state and index.

* ``linkerd`` (default): Linkerd's destination controller, exactly.
* ``linkerd+nodes``: ``linkerd`` plus node hints (PreferSameNode), opt-in.
* ``kube-proxy``: kube-proxy's choice for cluster-IP traffic from a node.
"""

from . import kube_proxy, linkerd

POLICIES = ("linkerd", "linkerd+nodes", "kube-proxy")
DEFAULT_POLICY = "linkerd"


def rule_text(policy: str, rule: str) -> str:
    """What ``rule`` means under ``policy``, for people."""
    rules = kube_proxy.RULES if policy == "kube-proxy" else linkerd.RULES
    return rules[rule]
