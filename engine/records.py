"""Records: events as the log stores them, msgpack arrays led by a type code.

Codes are part of the log format and never change meaning; a new layout
takes a new code, and old codes keep being read.

====  ===========================================================================
code  record
====  ===========================================================================
1     NodeUpserted ``[1, name, zone, cpu_millis, ready, control_plane]``
2     NodeDeleted ``[2, name]``
3     ServiceUpserted ``[3, namespace, name, ports, internal_traffic_policy,
      external_traffic_policy, type, external_addresses, traffic_distribution,
      topology_mode]``, a port being ``[name, port, protocol, target_port, node_port]``
4     ServiceDeleted ``[4, namespace, name]``
5     SliceUpserted with nested endpoints (written by version 0.1; read only):
      ``[5, namespace, name, service, address_type, ports, [endpoint, ...]]``, a port
      ``[name, port, protocol]``, an endpoint ``[addresses, ready, serving,
      terminating, node, zone, hostname, target_kind, target_namespace,
      target_name, for_zones, for_nodes]``
6     SliceDeleted ``[6, namespace, name, service]``
7     SliceUpserted with columns: ``[7, namespace, name, service, address_type,
      ports, strings, n, columns]``: ``columns`` is the endpoint layout of
      engine/_fastsel_py.py as little-endian int32 (bin), its ids indexing the
      log's string table; ``strings`` is null or ``[first_id, utf8, lengths]``,
      the strings this record adds to the table (their UTF-8 bytes back to
      back, and their lengths as little-endian uint32).
====  ===========================================================================

The string table is the log's dictionary: it grows only by the strings
records add, in log order, so reading the log from the start (or from a
snapshot, which carries the table) rebuilds it exactly.  A record read
twice (a reader that stopped and starts again) finds its strings already
there and checks they are the same.
"""

from __future__ import annotations

import sys
from array import array
from typing import Optional, Union

import attrs

from . import kernels
from .errors import RecordError
from .events import (
    EndpointColumns,
    Event,
    NodeDeleted,
    NodeUpserted,
    ServiceDeleted,
    ServicePort,
    ServiceUpserted,
    SliceDeleted,
    SlicePort,
    SliceUpserted,
)

NODE_UPSERTED, NODE_DELETED, SERVICE_UPSERTED, SERVICE_DELETED = 1, 2, 3, 4
SLICE_UPSERTED_NESTED, SLICE_DELETED, SLICE_UPSERTED = 5, 6, 7
_BIG_ENDIAN = sys.byteorder == "big"


def _little_endian(data: bytes) -> bytes:
    """Column words as stored (little-endian) from native order, or back."""
    if not _BIG_ENDIAN:
        return data
    words = array("i")
    words.frombytes(data)
    words.byteswap()
    return words.tobytes()


