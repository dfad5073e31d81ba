"""Frames meant to break the gateway: each gets an answer, and the handler never raises (on AWS a
raised exception reaches the client as a bare "Internal server error" that no client can read)."""

from __future__ import annotations

import json

import boto3
import pytest

from prdtool.kernel.settings import Settings
from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.support import make_token

OK = {"statusCode": 200}


def socketio(stack: Stack, fake_aws: FakeAws, namespace: str = "/") -> str:
    connection_id = stack.socketio_client()
    prefix = "40" if namespace == "/" else f"40{namespace},"
    stack.send(connection_id, prefix + json.dumps({"token": make_token()}))
    assert fake_aws.take(connection_id)[0].startswith(prefix)
    return connection_id


def native(stack: Stack) -> str:
    connection_id, response = stack.connect(None, {"Authorization": f"Bearer {make_token()}"})
    assert response["statusCode"] == 200
    return connection_id


def event_frame(frame: str) -> tuple[str, dict]:
    """(name, payload) of a posted Socket.IO EVENT on any namespace."""
    name, payload = json.loads(frame[frame.index("[") :])
    return name, payload


@pytest.mark.parametrize(("namespace", "prefix"), [("/", "40"), ("/ws", "40/ws,")])
def test_an_oversized_connect_is_refused_with_connect_error_on_its_namespace(
    stack: Stack, fake_aws: FakeAws, namespace: str, prefix: str
) -> None:
    """A client that is not connected reads only its CONNECT's answer: connect_error must fire."""
    connection_id = stack.socketio_client()
    body = prefix + json.dumps({"token": "x" * 40_000})
    assert stack.send(connection_id, body) == OK
    [reply] = fake_aws.take(connection_id)
    assert reply.startswith("44" + prefix[2:] + "{")
    size = len(body.encode())
    assert json.loads(reply[len(prefix) :]) == {
        "message": f"Message of {size} bytes exceeds the limit of 32768 bytes",
        "data": {"code": "PAYLOAD_TOO_LARGE"},
    }
    record = stack.store.get(connection_id)
    assert (record.namespaces, record.user_id) == (None, None)
    stack.send(connection_id, prefix + json.dumps({"token": make_token()}))  # it may try again
    assert fake_aws.take(connection_id)[0].startswith(prefix + '{"sid":')


def test_native_json_nested_past_the_recursion_limit_is_an_invalid_packet(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = native(stack)
    body = '{"action":"session:info","data":' + "[" * 10_000 + "]" * 10_000 + "}"
    assert stack.send(connection_id, body) == OK
    [frame] = fake_aws.take(connection_id)
    reply = json.loads(frame)
    assert (reply["event"], reply["data"]["code"]) == ("error:operation", "INVALID_PACKET")
    assert stack.store.get(connection_id) is not None  # still connected
    body = '{"action":"operation:edit","data":' + "[" * 10_000 + "]" * 10_000 + "}"  # a burst-limited action
    assert stack.send(connection_id, body) == OK
    assert json.loads(fake_aws.take(connection_id)[0])["data"]["code"] == "INVALID_PACKET"


@pytest.mark.parametrize(
    ("frame", "name"),
    [
        ('42["\\udfff"]', "\udfff"),
        ('42["session:info\\udfff",{}]', "session:info\udfff"),
        ('42["\\ud800x",{"a":"\\udc00"}]', "\ud800x"),
    ],
)
def test_socketio_event_names_with_lone_surrogates_are_answered(
    stack: Stack, fake_aws: FakeAws, frame: str, name: str
) -> None:
    """JSON may escape a lone surrogate; the reply must still be UTF-8 (the fake decodes it strictly)."""
    connection_id = socketio(stack, fake_aws)
    assert stack.send(connection_id, frame) == OK
    [reply] = fake_aws.take(connection_id)
    event, payload = event_frame(reply)
    assert event == "error:operation"
    assert (payload["operation"], payload["code"]) == (name, "UNKNOWN_EVENT")
    assert payload["message"] == f"Unknown event {name!r}"  # repr: escaped, printable


def test_a_native_action_with_a_lone_surrogate_is_answered(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = native(stack)
    assert stack.send(connection_id, '{"action":"\\udfff","id":"r\\ud800"}') == OK
    [frame] = fake_aws.take(connection_id)
    assert json.loads(frame) == {
        "ack": "r\ud800",
        "data": {"ok": False, "error": {"code": "UNKNOWN_EVENT", "message": "Unknown event '\\udfff'"}},
    }


@pytest.mark.parametrize("protocol", ["socketio", "native"])
def test_an_unknown_event_name_is_echoed_only_in_part(stack: Stack, fake_aws: FakeAws, protocol: str) -> None:
    name = "n" * 20_000
    if protocol == "socketio":
        connection_id = socketio(stack, fake_aws)
        stack.send(connection_id, "42" + json.dumps([name, {}]))
        _, payload = event_frame(fake_aws.take(connection_id)[0])
    else:
        connection_id = native(stack)
        stack.send(connection_id, json.dumps({"action": name, "data": {}}))
        payload = json.loads(fake_aws.take(connection_id)[0])["data"]
    assert payload == {
        "operation": "n" * 100 + "…",
        "code": "UNKNOWN_EVENT",
        "message": "Unknown event '" + "n" * 100 + "…'",
    }


@pytest.mark.parametrize("protocol", ["socketio", "native"])
def test_a_failure_of_our_own_is_answered_internal_without_details(
    stack: Stack, fake_aws: FakeAws, settings: Settings, protocol: str
) -> None:
    """The connections table itself is gone: the frame still gets an answer, and no library text."""
    connection_id = socketio(stack, fake_aws, "/ws") if protocol == "socketio" else native(stack)
    boto3.client("dynamodb").delete_table(TableName=settings.connections_table)
    frame = '42/ws,5["session:info",{}]' if protocol == "socketio" else '{"action":"session:info","id":5}'
    assert stack.send(connection_id, frame) == OK
    [reply] = fake_aws.take(connection_id)
    if protocol == "socketio":
        # The record could not be read: the namespace is the frame's own.
        assert reply.startswith('42/ws,["error:operation",')
        _, payload = event_frame(reply)
    else:
        payload = json.loads(reply)["data"]
    assert payload == {"operation": None, "code": "INTERNAL", "message": "Internal error"}
    assert stack.send(connection_id, "3") == OK  # a pong: nothing to answer, and still no raise
    assert fake_aws.take(connection_id) == []


def test_a_reply_the_management_api_refuses_ends_in_internal_not_a_raise(stack: Stack, fake_aws: FakeAws) -> None:
    connection_id = socketio(stack, fake_aws, "/ws")
    fake_aws.fail_next(connection_id, 403)  # the ack itself is refused (Forbidden)
    assert stack.send(connection_id, '42/ws,7["session:info",{}]') == OK
    [reply] = fake_aws.take(connection_id)
    assert reply.startswith('42/ws,["error:operation",')  # on the namespace the client is on
    assert event_frame(reply)[1] == {"operation": None, "code": "INTERNAL", "message": "Internal error"}
