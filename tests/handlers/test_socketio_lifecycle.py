"""A Socket.IO v4 client's whole life through the real handlers: $connect, handshake, CONNECT,
events with acks, pings, the heartbeat sweep and $disconnect."""

from __future__ import annotations

import json

import jwt
import pytest

from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.support import make_token, unsigned_token

SOCKETIO_QUERY = {"EIO": "4", "transport": "websocket"}


def test_connect_stores_the_connection_and_starts_the_handshake(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id, response = stack.connect({**SOCKETIO_QUERY, "token": make_token()})
    assert response["statusCode"] == 200
    record = stack.store.get(connection_id)
    assert (record.protocol, record.source_ip, record.namespaces) == ("socketio", "203.0.113.7", None)
    assert record.query_params.as_dict() == {"EIO": "4", "transport": "websocket"}  # the token is not kept in the query
    [invocation] = fake_aws.invocations
    assert (invocation.function, invocation.invocation_type) == ("prdtool-handshake", "Event")
    assert invocation.payload["connectionId"] == connection_id
    assert invocation.payload["eioSid"] == record.eio_sid != connection_id


@pytest.mark.parametrize("query", [{"EIO": "3", "transport": "websocket"}, {"EIO": "4", "transport": "polling"}])
def test_other_engineio_versions_and_transports_are_refused(stack: Stack, query: dict[str, str]) -> None:
    connection_id, response = stack.connect(query)
    assert response["statusCode"] == 400
    assert stack.store.get(connection_id) is None


def test_handshake_retries_until_the_connection_exists(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id, _ = stack.connect(SOCKETIO_QUERY)
    fake_aws.fail_next(connection_id, 410)  # $connect has not returned yet, as far as API Gateway knows
    assert stack.run_handshakes() == [{"delivered": True}]
    [frame] = fake_aws.take(connection_id)
    assert frame[0] == "0"
    opened = json.loads(frame[1:])
    assert opened == {
        "sid": stack.store.get(connection_id).eio_sid,
        "upgrades": [],
        "pingInterval": 60000,
        "pingTimeout": 90000,
        "maxPayload": 32768,
    }
    assert opened["pingInterval"] + opened["pingTimeout"] < 2**31 - 1
    record = stack.store.get(connection_id)
    assert record.opened_at == stack.clock()  # pings may start now
    assert record.sweep_at == record.connect_deadline  # 45 s: before the first ping is due (60 s)


def test_handshake_gives_up_on_a_connection_that_never_appears(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id, _ = stack.connect(SOCKETIO_QUERY)
    fake_aws.open.discard(connection_id)
    slept: list[float] = []
    from prdtool.kernel.lifecycle import handshake

    services = stack.functions["handshake"].services
    payload = fake_aws.invocations[0].payload
    assert handshake(services, payload, sleep=slept.append) is False
    assert 4.0 <= sum(slept) <= 5.0
    assert stack.store.get(connection_id) is None


def test_connect_packet_with_a_good_token_opens_the_app_namespace(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = stack.socketio_client()
    stack.send(connection_id, "40" + json.dumps({"token": make_token(sub="user_456", name="Sarah Smith")}))
    [reply] = fake_aws.take(connection_id)
    assert reply.startswith("40{")
    sid = json.loads(reply[2:])["sid"]
    record = stack.store.get(connection_id)
    assert (record.user_id, record.user_name, record.namespaces, record.socket_sid) == (
        "user_456",
        "Sarah Smith",
        {"/"},
        sid,
    )
    assert sid != connection_id


def test_the_token_seen_at_connect_is_used_when_connect_carries_none(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = stack.socketio_client({"token": make_token(sub="user_q")})
    stack.send(connection_id, "40")
    assert fake_aws.take(connection_id)[0].startswith("40{")
    assert stack.store.get(connection_id).user_id == "user_q"


def test_no_token_is_stored_only_what_it_proved(stack: Stack, fake_aws: FakeAws) -> None:
    query_token, header_token = make_token(sub="user_q"), make_token(sub="user_h")
    connection_id, response = stack.connect(
        {**SOCKETIO_QUERY, "token": query_token}, {"Authorization": f"Bearer {header_token}"}
    )
    assert response["statusCode"] == 200
    stored = json.dumps(stack.store.get(connection_id).serialize())
    for token in (query_token, header_token):
        assert token not in stored and token.split(".")[2] not in stored  # nor its signature
    stack.run_handshakes()
    stack.send(connection_id, "40")
    assert fake_aws.take(connection_id)[1].startswith("40{")
    record = stack.store.get(connection_id)
    assert record.user_id == "user_q"
    assert query_token not in json.dumps(record.serialize())


@pytest.mark.parametrize(
    ("token", "message", "reason"),
    [
        ("garbage", "Token malformed", "invalid_token"),
        (make_token(ttl=-60), "Token expired", "token_expired"),
        (make_token(sub=""), "Token subject (sub) must be a non-empty string", "invalid_claims"),
    ],
)
def test_a_bad_upgrade_token_is_answered_at_connect_not_at_the_upgrade(
    stack: Stack, fake_aws: FakeAws, token: str, message: str, reason: str
) -> None:
    connection_id = stack.socketio_client({"token": token})  # the upgrade itself is accepted
    stack.send(connection_id, "40")
    assert fake_aws.take(connection_id) == [
        "44"
        + json.dumps({"message": message, "data": {"code": "UNAUTHORIZED", "reason": reason}}, separators=(",", ":"))
    ]
    stack.send(connection_id, "40" + json.dumps({"token": make_token()}))  # the CONNECT's own token wins
    assert fake_aws.take(connection_id)[0].startswith("40{")


def test_an_upgrade_token_that_expires_before_connect_is_refused(stack: Stack, fake_aws: FakeAws) -> None:
    token = make_token(ttl=120)
    connection_id = stack.socketio_client({"token": token})
    stack.clock.now = expiry_ms(token) + 5_000  # past exp and the verifier's 5 s leeway
    stack.send(connection_id, "40")
    [reply] = fake_aws.take(connection_id)
    assert json.loads(reply[2:]) == {
        "message": "Token expired",
        "data": {"code": "UNAUTHORIZED", "reason": "token_expired"},
    }


def expiry_ms(token: str) -> int:
    return int(jwt.decode(token, options={"verify_signature": False})["exp"]) * 1000


def test_the_spec_namespace_ws_is_the_app_namespace(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = stack.socketio_client()
    stack.send(connection_id, "40/ws," + json.dumps({"token": make_token()}))
    assert fake_aws.take(connection_id)[0].startswith('40/ws,{"sid":')
    stack.send(connection_id, '42/ws,5["session:info",{}]')
    [ack] = fake_aws.take(connection_id)
    assert ack.startswith("43/ws,5[")
    assert json.loads(ack[len("43/ws,5") :])[0]["namespace"] == "/ws"


def test_other_namespaces_are_refused(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = stack.socketio_client()
    stack.send(connection_id, "40/admin," + json.dumps({"token": make_token()}))
    assert fake_aws.take(connection_id) == ['44/admin,{"message":"Invalid namespace"}']


@pytest.mark.parametrize(
    ("token", "message", "reason"),
    [
        (make_token(ttl=-60), "Token expired", "token_expired"),
        (
            make_token("a-different-secret-that-is-long-enough-for-hs256-0123456789"),
            "Token signature invalid",
            "invalid_signature",
        ),
        (unsigned_token(), "Token algorithm 'none' is not accepted", "algorithm_not_allowed"),
        (None, "Authentication token missing", "token_missing"),
        ("not-a-jwt", "Token malformed", "invalid_token"),
        (make_token(sub=""), "Token subject (sub) must be a non-empty string", "invalid_claims"),
        (make_token(sub=42), "Token subject (sub) must be a non-empty string", "invalid_claims"),
        (make_token(roles={"admin": 1}), "Token roles must be a list of strings", "invalid_claims"),
    ],
)
def test_connect_packet_with_a_bad_token_gets_connect_error(
    stack: Stack, fake_aws: FakeAws, token: str | None, message: str, reason: str
) -> None:
    connection_id = stack.socketio_client()
    stack.send(connection_id, "40" + (json.dumps({"token": token}) if token else ""))
    [reply] = fake_aws.take(connection_id)
    assert reply.startswith("44{")
    assert json.loads(reply[2:]) == {"message": message, "data": {"code": "UNAUTHORIZED", "reason": reason}}
    assert stack.store.get(connection_id).namespaces is None  # nothing was granted


def test_wrong_audience_gets_connect_error(stack: Stack, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_AUDIENCE", "prdtool")
    stack.functions["gateway"] = __import__("tests.support", fromlist=["load_function"]).load_function("gateway")
    stack.functions["gateway"].services.clock = stack.clock
    connection_id = stack.socketio_client()
    stack.send(connection_id, "40" + json.dumps({"token": make_token(aud="someone-else")}))
    [reply] = fake_aws.take(connection_id)
    assert json.loads(reply[2:])["data"] == {"code": "UNAUTHORIZED", "reason": "invalid_audience"}
    stack.send(connection_id, "40" + json.dumps({"token": make_token(aud="prdtool")}))
    assert fake_aws.take(connection_id)[0].startswith("40{")


def connected(stack: Stack, fake_aws: FakeAws, **claims: str) -> str:
    connection_id = stack.socketio_client()
    stack.send(connection_id, "40" + json.dumps({"token": make_token(**claims)}))
    assert fake_aws.take(connection_id)[0].startswith("40{")
    return connection_id


def test_a_connection_keeps_the_identity_its_first_connect_established(stack: Stack, fake_aws: FakeAws) -> None:
    """A CONNECT on another namespace with another user's token must not turn the connection into
    that user (its rooms and edits would then be theirs)."""
    connection_id = connected(stack, fake_aws, sub="user_b", name="Bob")
    stack.send(
        connection_id, "40/ws," + json.dumps({"token": make_token(sub="user_m", name="Mallory", roles=["admin"])})
    )
    [reply] = fake_aws.take(connection_id)
    assert reply.startswith("44/ws,{")
    refusal = json.loads(reply[len("44/ws,") :])
    assert refusal["data"] == {"code": "UNAUTHORIZED", "reason": "identity_mismatch"}
    assert "another user" in refusal["message"]
    record = stack.store.get(connection_id)
    assert (record.user_id, record.user_name, record.roles, record.namespaces) == ("user_b", "Bob", [], {"/"})
    stack.send(connection_id, '421["session:info",{}]')
    info = json.loads(fake_aws.take(connection_id)[0][3:])[0]
    assert (info["userId"], info["roles"]) == ("user_b", [])
    # The same user may open another namespace, with a fresh token of theirs.
    stack.send(connection_id, "40/ws," + json.dumps({"token": make_token(sub="user_b", name="Bob")}))
    assert fake_aws.take(connection_id)[0].startswith('40/ws,{"sid":')
    assert stack.store.get(connection_id).namespaces == {"/", "/ws"}


def test_a_non_string_name_or_picture_is_treated_as_absent(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = connected(stack, fake_aws, sub="user_p", name=5, picture={"url": "https://img/p.png"})
    stack.send(connection_id, '421["session:info",{}]')
    info = json.loads(fake_aws.take(connection_id)[0][3:])[0]
    assert (info["ok"], info["userId"], info["userName"], info["picture"]) == (True, "user_p", "user_p", None)


def test_events_after_the_token_expires_are_refused_while_pings_go_on(stack: Stack, fake_aws: FakeAws) -> None:
    token = make_token(sub="user_x", ttl=120)
    connection_id = stack.socketio_client()
    stack.send(connection_id, "40" + json.dumps({"token": token}))
    assert fake_aws.take(connection_id)[0].startswith("40{")
    stack.clock.now = expiry_ms(token) + 4_999  # within the 5 s the verifier allows for clock skew
    stack.send(connection_id, '421["session:info",{}]')
    assert json.loads(fake_aws.take(connection_id)[0][3:])[0]["ok"] is True
    stack.clock.now = expiry_ms(token) + 5_000
    expired = {"code": "UNAUTHORIZED", "message": "Token expired", "data": {"reason": "token_expired"}}
    stack.send(connection_id, '422["session:info",{}]')
    assert fake_aws.take(connection_id) == [
        "432" + json.dumps([{"ok": False, "error": expired}], separators=(",", ":"))
    ]
    stack.send(connection_id, '42["document:create",{"title":"After expiry"}]')
    [event] = fake_aws.take(connection_id)
    assert json.loads(event[2:]) == ["error:operation", {"operation": "document:create", **expired}]
    stack.send(connection_id, "3")  # a pong is still recorded: the connection stays up to read why
    assert stack.store.get(connection_id).last_pong_at == stack.clock()
    assert fake_aws.deleted == []
    # A fresh token of the same user, on another namespace, renews the connection's expiry.
    stack.send(connection_id, "40/ws," + json.dumps({"token": make_token(sub="user_x", ttl=3600)}))
    assert fake_aws.take(connection_id)[0].startswith("40/ws,{")
    stack.send(connection_id, '423["session:info",{}]')
    assert json.loads(fake_aws.take(connection_id)[0][3:])[0]["ok"] is True


def test_event_with_ack_is_answered_in_the_same_invocation(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = connected(stack, fake_aws, sub="user_123", name="John Doe", roles=["admin"])
    stack.send(connection_id, '421["session:info",{}]')
    [ack] = fake_aws.take(connection_id)
    assert ack.startswith("431[")
    info = json.loads(ack[3:])[0]
    assert info == {
        "ok": True,
        "userId": "user_123",
        "userName": "John Doe",
        "picture": None,
        "roles": ["admin"],
        "sessionId": stack.store.get(connection_id).socket_sid,
        "namespace": "/",
        "protocol": "socketio",
        "unreadNotifications": 0,
    }


def test_errors_come_back_as_error_acks_or_error_operation_events(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = connected(stack, fake_aws)
    stack.send(connection_id, '422["session:info","not an object"]')
    [ack] = fake_aws.take(connection_id)
    assert ack.startswith("432[")
    assert json.loads(ack[3:])[0]["error"]["code"] == "VALIDATION_FAILED"
    stack.send(connection_id, '423["ai:suggestion-apply",{}]')
    assert json.loads(fake_aws.take(connection_id)[0][3:])[0]["error"]["code"] == "VALIDATION_FAILED"
    stack.send(connection_id, '42["no:such-event",{}]')
    [event] = fake_aws.take(connection_id)
    name, payload = json.loads(event[2:])
    assert name == "error:operation"
    assert payload == {
        "operation": "no:such-event",
        "code": "UNKNOWN_EVENT",
        "message": "Unknown event 'no:such-event'",
    }


def test_binary_events_are_refused_clearly(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = connected(stack, fake_aws)
    stack.send(connection_id, '451-3["session:info",{"_placeholder":true,"num":0}]')
    [ack] = fake_aws.take(connection_id)
    assert json.loads(ack[3:])[0]["error"]["code"] == "BINARY_NOT_SUPPORTED"


def test_oversized_message_gets_payload_too_large_and_changes_nothing(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = connected(stack, fake_aws)
    before = stack.store.get(connection_id).serialize()
    stack.send(connection_id, '42["session:info",{"pad":"' + "x" * 40_000 + '"}]')
    [event] = fake_aws.take(connection_id)
    name, payload = json.loads(event[2:])
    assert (name, payload["code"]) == ("error:operation", "PAYLOAD_TOO_LARGE")
    assert stack.store.get(connection_id).serialize() == before


@pytest.mark.parametrize("frame", ['42["session:info",{}]', "41", "43[1]"])
def test_packets_before_connect_close_the_connection(stack: Stack, fake_aws: FakeAws, frame: str) -> None:
    connection_id = stack.socketio_client()
    stack.send(connection_id, frame)
    assert fake_aws.deleted == [connection_id]
    assert stack.store.get(connection_id) is None


@pytest.mark.parametrize("frame", ['42["connect"]', "42[]", "4x", "9", '42["a",', "0{}", "40{}"])
def test_invalid_packets_close_the_connection(stack: Stack, fake_aws: FakeAws, frame: str) -> None:
    connection_id = connected(stack, fake_aws)  # "40{}" is a second CONNECT to "/": invalid state
    stack.send(connection_id, frame)
    assert fake_aws.deleted == [connection_id]
    assert stack.store.get(connection_id) is None


def test_client_close_and_namespace_disconnect(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = connected(stack, fake_aws)
    stack.send(connection_id, "41")
    assert stack.store.get(connection_id).namespaces is None
    stack.send(connection_id, "1")
    assert fake_aws.deleted == [connection_id]


def test_frames_from_an_unknown_connection_close_it(stack: Stack, fake_aws: FakeAws) -> None:
    fake_aws.open.add("stranger")
    stack.send("stranger", '42["session:info",{}]')
    assert fake_aws.deleted == ["stranger"]


def test_heartbeat_pings_and_closes_who_does_not_answer(stack: Stack, fake_aws: FakeAws) -> None:
    alive = connected(stack, fake_aws)
    dead = connected(stack, fake_aws)
    assert stack.heartbeat()["pinged"] == 0  # nobody is due yet
    stack.clock.advance(61)
    assert stack.heartbeat()["pinged"] == 2
    assert fake_aws.take(alive) == ["2"] and fake_aws.take(dead) == ["2"]
    stack.send(alive, "3")  # pong
    record = stack.store.get(alive)
    assert record.last_pong_at == stack.clock() and not record.awaiting_pong
    stack.clock.advance(61)
    assert stack.heartbeat() == {
        "pinged": 1,
        "never_connected": 0,
        "pong_overdue": 0,
        "gone": 0,
        "away": 0,
        "token_expired": 0,
        "expiry_warned": 0,
    }
    assert fake_aws.take(alive) == ["2"]
    stack.clock.advance(30)
    result = stack.heartbeat()  # the dead one's pong deadline (90 s after its ping) has passed
    assert (result["pong_overdue"], result["pinged"]) == (1, 0)
    assert fake_aws.deleted == [dead]
    assert stack.store.get(dead) is None and stack.store.get(alive) is not None


def test_heartbeat_closes_clients_that_never_complete_connect(stack: Stack, fake_aws: FakeAws) -> None:
    idle = stack.socketio_client()
    stack.clock.advance(46)
    assert stack.heartbeat()["never_connected"] == 1
    assert fake_aws.deleted == [idle] and stack.store.get(idle) is None


def test_heartbeat_forgets_connections_found_gone(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = connected(stack, fake_aws)
    fake_aws.open.discard(connection_id)  # vanished without a $disconnect
    stack.clock.advance(61)
    assert stack.heartbeat()["gone"] == 1
    assert stack.store.get(connection_id) is None


def test_disconnect_removes_the_connection(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = connected(stack, fake_aws)
    assert stack.disconnect(connection_id) == {"statusCode": 200, "body": ""}
    assert stack.store.get(connection_id) is None
    assert stack.disconnect(connection_id)["statusCode"] == 200  # a repeated $disconnect is harmless
