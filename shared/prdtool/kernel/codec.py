"""Engine.IO v4 and Socket.IO v5 packets as values, with no I/O.

Engine.IO wraps every frame: one digit for the packet type, then the payload. Socket.IO packets
travel inside Engine.IO MESSAGE packets as ``<type>[<attachments>-][<nsp>,][<ackId>][JSON]``.
The validity rules are socket.io-parser's, so a frame our server accepts is one the reference
server accepts too.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import accumulate
from typing import Any, NoReturn

__all__ = [
    "MAX_ACK_ID",
    "MAX_ATTACHMENTS",
    "MAX_JSON_DEPTH",
    "RESERVED_EVENTS",
    "EngineIOPacket",
    "EngineIOType",
    "InvalidPacket",
    "SocketIOPacket",
    "SocketIOType",
    "decode_engineio",
    "decode_json",
    "decode_socketio",
    "encode_engineio",
    "encode_json",
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
# Deeper than any payload of the API, and far below the depth at which json.loads runs out of stack.
MAX_JSON_DEPTH = 32
# JavaScript's Number.MAX_SAFE_INTEGER: clients count ack ids up from 0 in a Number, and an id past
# it could not be answered with the id the client sent.
MAX_ACK_ID = 2**53 - 1
# Each attachment is announced by a placeholder object of some 30 characters, so no frame within
# API Gateway's 32 KB can refer to more (and binary frames never cross it anyway).
MAX_ATTACHMENTS = 1000

_ENGINEIO_TYPES = {str(int(t)): t for t in EngineIOType}
_SOCKETIO_TYPES = {str(int(t)): t for t in SocketIOType}
# ASCII digits only: str.isdigit() also takes superscripts, which int() refuses, and the digits of
# other scripts, which int() silently reads as numbers ("٤" is 4).
_ACK_DIGITS = re.compile(r"[0-9]+")
# What is not a bracket that nests: JSON strings, escapes included, and runs of anything else. Runs of
# plain characters are matched whole, and a string's closing quote is optional so that the pattern
# never fails: a failed match would be retried from every later quote (quadratic time on
# `"\\"\\"\\"...`). A string left open runs to the end, past where json.loads stops anyway.
_NOT_NESTING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[^\[\]{}"]+', re.DOTALL)
_NESTING = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE = re.compile(r"[\ud800-\udfff]")


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
    ptype = _ENGINEIO_TYPES.get(frame[0])
    if ptype is None:
        raise InvalidPacket(f"unknown Engine.IO packet type {frame[0]!r}")
    return EngineIOPacket(ptype, frame[1:])


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
        out.append(encode_json(packet.data))
    return "".join(out)


def decode_socketio(payload: str) -> SocketIOPacket:
    """Decode an Engine.IO MESSAGE payload into a Socket.IO packet, enforcing socket.io-parser's rules."""
    ptype = _SOCKETIO_TYPES.get(payload[:1])
    if ptype is None:
        raise InvalidPacket(f"unknown Socket.IO packet type {payload[:1]!r}")
    i = 1
    attachments = 0
    if ptype in (SocketIOType.BINARY_EVENT, SocketIOType.BINARY_ACK):
        dash = payload.find("-")  # the first one: the JSON after it may hold more
        if dash == -1:
            raise InvalidPacket("illegal attachments")
        attachments = _bounded_int(payload[1:dash], MAX_ATTACHMENTS, "attachments")
        i = dash + 1
    namespace = "/"
    if payload[i : i + 1] == "/":  # a namespace runs to the first comma, or to the end
        comma = payload.find(",", i)
        end = len(payload) if comma == -1 else comma
        namespace, i = payload[i:end], end + 1
    ack_id = None
    digits = _ACK_DIGITS.match(payload, i)
    if digits:
        ack_id = _bounded_int(digits.group(), MAX_ACK_ID, "ack id")
        i = digits.end()
    has_data = i < len(payload)
    data = decode_json(payload[i:]) if has_data else None
    packet = SocketIOPacket(ptype, namespace, data, ack_id, attachments, has_data)
    _check_payload(packet)
    return packet


def decode_json(text: str) -> Any:
    """Parse JSON text, refusing (with InvalidPacket) what is not JSON, what nests deeper than
    ``MAX_JSON_DEPTH`` and numbers that are not finite (``NaN``, ``Infinity``, ``1e400``), which no
    JavaScript client could be sent back."""
    # A text with few brackets cannot nest deeply: the scan runs only for the rare one with many.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _too_deep(text):
        raise InvalidPacket(f"JSON nested deeper than {MAX_JSON_DEPTH}")
    try:
        return json.loads(text, parse_constant=_not_finite, parse_float=_finite_float)
    except InvalidPacket:
        raise
    except ValueError as exc:  # JSONDecodeError, and ints past Python's 4,300 digits
        raise InvalidPacket("invalid JSON") from exc


def encode_json(value: Any) -> str:
    """Compact JSON that keeps non-ASCII text as it is, except lone surrogates (a string may hold
    one, decoded from a client's ``\\udfff``), which come out as ``\\u`` escapes: the result always
    encodes as UTF-8."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if text.isascii():  # most frames, and O(1): CPython knows whether a string is ASCII
        return text
    # Outside its strings JSON is ASCII, so every surrogate is inside one, where an escape means it.
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _bounded_int(digits: str, limit: int, what: str) -> int:
    """ASCII digits as an int no larger than ``limit``; the length is checked before int() runs."""
    if not (digits.isascii() and digits.isdigit()) or len(digits) > len(str(limit)):
        raise InvalidPacket(f"illegal {what}")
    value = int(digits)
    if value > limit:
        raise InvalidPacket(f"illegal {what}")
    return value


def _too_deep(text: str) -> bool:
    """Whether brackets outside JSON strings nest deeper than ``MAX_JSON_DEPTH``.

    Where the text is not JSON the count may be off, but only past the point where json.loads
    stops with an error anyway: it never descends further than this count. The brackets are
    summed in C: under a millisecond for a 32 KB frame of 400 objects, linear whatever the text.
    """
    brackets = _NOT_NESTING.sub("", text)
    return max(accumulate(map(_NESTING.__getitem__, brackets), initial=0)) > MAX_JSON_DEPTH


def _not_finite(text: str) -> NoReturn:
    """json.loads reads NaN, Infinity and -Infinity, which are not JSON."""
    raise InvalidPacket(f"{text} is not a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 reads as inf
        raise InvalidPacket(f"{text} is not a finite number")
    return value


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
