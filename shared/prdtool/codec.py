"""Engine.IO v4 and Socket.IO v5 packets as values, with no I/O.

Engine.IO wraps every frame: one digit for the packet type, then the payload. Socket.IO packets
travel inside Engine.IO MESSAGE packets as ``<type>[<attachments>-][<nsp>,][<ackId>][JSON]``.
The validity rules are socket.io-parser's, so a frame our server accepts is one the reference
server accepts too.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

__all__ = [
    "RESERVED_EVENTS",
    "EngineIOPacket",
    "EngineIOType",
    "InvalidPacket",
    "SocketIOPacket",
    "SocketIOType",
    "decode_engineio",
    "decode_socketio",
    "encode_engineio",
    "encode_socketio",
]


class InvalidPacket(ValueError):
    """A frame that the reference implementation would reject."""


class EngineIOType(IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


class SocketIOType(IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


# Event names a client may not emit: the reference server treats them as lifecycle hooks.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


@dataclass(frozen=True)
class EngineIOPacket:
    """One Engine.IO packet; ``data`` is text, or bytes for a ``b<base64>`` binary message."""

    type: EngineIOType
    data: str | bytes = ""


@dataclass(frozen=True)
class SocketIOPacket:
    """One Socket.IO packet. ``data`` is the decoded JSON payload, or None when absent."""

    type: SocketIOType
    namespace: str = "/"
    data: Any = None
    ack_id: int | None = None
    attachments: int = 0
    has_data: bool = field(default=False, compare=False)


def encode_engineio(packet: EngineIOPacket) -> str:
    """Encode an Engine.IO packet as the text of one WebSocket frame."""
    if isinstance(packet.data, bytes):
        if packet.type != EngineIOType.MESSAGE:
            raise InvalidPacket("only MESSAGE packets carry binary data")
        return "b" + base64.b64encode(packet.data).decode("ascii")
    return f"{int(packet.type)}{packet.data}"


def decode_engineio(frame: str) -> EngineIOPacket:
    """Decode the text of one WebSocket frame into an Engine.IO packet."""
    if not frame:
        raise InvalidPacket("empty frame")
    if frame[0] == "b":
        try:
            return EngineIOPacket(EngineIOType.MESSAGE, base64.b64decode(frame[1:], validate=True))
        except ValueError as exc:
            raise InvalidPacket("invalid base64 in binary message") from exc
    if not frame[0].isdigit() or int(frame[0]) > max(EngineIOType):
        raise InvalidPacket(f"unknown Engine.IO packet type {frame[0]!r}")
    return EngineIOPacket(EngineIOType(int(frame[0])), frame[1:])


def encode_socketio(packet: SocketIOPacket) -> str:
    """Encode a Socket.IO packet as an Engine.IO MESSAGE payload (without the leading ``4``)."""
    out = [str(int(packet.type))]
    if packet.type in (SocketIOType.BINARY_EVENT, SocketIOType.BINARY_ACK):
        out.append(f"{packet.attachments}-")
    if packet.namespace and packet.namespace != "/":
        out.append(packet.namespace + ",")
    if packet.ack_id is not None:
        out.append(str(packet.ack_id))
    if packet.data is not None:
        out.append(json.dumps(packet.data, separators=(",", ":"), ensure_ascii=False))
    return "".join(out)


def decode_socketio(payload: str) -> SocketIOPacket:
    """Decode an Engine.IO MESSAGE payload into a Socket.IO packet, enforcing socket.io-parser's rules."""
    if not payload or not payload[0].isdigit() or int(payload[0]) > max(SocketIOType):
        raise InvalidPacket(f"unknown Socket.IO packet type {payload[:1]!r}")
    ptype = SocketIOType(int(payload[0]))
    i = 1
    attachments = 0
    if ptype in (SocketIOType.BINARY_EVENT, SocketIOType.BINARY_ACK):
        dash = payload.find("-", i)
        if dash == -1 or not payload[i:dash].isdigit():
            raise InvalidPacket("illegal attachments")
        attachments = int(payload[i:dash])
        i = dash + 1
    namespace = "/"
    if i < len(payload) and payload[i] == "/":
        comma = payload.find(",", i)
        end = comma if comma != -1 else len(payload)
        namespace = payload[i:end]
        i = end + 1 if comma != -1 else end
    ack_id = None
    start = i
    while i < len(payload) and payload[i].isdigit():
        i += 1
    if i > start:
        ack_id = int(payload[start:i])
    has_data = i < len(payload)
    data = None
    if has_data:
        try:
            data = json.loads(payload[i:])
        except ValueError as exc:
            raise InvalidPacket("invalid payload") from exc
    packet = SocketIOPacket(ptype, namespace, data, ack_id, attachments, has_data)
    _check_payload(packet)
    return packet


def _check_payload(packet: SocketIOPacket) -> None:
    """socket.io-parser's ``isPayloadValid``: what each packet type may carry.

    One deliberate difference: the parser skips the check when a packet has no payload at all, so
    a bare ``2`` decodes as an event with no name; we reject EVENT, ACK and CONNECT_ERROR packets
    that carry nothing, since there is nothing to dispatch.
    """
    ptype, data = packet.type, packet.data
    if ptype == SocketIOType.CONNECT:
        ok = not packet.has_data or isinstance(data, dict)
    elif ptype == SocketIOType.DISCONNECT:
        ok = not packet.has_data
    elif ptype == SocketIOType.CONNECT_ERROR:
        ok = isinstance(data, (str, dict))
    elif ptype in (SocketIOType.EVENT, SocketIOType.BINARY_EVENT):
        ok = isinstance(data, list) and len(data) > 0 and _valid_event_name(data[0])
    else:  # ACK, BINARY_ACK
        ok = isinstance(data, list)
    if not ok:
        raise InvalidPacket(f"invalid payload for {ptype.name}")


def _valid_event_name(name: Any) -> bool:
    if isinstance(name, bool):
        return False
    if isinstance(name, str):
        return name not in RESERVED_EVENTS
    return isinstance(name, (int, float))
