"""The codec against the wire strings of the Engine.IO v4 and Socket.IO v5 protocol specs,
and against python-socketio's own packet class as a second reference."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from socketio.packet import Packet as ReferencePacket

from prdtool.kernel.codec import (
    MAX_ACK_ID,
    MAX_ATTACHMENTS,
    MAX_JSON_DEPTH,
    RESERVED_EVENTS,
    EngineIOPacket,
    EngineIOType,
    InvalidPacket,
    SocketIOPacket,
    SocketIOType,
    decode_engineio,
    decode_json,
    decode_socketio,
    encode_engineio,
    encode_json,
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


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        ("", "empty frame"),
        ("7", "unknown Engine.IO packet type '7'"),
        ("x", "unknown Engine.IO packet type 'x'"),
        ('٤2["a"]', "unknown Engine.IO packet type '٤'"),  # an Arabic-Indic 4: int() would read it as 4
        ("²", "unknown Engine.IO packet type '²'"),  # isdigit(), yet int() refuses it
        ("B", "unknown Engine.IO packet type 'B'"),
        ("bnot base64!", "invalid base64 in binary message"),
        ("bAQID BA==", "invalid base64 in binary message"),  # a valid length once the stray space is dropped
        ("bAQIDBA==é", "invalid base64 in binary message"),
    ],
)
def test_engineio_invalid_frames(wire: str, reason: str) -> None:
    with pytest.raises(InvalidPacket) as refused:
        decode_engineio(wire)
    assert str(refused.value) == reason


def test_engineio_binary_only_in_messages() -> None:
    with pytest.raises(InvalidPacket) as refused:
        encode_engineio(EngineIOPacket(EngineIOType.PING, b"\x00"))
    assert str(refused.value) == "only MESSAGE packets carry binary data"


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
    ("wire", "reason"),
    [
        ("", "unknown Socket.IO packet type ''"),
        ("9", "unknown Socket.IO packet type '9'"),
        ("x", "unknown Socket.IO packet type 'x'"),
        ('٢["a"]', "unknown Socket.IO packet type '٢'"),  # an Arabic-Indic 2
        ("0[]", "invalid payload for CONNECT"),  # CONNECT payload must be an object
        ('0"token"', "invalid payload for CONNECT"),
        ('1{"a":1}', "invalid payload for DISCONNECT"),  # DISCONNECT carries nothing
        ("2", "invalid payload for EVENT"),  # EVENT needs a payload
        ("2[]", "invalid payload for EVENT"),  # ... a non-empty array
        ("2{}", "invalid payload for EVENT"),
        ('2[{"a":1}]', "invalid payload for EVENT"),  # ... whose first item is an event name
        ("2[true]", "invalid payload for EVENT"),
        ('2["connect"]', "invalid payload for EVENT"),  # ... that is not reserved
        ('2["disconnect",{}]', "invalid payload for EVENT"),
        ('2["newListener"]', "invalid payload for EVENT"),
        ("2/admin", "invalid payload for EVENT"),  # a namespace with no comma runs to the end
        ("3{}", "invalid payload for ACK"),  # ACK payload must be an array
        ("3", "invalid payload for ACK"),
        ("4[]", "invalid payload for CONNECT_ERROR"),  # CONNECT_ERROR payload: string or object
        ("4", "invalid payload for CONNECT_ERROR"),
        ('5["x"]', "illegal attachments"),  # BINARY_EVENT needs an attachment count
        ('5["a-b"]', "illegal attachments"),  # ... before a dash, not one inside the JSON
        ("512", "illegal attachments"),  # ... ended by a dash
        ('5x-["x"]', "illegal attachments"),
        ('5-["x"]', "illegal attachments"),
        ('5²-["x"]', "illegal attachments"),  # ASCII digits only
        ('5٣-["x"]', "illegal attachments"),
        (f'5{MAX_ATTACHMENTS + 1}-["x"]', "illegal attachments"),
        ("5" + "1" * 5000 + '-["x"]', "illegal attachments"),
        ('6-[{"_placeholder":true,"num":0}]', "illegal attachments"),
        (f'2{MAX_ACK_ID + 1}["a"]', "illegal ack id"),  # past JavaScript's Number.MAX_SAFE_INTEGER
        ("2" + "1" * 5000 + '["a"]', "illegal ack id"),  # past int()'s 4,300 digits
        ('2²["a"]', "invalid JSON"),  # not an ack id, so the payload starts at "²"
        ('2٣["a"]', "invalid JSON"),
        ('2["foo"', "invalid JSON"),  # not JSON
        ("2/admin,[", "invalid JSON"),
        ('2["a",' + "1" * 5000 + "]", "invalid JSON"),
        ("2" + "[" * 10_000, f"JSON nested deeper than {MAX_JSON_DEPTH}"),  # json.loads: RecursionError
        ('2["a",NaN]', "NaN is not a finite number"),
        ('2["a",-Infinity]', "-Infinity is not a finite number"),
        ('2["a",1e400]', "1e400 is not a finite number"),
    ],
)
def test_socketio_invalid_packets(wire: str, reason: str) -> None:
    with pytest.raises(InvalidPacket) as refused:
        decode_socketio(wire)
    assert str(refused.value) == reason


@pytest.mark.parametrize(
    ("wire", "packet"),
    [
        ("1/admin", SocketIOPacket(SocketIOType.DISCONNECT, "/admin")),  # the trailing comma is optional
        ("0/ws", SocketIOPacket(SocketIOType.CONNECT, "/ws")),
        ('2/,["a"]', SocketIOPacket(SocketIOType.EVENT, data=["a"])),
        ('2007["a"]', SocketIOPacket(SocketIOType.EVENT, data=["a"], ack_id=7)),
        ('2["a"] ', SocketIOPacket(SocketIOType.EVENT, data=["a"])),
    ],
)
def test_socketio_packets_read_as_the_reference_parser_reads_them(wire: str, packet: SocketIOPacket) -> None:
    assert decode_socketio(wire) == packet


@pytest.mark.parametrize(
    ("wire", "packet"),
    [
        (f'2{MAX_ACK_ID}["a"]', SocketIOPacket(SocketIOType.EVENT, data=["a"], ack_id=9_007_199_254_740_991)),
        ("30[]", SocketIOPacket(SocketIOType.ACK, data=[], ack_id=0)),
        ('3/ws,5[1.5,-2,"x"]', SocketIOPacket(SocketIOType.ACK, "/ws", [1.5, -2, "x"], ack_id=5)),
        (
            '51-["a-b",{"_placeholder":true,"num":0}]',  # a dash in the JSON is not the count's
            SocketIOPacket(SocketIOType.BINARY_EVENT, data=["a-b", PLACEHOLDER], attachments=1),
        ),
        (
            f'5{MAX_ATTACHMENTS}-/ws,3["a"]',
            SocketIOPacket(SocketIOType.BINARY_EVENT, "/ws", ["a"], ack_id=3, attachments=1000),
        ),
        ('2["\\udfff"]', SocketIOPacket(SocketIOType.EVENT, data=["\udfff"])),  # a lone surrogate
        ('2["x",{"\\ud800":"é\\udc00😀"}]', SocketIOPacket(SocketIOType.EVENT, data=["x", {"\ud800": "é\udc00😀"}])),
    ],
)
def test_socketio_edge_cases_round_trip(wire: str, packet: SocketIOPacket) -> None:
    assert decode_socketio(wire) == packet
    assert encode_socketio(packet) == wire
    wire.encode("utf-8")  # what the sender posts


def _nested(depth: int, open_: str, close: str, inner: str = "1") -> str:
    return open_ * depth + inner + close * depth


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (_nested(MAX_JSON_DEPTH, "[", "]", ""), json.loads(_nested(MAX_JSON_DEPTH, "[", "]", ""))),
        (_nested(MAX_JSON_DEPTH, '{"a":', "}"), json.loads(_nested(MAX_JSON_DEPTH, '{"a":', "}"))),
        ("[" + ",".join(["[]"] * 40) + "]", [[]] * 40),  # many brackets, shallow
        ("[" + ",".join(["{}"] * 40) + "]", [{}] * 40),
        ("[[],{}," + _nested(MAX_JSON_DEPTH - 1, "[", "]", "") + "]", [[], {}, json.loads(_nested(31, "[", "]", ""))]),
        ('["' + "[" * 40 + '"]', ["[" * 40]),  # brackets inside strings nest nothing
        ('"' + "[" * 40 + '"', "[" * 40),
        ('{"' + "{" * 40 + '":1}', {"{" * 40: 1}),
        ('["\\"' + "[" * 40 + '"]', ['"' + "[" * 40]),  # ... nor after an escaped quote
        ("1.5", 1.5),
        ("1e2", 100.0),
        ("-0", 0),
        ('"\\udfff"', "\udfff"),
        ('"\\ud83d\\ude00"', "😀"),  # a surrogate pair is one character
    ],
)
def test_decode_json(text: str, value: Any) -> None:
    assert decode_json(text) == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (_nested(MAX_JSON_DEPTH + 1, "[", "]", ""), "JSON nested deeper than 32"),
        (_nested(MAX_JSON_DEPTH + 1, '{"a":', "}"), "JSON nested deeper than 32"),
        ("[" * 10_000, "JSON nested deeper than 32"),
        ("{" * 10_000, "JSON nested deeper than 32"),
        # Closing brackets end only what they open: 20 levels, back to 20, then 13 more.
        ("[" * 20 + "[]," + _nested(13, "[", "]", "") + "]" * 20, "JSON nested deeper than 32"),
        # Closing brackets inside a string do not hide the depth that follows it.
        ("[" * 20 + '"' + "]" * 40 + '",' + _nested(13, "[", "]", "") + "]" * 20, "JSON nested deeper than 32"),
        ("NaN", "NaN is not a finite number"),
        ("Infinity", "Infinity is not a finite number"),
        ("-Infinity", "-Infinity is not a finite number"),
        ("1e400", "1e400 is not a finite number"),
        ("[-1e400]", "-1e400 is not a finite number"),
        ("", "invalid JSON"),
        ("[1,]", "invalid JSON"),
        ("1" * 5000, "invalid JSON"),  # past int()'s 4,300 digits
    ],
)
def test_decode_json_refuses(text: str, reason: str) -> None:
    with pytest.raises(InvalidPacket) as refused:
        decode_json(text)
    assert str(refused.value) == reason


@pytest.mark.parametrize(
    "text",
    ["[]" * 40 + '"' + '\\"' * 16_000, "[]" * 40 + '"\\' * 16_000, "{}" * 40 + '"a' * 16_000 + "\\"],
)
def test_a_frame_of_open_strings_is_refused_as_invalid_json(text: str) -> None:
    # Each quote opens a string that never closes. The depth scan is one regex pass: a scan that
    # retried from every quote took seconds on a 32 KB frame (no time limit here: that would be
    # a flaky test, so a slow scan shows as a slow run instead).
    with pytest.raises(InvalidPacket) as refused:
        decode_json(text)
    assert str(refused.value) == "invalid JSON"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"a": [1, 1.5, "é", None, True]}, '{"a":[1,1.5,"é",null,true]}'),
        (["\udfff"], '["\\udfff"]'),
        (["é\ud800x😀"], '["é\\ud800x😀"]'),  # only the surrogate is escaped
        ({"\udc00": 1}, '{"\\udc00":1}'),
        ("\ud83d\ude00", '"\\ud83d\\ude00"'),  # two halves held apart: a JavaScript client reads 😀
    ],
)
def test_encode_json_is_compact_and_always_utf8(value: Any, text: str) -> None:
    assert encode_json(value) == text
    assert decode_json(text.encode("utf-8").decode("utf-8")) == json.loads(text)


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


# Text as a frame may hold it: any character, lone surrogates included, with JSON's punctuation and
# digits (ASCII and not) often enough to reach every branch of the parser.
_CHARS = st.characters(exclude_categories=()) | st.sampled_from('[]{}",:-/\\0123456789²٣ 1eE.')
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(_CHARS),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(_CHARS), inner, max_size=3),
    max_leaves=8,
)
_TEXT = st.text(_CHARS, max_size=40) | _JSON.map(json.dumps) | _JSON.map(encode_json)
_PREFIXES = ["", "2", "3", "4", "40", "41", "42", "43", "44", "45", "451-", "46", "40/ws,", "42/ws,7", "b"]


def _as_javascript(value: Any) -> Any:
    """A value as a JavaScript client holds it: strings as UTF-16, where two halves held apart and
    the character they make are the same string."""
    if isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    if isinstance(value, list):
        return [_as_javascript(v) for v in value]
    if isinstance(value, dict):
        return {_as_javascript(k): _as_javascript(v) for k, v in value.items()}
    return value


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_PREFIXES), _TEXT)
def test_any_frame_decodes_or_is_an_invalid_packet_and_what_decodes_re_encodes(prefix: str, text: str) -> None:
    try:
        frame = decode_engineio(prefix + text)
        packet = decode_socketio(frame.data) if isinstance(frame.data, str) and frame.type == 4 else None
    except InvalidPacket:
        return
    if packet is None:
        assert encode_engineio(frame) == prefix + text or isinstance(frame.data, bytes)
        return
    wire = encode_socketio(packet)
    wire.encode("utf-8")  # the sender can post it
    again = decode_socketio(wire)
    assert (again.type, again.namespace, again.ack_id, again.attachments) == (
        packet.type,
        packet.namespace,
        packet.ack_id,
        packet.attachments,
    )
    assert _as_javascript(again.data) == _as_javascript(packet.data)


_EVENT_NAMES = st.text(_CHARS, min_size=1).filter(lambda n: n not in RESERVED_EVENTS) | st.integers()
_PACKETS = st.builds(
    SocketIOPacket,
    type=st.sampled_from([SocketIOType.EVENT, SocketIOType.BINARY_EVENT]),
    namespace=st.just("/") | st.text(_CHARS.filter(lambda c: c != ","), max_size=8).map("/".__add__),
    data=st.tuples(_EVENT_NAMES, st.lists(_JSON, max_size=3)).map(lambda t: [t[0], *t[1]]),
    ack_id=st.none() | st.integers(0, MAX_ACK_ID),
    attachments=st.integers(0, MAX_ATTACHMENTS),
) | st.builds(
    SocketIOPacket,
    type=st.sampled_from([SocketIOType.ACK, SocketIOType.BINARY_ACK]),
    data=st.lists(_JSON, max_size=3),
    ack_id=st.integers(0, MAX_ACK_ID),
)


@settings(max_examples=300, deadline=None)
@given(_PACKETS)
def test_every_valid_packet_round_trips_through_utf8(packet: SocketIOPacket) -> None:
    if packet.type in (SocketIOType.EVENT, SocketIOType.ACK):
        packet = SocketIOPacket(packet.type, packet.namespace, packet.data, packet.ack_id)
    wire = encode_socketio(packet)
    again = decode_socketio(wire.encode("utf-8").decode("utf-8"))
    assert again == SocketIOPacket(
        packet.type, packet.namespace, again.data, packet.ack_id, packet.attachments, has_data=True
    )
    assert _as_javascript(again.data) == _as_javascript(packet.data)
    # The same wire again, unless the packet held the two halves of a character apart: a client reads
    # them as that character, and they come back joined.
    if _as_javascript(packet.data) == packet.data:
        assert encode_socketio(again) == wire
