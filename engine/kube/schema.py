"""The Kubernetes objects we read, declared once as msgspec types.

The types say what the API server's decoder and its declarative limits say:
the JSON type of every field, the enumerations, the integer ranges of the
wire types and the list limits of the validation code (1000 endpoints, 100
addresses, 8 hints, ...).  msgspec checks all of that while it decodes, from
JSON bytes (``msgspec.json.Decoder``) or from parsed values (YAML, dicts an
embedding program hands over, ``msgspec.convert``).  The rules msgspec cannot
state as a type (name and label syntax, address syntax, uniqueness, rules
that join several fields) are in ``rules.py`` and ``convert.py``.

Every field the API server treats as optional is ``Optional`` with a
``None`` default: Go decodes ``null`` as "not set", and so do we.  Fields we
neither read nor validate are not declared; msgspec skips them.

Structs are declared ``gc=False``: they hold only strings, numbers, lists and
dicts of those, never a cycle, so the cyclic collector need not track the
millions of them a large input makes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union, get_args

from msgspec import UNSET, Meta, Struct

# API-server limits (pkg/apis/discovery/validation): larger lists are refused.
MAX_ENDPOINTS = 1000
MAX_ADDRESSES = 100
MAX_SLICE_PORTS = 20000
MAX_HINTS = 8
MAX_TOPOLOGY_LABELS = 16

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# The enumerations the API server accepts.
WatchType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]
Protocol = Literal["TCP", "UDP", "SCTP"]
AddressType = Literal["IPv4", "IPv6", "FQDN"]
ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]
TrafficPolicy = Literal["Cluster", "Local"]
# PreferClose is the older name of PreferSameZone; PreferSameNode is GA since 1.35.
TrafficDistribution = Literal["PreferClose", "PreferSameZone", "PreferSameNode"]

Int32 = Annotated[int, Meta(ge=INT32_MIN, le=INT32_MAX)]
PortNumber = Annotated[int, Meta(ge=1, le=65535)]
# 0 asks for the default (the port itself for targetPort, an allocated one for nodePort).
OptionalPortNumber = Annotated[int, Meta(ge=0, le=65535)]
# A resource quantity: kubectl prints strings; YAML and JSON may carry numbers.
Quantity = Union[str, int, float]


class ObjectMeta(Struct, gc=False):
    name: Optional[str] = None
    generateName: Optional[str] = None
    namespace: Optional[str] = None
    labels: Optional[dict[str, str]] = None
    annotations: Optional[dict[str, str]] = None


# -- Node ---------------------------------------------------------------------


class NodeCondition(Struct, gc=False):
    type: Optional[str] = None
    status: Optional[str] = None


class NodeStatus(Struct, gc=False):
    allocatable: Optional[dict[str, Quantity]] = None
    capacity: Optional[dict[str, Quantity]] = None
    conditions: Optional[list[NodeCondition]] = None


class Node(Struct, gc=False, tag_field="kind", tag="Node"):
    apiVersion: Optional[str] = None
    metadata: Optional[ObjectMeta] = None
    status: Optional[NodeStatus] = None


# -- Service ------------------------------------------------------------------


class ServicePort(Struct, gc=False, kw_only=True):
    name: Optional[str] = None
    protocol: Optional[Protocol] = None
    appProtocol: Optional[str] = None
    port: PortNumber
    targetPort: Optional[Union[OptionalPortNumber, str]] = None
    nodePort: Optional[OptionalPortNumber] = None


class ServiceSpec(Struct, gc=False):
    type: Optional[ServiceType] = None
    clusterIP: Optional[str] = None
    ports: Optional[list[ServicePort]] = None
    externalIPs: Optional[list[str]] = None
    externalName: Optional[str] = None
    internalTrafficPolicy: Optional[TrafficPolicy] = None
    externalTrafficPolicy: Optional[TrafficPolicy] = None
    trafficDistribution: Optional[TrafficDistribution] = None


class LoadBalancerIngress(Struct, gc=False):
    ip: Optional[str] = None
    hostname: Optional[str] = None


class LoadBalancerStatus(Struct, gc=False):
    ingress: Optional[list[LoadBalancerIngress]] = None


class ServiceStatus(Struct, gc=False):
    loadBalancer: Optional[LoadBalancerStatus] = None


class Service(Struct, gc=False, tag_field="kind", tag="Service"):
    apiVersion: Optional[str] = None
    metadata: Optional[ObjectMeta] = None
    spec: Optional[ServiceSpec] = None
    status: Optional[ServiceStatus] = None


# -- EndpointSlice ------------------------------------------------------------


class EndpointConditions(Struct, gc=False):
    ready: Optional[bool] = None
    serving: Optional[bool] = None
    terminating: Optional[bool] = None


class ObjectReference(Struct, gc=False):
    kind: Optional[str] = None
    namespace: Optional[str] = None
    name: Optional[str] = None


class HintName(Struct, gc=False):
    name: str = ""


HintList = Annotated[list[HintName], Meta(max_length=MAX_HINTS)]


class EndpointHints(Struct, gc=False):
    forZones: Optional[HintList] = None
    forNodes: Optional[HintList] = None


class Endpoint(Struct, gc=False, kw_only=True):
    addresses: Annotated[list[str], Meta(min_length=1, max_length=MAX_ADDRESSES)]
    conditions: Optional[EndpointConditions] = None
    hostname: Optional[str] = None
    targetRef: Optional[ObjectReference] = None
    nodeName: Optional[str] = None
    zone: Optional[str] = None
    hints: Optional[EndpointHints] = None
    # discovery.k8s.io/v1beta1 only: zone (and, by convention, the node) as topology labels.
    topology: Optional[Annotated[dict[str, str], Meta(max_length=MAX_TOPOLOGY_LABELS)]] = None


class EndpointPort(Struct, gc=False):
    name: Optional[str] = None
    protocol: Optional[Protocol] = None
    appProtocol: Optional[str] = None
    # The API server checks no range here, only the wire type.
    port: Optional[Int32] = None


class EndpointSlice(Struct, gc=False, tag_field="kind", tag="EndpointSlice"):
    apiVersion: Optional[str] = None
    metadata: Optional[ObjectMeta] = None
    addressType: Optional[AddressType] = None
    endpoints: Optional[Annotated[list[Endpoint], Meta(max_length=MAX_ENDPOINTS)]] = None
    ports: Optional[Annotated[list[EndpointPort], Meta(max_length=MAX_SLICE_PORTS)]] = None


# -- Lists and watch events ---------------------------------------------------

KubeObject = Union[Node, Service, EndpointSlice]


class List(Struct, gc=False, tag_field="kind", tag="List"):
    apiVersion: Optional[str] = None
    items: Optional[list[KubeObject]] = None


# Lists from the API server itself leave the item kind out.
class NodeList(Struct, gc=False, tag_field="kind", tag="NodeList"):
    apiVersion: Optional[str] = None
    items: Optional[list[Node]] = None


class ServiceList(Struct, gc=False, tag_field="kind", tag="ServiceList"):
    apiVersion: Optional[str] = None
    items: Optional[list[Service]] = None


class EndpointSliceList(Struct, gc=False, tag_field="kind", tag="EndpointSliceList"):
    apiVersion: Optional[str] = None
    items: Optional[list[EndpointSlice]] = None


class WatchEvent(Struct, gc=False):
    type: WatchType
    object: KubeObject
    # A watch event has no kind: a document with one (even null) is read as an object.
    kind: Any = UNSET


Document = Union[Node, Service, EndpointSlice, List, NodeList, ServiceList, EndpointSliceList]

# What we model: kind -> (type, the apiVersions it is served under).
MODELED = {
    "Node": (Node, ("v1",)),
    "Service": (Service, ("v1",)),
    "EndpointSlice": (EndpointSlice, ("discovery.k8s.io/v1", "discovery.k8s.io/v1beta1")),
}
LIST_KINDS = {"List": List, "NodeList": NodeList, "ServiceList": ServiceList, "EndpointSliceList": EndpointSliceList}

# Enumerated fields by name, for error messages that list what is accepted.
ENUMS = {
    "protocol": get_args(Protocol),
    "addressType": get_args(AddressType),
    "type": get_args(ServiceType),
    "internalTrafficPolicy": get_args(TrafficPolicy),
    "externalTrafficPolicy": get_args(TrafficPolicy),
    "trafficDistribution": get_args(TrafficDistribution),
}
WATCH_TYPES = get_args(WatchType)
