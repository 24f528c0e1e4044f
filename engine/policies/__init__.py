"""Endpoint-selection policies: pure rules over the cluster state and index.

* ``linkerd`` (default): Linkerd's destination controller, exactly.
* ``linkerd+nodes``: ``linkerd`` plus node hints (PreferSameNode), opt-in.
"""
POLICIES = ("linkerd", "linkerd+nodes")
DEFAULT_POLICY = "linkerd"
