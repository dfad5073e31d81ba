"""The codec against the wire strings of the Engine.IO v4 and Socket.IO v5 protocol specs,
and against python-socketio's own packet class as a second reference."""

from __future__ import annotations

import pytest
from socketio.packet import Packet as ReferencePacket

from prdtool.codec import (
    EngineIOPacket,
    EngineIOType,
    InvalidPacket,
    SocketIOPacket,
    SocketIOType,
    decode_engineio,
    decode_socketio,
    encode_engineio,
    encode_socketio,
)

OPEN = (
    '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,'
    '"maxPayload":1000000}'
)


@pytest.mark.parametrize(
    ("wire", "packet"),
    [
        ("0" + OPEN, EngineIOPacket(EngineIOType.OPEN, OPEN)),
        ("1", EngineIOPacket(EngineIOType.CLOSE)),
        ("2", EngineIOPacket(EngineIOType.PING)),
        ("3", EngineIOPacket(EngineIOType.PONG)),
        ("2probe", EngineIOPacket(EngineIOType.PING, "probe")),
        ("3probe", EngineIOPacket(EngineIOType.PONG, "probe")),
        ("4hello", EngineIOPacket(EngineIOType.MESSAGE, "hello")),
        ("5", EngineIOPacket(EngineIOType.UPGRADE)),
        ("6", EngineIOPacket(EngineIOType.NOOP)),
        ("bAQIDBA==", EngineIOPacket(EngineIOType.MESSAGE, b"\x01\x02\x03\x04")),
    ],
)
def test_engineio_wire_examples_round_trip(wire: str, packet: EngineIOPacket) -> None:
    assert decode_engineio(wire) == packet
    assert encode_engineio(packet) == wire


@pytest.mark.parametrize("wire", ["", "7", "x", "bnot base64!"])
def test_engineio_invalid_frames(wire: str) -> None:
    with pytest.raises(InvalidPacket):
        decode_engineio(wire)


def test_engineio_binary_only_in_messages() -> None:
    with pytest.raises(InvalidPacket):
        encode_engineio(EngineIOPacket(EngineIOType.PING, b"\x00"))


SID = {"sid": "oSO0OpakMV_3jnilAAAA"}
PLACEHOLDER = {"_placeholder": True, "num": 0}


@pytest.mark.parametrize(
    ("wire", "packet"),
    [
        ("0", SocketIOPacket(SocketIOType.CONNECT)),
        ('0{"token":"123"}', SocketIOPacket(SocketIOType.CONNECT, data={"token": "123"})),
        ('0/admin,{"token":"123"}', SocketIOPacket(SocketIOType.CONNECT, "/admin", {"token": "123"})),
        ('0{"sid":"oSO0OpakMV_3jnilAAAA"}', SocketIOPacket(SocketIOType.CONNECT, data=SID)),
        ('0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}', SocketIOPacket(SocketIOType.CONNECT, "/admin", SID)),
        (
            '4{"message":"Not authorized"}',
            SocketIOPacket(SocketIOType.CONNECT_ERROR, data={"message": "Not authorized"}),
        ),
        ("1/admin,", SocketIOPacket(SocketIOType.DISCONNECT, "/admin")),
        ('2["foo"]', SocketIOPacket(SocketIOType.EVENT, data=["foo"])),
        ('2/admin,["bar"]', SocketIOPacket(SocketIOType.EVENT, "/admin", ["bar"])),
        ('212["foo"]', SocketIOPacket(SocketIOType.EVENT, data=["foo"], ack_id=12)),
        ('312["bar"]', SocketIOPacket(SocketIOType.ACK, data=["bar"], ack_id=12)),
        ('2/admin,13["bar"]', SocketIOPacket(SocketIOType.EVENT, "/admin", ["bar"], ack_id=13)),
        ('3/admin,13["bar"]', SocketIOPacket(SocketIOType.ACK, "/admin", ["bar"], ack_id=13)),
        (
            '51-["baz",{"_placeholder":true,"num":0}]',
            SocketIOPacket(SocketIOType.BINARY_EVENT, data=["baz", PLACEHOLDER], attachments=1),
        ),
        (
            '61-/admin,15[{"_placeholder":true,"num":0}]',
            SocketIOPacket(SocketIOType.BINARY_ACK, "/admin", [PLACEHOLDER], ack_id=15, attachments=1),
        ),
        ('2["emoji 😀 and 中文",{"n":1}]', SocketIOPacket(SocketIOType.EVENT, data=["emoji 😀 and 中文", {"n": 1}])),
        ("2[42]", SocketIOPacket(SocketIOType.EVENT, data=[42])),
    ],
)
def test_socketio_wire_examples_round_trip(wire: str, packet: SocketIOPacket) -> None:
    assert decode_socketio(wire) == packet
    assert encode_socketio(packet) == wire


@pytest.mark.parametrize(
    "wire",
    [
        "",  # no type
        "9",  # unknown type
        "x",
        "0[]",  # CONNECT payload must be an object
        '0"token"',
        '1{"a":1}',  # DISCONNECT carries nothing
        "2",  # EVENT needs a payload
        "2[]",  # ... a non-empty array
        "2{}",
        '2[{"a":1}]',  # ... whose first item is an event name
        "2[true]",
        '2["connect"]',  # ... that is not reserved
        '2["disconnect",{}]',
        '2["newListener"]',
        "3{}",  # ACK payload must be an array
        "4[]",  # CONNECT_ERROR payload: string or object
        "4",
        '5["x"]',  # BINARY_EVENT needs an attachment count
        '5x-["x"]',
        '2["foo"',  # not JSON
        "2/admin,[",
    ],
)
def test_socketio_invalid_packets(wire: str) -> None:
    with pytest.raises(InvalidPacket):
        decode_socketio(wire)


@pytest.mark.parametrize(
    "packet",
    [
        SocketIOPacket(SocketIOType.CONNECT, "/ws", {"token": "abc"}),
        SocketIOPacket(SocketIOType.EVENT, "/ws", ["document:join", {"prdId": "prd_123", "mode": "edit"}], ack_id=7),
        SocketIOPacket(SocketIOType.ACK, "/", [{"ok": True, "n": 1.5, "s": "é"}], ack_id=0),
        SocketIOPacket(SocketIOType.DISCONNECT, "/ws"),
        SocketIOPacket(SocketIOType.CONNECT_ERROR, "/", {"message": "Invalid namespace"}),
    ],
)
def test_python_socketio_reads_what_we_write_and_we_read_what_it_writes(packet: SocketIOPacket) -> None:
    ours = encode_socketio(packet)
    theirs = ReferencePacket(encoded_packet=ours)
    assert (theirs.packet_type, theirs.namespace or "/", theirs.id, theirs.data) == (
        packet.type,
        packet.namespace,
        packet.ack_id,
        packet.data,
    )
    reference = ReferencePacket(packet.type, data=packet.data, namespace=packet.namespace, id=packet.ack_id)
    assert decode_socketio(reference.encode()) == packet