class RecordCodec:
    """Encodes events into records and decodes them, keeping the string table in step."""

    def __init__(self, table) -> None:
        self.table = table
        # Slices of a service, and often of many, declare the same ports and
        # live in the same namespace: one value each, shared, not one per slice.
        self._shared: dict = {}

    def _share(self, value):
        return self._shared.setdefault(value, value)

    def adopt(self, event: Event) -> Event:
        """``event`` with a slice's string ids made the table's (new strings are interned)."""
        if type(event) is not SliceUpserted or event.endpoints.strings is self.table:
            return event
        cols = event.endpoints
        data = self.table.adopt(cols.strings, cols.n, cols.data)
        return SliceUpserted(
            self._share(event.namespace),
            event.name,
            self._share(event.service),
            self._share(event.address_type),
            self._share(event.ports),
            EndpointColumns(self.table, cols.n, data),
        )

    def to_log(self, event: Event) -> tuple[Event, list]:
        """``event`` adopted, and its record as the log stores it (carrying
        the strings adopting it added to the table)."""
        first_new = len(self.table)
        event = self.adopt(event)
        return event, self.encode(event, first_new)

    def encode(self, event: Event, first_new: Optional[int] = None) -> list:
        """The record of an adopted ``event``.  With ``first_new``, a slice
        record also carries the table's strings from that id on (those its
        adoption added), as records in the log must; without, it carries
        none (a snapshot stores the table whole)."""
        if type(event) is SliceUpserted:
            cols = event.endpoints
            if cols.strings is not self.table:
                raise TypeError("encode: the slice is not adopted into this table")
            strings = None
            if first_new is not None and first_new < len(self.table):
                strings = [first_new, *self.table.tail(first_new)]
            return [
                SLICE_UPSERTED,
                event.namespace,
                event.name,
                event.service,
                event.address_type,
                [[p.name, p.port, p.protocol] for p in event.ports],
                strings,
                cols.n,
                _little_endian(cols.data),
            ]
        if type(event) is ServiceUpserted:
            return [
                SERVICE_UPSERTED,
                event.namespace,
                event.name,
                [[p.name, p.port, p.protocol, p.target_port, p.node_port] for p in event.ports],
                event.internal_traffic_policy,
                event.external_traffic_policy,
                event.type,
                event.external_addresses,
                event.traffic_distribution,
                event.topology_mode,
            ]
        code = _SIMPLE_CODES.get(type(event))
        if code is None:
            raise TypeError(f"not an event: {event!r}")
        return [code, *attrs.astuple(event, recurse=False)]

    def decode(self, record) -> Event:
        """The event of one record; RecordError on any shape or type mismatch.

        Records come from disk, so nothing is trusted: a log written by a
        newer version, or damaged in a way its checksum missed, must not
        become a silently wrong event (nor an index past a column's end).
        """
        try:
            code = record[0]
            if code == SLICE_UPSERTED:
                return self._slice(record)
            if code == SLICE_UPSERTED_NESTED:
                _, ns, name, service, address_type, ports, endpoints = record
                return self.adopt(
                    SliceUpserted(
                        _str(ns),
                        _str(name),
                        _opt_str(service),
                        _str(address_type),
                        _slice_ports(ports),
                        EndpointColumns.from_rows(endpoints),
                    )
                )
            if code == SERVICE_UPSERTED:
                _, ns, name, ports, itp, etp, svc_type, external, td, mode = record
                share = self._share
                return ServiceUpserted(
                    share(_str(ns)),
                    _str(name),
                    share(
                        tuple(
                            ServicePort(_str(n), _int(p), _str(proto), _port_ref(tp), _int(np_))
                            for n, p, proto, tp, np_ in ports
                        )
                    ),
                    share(_str(itp)),
                    share(_str(etp)),
                    share(_str(svc_type)),
                    _bool(external),
                    _opt_str(td),
                    _opt_str(mode),
                )
            if code == NODE_UPSERTED:
                _, name, zone, cpu, ready, control_plane = record
                return NodeUpserted(_str(name), _opt_str(zone), _int(cpu), _bool(ready), _bool(control_plane))
            if code == SLICE_DELETED:
                _, ns, name, service = record
                return SliceDeleted(_str(ns), _str(name), _opt_str(service))
            if code == SERVICE_DELETED:
                _, ns, name = record
                return ServiceDeleted(_str(ns), _str(name))
            if code == NODE_DELETED:
                _, name = record
                return NodeDeleted(_str(name))
        except RecordError:
            raise
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise RecordError(f"malformed event record: {exc}") from None
        raise RecordError(f"unknown event record type {code!r}")

    def _slice(self, record) -> SliceUpserted:
        _, ns, name, service, address_type, ports, strings, n, data = record
        if type(n) is not int or type(data) is not bytes:
            raise RecordError("slice record: endpoint count or columns of the wrong type")
        table = self.table
        added = 0
        if strings is not None:
            first, blob, lengths = strings
            if type(first) is not int or type(blob) is not bytes or type(lengths) is not bytes:
                raise RecordError("slice record: string table entries of the wrong type")
            if first > len(table):
                raise RecordError(
                    f"slice record adds strings from id {first}, "
                    f"but the string table holds {len(table)}: records are missing before it"
                )
            added = first + len(lengths) // 4 - len(table)
        data = _little_endian(data)
        kernels.check_columns(n, data, len(table) + max(added, 0))
        if strings is not None:
            table.extend(first, blob, lengths)
        share = self._share
        return SliceUpserted(
            share(_str(ns)),
            _str(name),
            share(_opt_str(service)),
            share(_str(address_type)),
            share(_slice_ports(ports)),
            EndpointColumns(table, n, data),
        )


def subject(record) -> tuple[str, str]:
    """What a record is about, from its leading fields alone (no string
    table): ``("node", name)``, ``("service", "namespace/name")`` for a
    Service or a slice of one, ``("slice", "namespace/name")`` for a slice of
    no service.  For reports on records that cannot be decoded in order,
    such as those a repair cuts after a damaged frame.  RecordError if the
    record has no such fields."""
    try:
        code = record[0]
        if code in (NODE_UPSERTED, NODE_DELETED):
            return "node", _str(record[1])
        if code in (SERVICE_UPSERTED, SERVICE_DELETED):
            return "service", f"{_str(record[1])}/{_str(record[2])}"
        if code in (SLICE_UPSERTED, SLICE_UPSERTED_NESTED, SLICE_DELETED):
            namespace, service = _str(record[1]), _opt_str(record[3])
            if service is None:
                return "slice", f"{namespace}/{_str(record[2])}"
            return "service", f"{namespace}/{service}"
    except (TypeError, KeyError, IndexError) as exc:
        raise RecordError(f"malformed event record: {exc}") from None
    raise RecordError(f"unknown event record type {code!r}")


_SIMPLE_CODES = {
    NodeUpserted: NODE_UPSERTED,
    NodeDeleted: NODE_DELETED,
    ServiceDeleted: SERVICE_DELETED,
    SliceDeleted: SLICE_DELETED,
}


def _slice_ports(ports) -> tuple[SlicePort, ...]:
    return tuple(SlicePort(_str(n), _opt_int(p), _str(proto)) for n, p, proto in ports)


def _str(v) -> str:
    if type(v) is not str:
        raise RecordError(f"expected a string, found {type(v).__name__}")
    return v


def _opt_str(v) -> Optional[str]:
    return None if v is None else _str(v)


def _int(v) -> int:
    if type(v) is not int:
        raise RecordError(f"expected an integer, found {type(v).__name__}")
    return v


def _opt_int(v) -> Optional[int]:
    return None if v is None else _int(v)


def _bool(v) -> bool:
    if type(v) is not bool:
        raise RecordError(f"expected a boolean, found {type(v).__name__}")
    return v


def _port_ref(v) -> Union[int, str, None]:
    if v is None or type(v) in (int, str):
        return v
    raise RecordError(f"expected a port number or name, found {type(v).__name__}")
