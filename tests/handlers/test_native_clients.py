"""Clients that speak native JSON frames ({"action", "data", "id"}) instead of Socket.IO."""

from __future__ import annotations

import json

import jwt
import pytest

from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.support import make_token


@pytest.mark.parametrize(
    ("query", "headers", "message"),
    [
        ({}, {}, "Authentication token missing"),
        ({"token": make_token(ttl=-60)}, {}, "Token expired"),
        ({}, {"Authorization": "Bearer garbage"}, "Token malformed"),
        ({"token": make_token(sub="")}, {}, "Token subject (sub) must be a non-empty string"),
        ({}, {"Authorization": f"Bearer {make_token(sub=7)}"}, "Token subject (sub) must be a non-empty string"),
        ({"token": make_token(roles={"admin": 1})}, {}, "Token roles must be a list of strings"),
    ],
)
def test_native_connect_without_a_valid_token_is_refused(
    stack: Stack, fake_aws: FakeAws, query: dict[str, str], headers: dict[str, str], message: str
) -> None:
    connection_id, response = stack.connect(query, headers)
    assert response == {"statusCode": 401, "body": message}
    assert stack.store.get(connection_id) is None
    assert fake_aws.invocations == []


def native(stack: Stack, **claims: str) -> str:
    connection_id, response = stack.connect(None, {"Authorization": f"Bearer {make_token(**claims)}"})
    assert response["statusCode"] == 200
    return connection_id


def test_native_client_authenticates_at_connect_and_gets_acks(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = native(stack, sub="user_456", name="Sarah Smith")
    assert fake_aws.invocations == []  # no Engine.IO handshake for native clients
    stack.send_native(connection_id, "session:info", {}, ack_id="req-1")
    [frame] = fake_aws.take(connection_id)
    reply = json.loads(frame)
    assert reply["ack"] == "req-1"
    assert reply["data"]["ok"] is True
    assert (reply["data"]["userId"], reply["data"]["protocol"]) == ("user_456", "native")


def test_native_name_or_picture_that_is_not_a_string_is_treated_as_absent(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = native(stack, sub="user_p", name=["Pat"], picture=12)
    stack.send_native(connection_id, "session:info", {}, ack_id=1)
    info = json.loads(fake_aws.take(connection_id)[0])["data"]
    assert (info["ok"], info["userName"], info["picture"]) == (True, "user_p", None)


def test_native_events_after_the_token_expires_are_refused(stack: Stack, fake_aws: FakeAws) -> None:
    token = make_token(sub="user_n", ttl=120)
    connection_id, _ = stack.connect(None, {"Authorization": f"Bearer {token}"})
    record = stack.store.get(connection_id)
    assert "token" not in record.attribute_values and token not in json.dumps(record.serialize())
    stack.clock.now = int(jwt.decode(token, options={"verify_signature": False})["exp"]) * 1000 + 5_000
    expired = {"code": "UNAUTHORIZED", "message": "Token expired", "data": {"reason": "token_expired"}}
    stack.send_native(connection_id, "session:info", {}, ack_id="r1")
    assert json.loads(fake_aws.take(connection_id)[0]) == {"ack": "r1", "data": {"ok": False, "error": expired}}
    stack.send_native(connection_id, "document:join", {"prdId": "prd_123", "mode": "edit"})
    assert json.loads(fake_aws.take(connection_id)[0]) == {
        "event": "error:operation",
        "data": {"operation": "document:join", **expired},
    }
    assert fake_aws.deleted == []  # still connected: the client reconnects with a fresh token


def test_native_errors_are_error_operation_events(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = native(stack)
    stack.send_native(connection_id, "document:join", {"prdId": "prd_123", "mode": "edit"})
    [frame] = fake_aws.take(connection_id)
    assert json.loads(frame) == {
        "event": "error:operation",
        "data": {
            "operation": "document:join",
            "code": "NOT_FOUND",
            "message": "No PRD 'prd_123'",
            "data": {"prdId": "prd_123"},
        },
    }


@pytest.mark.parametrize(
    "body", ["not json", "[1,2]", '{"data":{}}', '{"action":5}', '{"action":["operation:edit"]}', '{"action":{}}']
)
def test_malformed_native_frames_get_invalid_packet_and_stay_connected(
    stack: Stack, fake_aws: FakeAws, body: str
) -> None:
    connection_id = native(stack)
    stack.send(connection_id, body)
    [frame] = fake_aws.take(connection_id)
    assert json.loads(frame)["data"]["code"] == "INVALID_PACKET"
    assert fake_aws.deleted == []
    assert stack.store.get(connection_id) is not None


def test_native_clients_are_not_swept_by_the_heartbeat(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = native(stack)
    stack.clock.advance(3600)
    assert stack.heartbeat() == {
        "pinged": 0,
        "never_connected": 0,
        "pong_overdue": 0,
        "gone": 0,
        "away": 0,
        "token_expired": 0,
        "expiry_warned": 0,
    }
    assert stack.store.get(connection_id) is not None
