"""Sending through the management API, against a fake that fails the way API Gateway fails."""

from __future__ import annotations

import json

import pytest

from prdtool.kernel.sender import (
    NATIVE,
    ConnectionGone,
    MessageTooLarge,
    Recipient,
    Sender,
    encode_ack,
    encode_event,
    management_client,
    management_endpoint,
)
from tests.fakes.aws_http import FakeAws


@pytest.fixture
def forgotten() -> list[str]:
    return []


@pytest.fixture
def sender(fake_aws: FakeAws, forgotten: list[str]) -> Sender:
    client = management_client(f"{fake_aws.endpoint}/prod", "us-east-1")
    return Sender(client, on_gone=forgotten.append)


def test_framing_per_protocol() -> None:
    assert encode_event("socketio", "/", "presence:updated", {"a": 1}) == '42["presence:updated",{"a":1}]'
    assert encode_event("socketio", "/ws", "x", "é") == '42/ws,["x","é"]'
    assert encode_ack("socketio", "/ws", 7, [{"ok": True}]) == '43/ws,7[{"ok":true}]'
    assert encode_ack("socketio", "/", 456, [1, "2", {"3": [False]}]) == '43456[1,"2",{"3":[false]}]'
    assert encode_event("socketio", "/", "message-back", 1, "2") == '42["message-back",1,"2"]'
    assert json.loads(encode_event(NATIVE, "/", "x", {"a": 1})) == {"event": "x", "data": {"a": 1}}
    assert json.loads(encode_ack(NATIVE, "/", "req-1", [{"ok": True}])) == {"ack": "req-1", "data": {"ok": True}}


def test_a_lone_surrogate_is_escaped_so_every_native_frame_can_be_posted(fake_aws: FakeAws, sender: Sender) -> None:
    # JSON allows "\udfff" (a client may send it); UTF-8 cannot encode it as is.
    frame = encode_event(NATIVE, "/", "error:operation", {"operation": "\udfff", "name": "é"})
    assert json.loads(frame) == {"event": "error:operation", "data": {"operation": "\udfff", "name": "é"}}
    assert "é" in frame  # still not ASCII-escaped
    fake_aws.open.add("n1")
    assert sender.ack(Recipient("n1", NATIVE), "\ud800", [{"ok": False}]) is True
    assert json.loads(fake_aws.frames("n1")[0]) == {"ack": "\ud800", "data": {"ok": False}}


def test_endpoint_comes_from_the_api_unless_overridden() -> None:
    assert (
        management_endpoint("abc123", "eu-west-1", "prod") == "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
    )
    assert management_endpoint("abc123", "eu-west-1", "prod", "http://127.0.0.1:3001/") == "http://127.0.0.1:3001"


def test_post_reaches_a_connection_whose_id_needs_encoding(fake_aws: FakeAws, sender: Sender) -> None:
    fake_aws.open.add("Xk2mFeM5oAMCJYQ=")
    sender.post("Xk2mFeM5oAMCJYQ=", "2")
    assert fake_aws.frames("Xk2mFeM5oAMCJYQ=") == ["2"]


def test_gone_is_one_typed_error_and_deliver_forgets_the_stale_connection(
    fake_aws: FakeAws, sender: Sender, forgotten: list[str]
) -> None:
    with pytest.raises(ConnectionGone):
        sender.post("stale", "2")
    assert forgotten == []  # post never forgets: the handshake retries Gone
    assert sender.deliver("stale", "2") is False
    assert forgotten == ["stale"]


def test_throttling_is_retried(fake_aws: FakeAws, sender: Sender) -> None:
    fake_aws.open.add("c1")
    fake_aws.fail_next("c1", 429, 429)
    frame = '42["rate_limit:exceeded",{"endpoint":"operation:edit","retryAfter":1}]'  # a real event: it is checked
    assert sender.deliver("c1", frame) is True
    assert fake_aws.frames("c1") == [frame]


def test_too_large_is_reported(fake_aws: FakeAws, sender: Sender) -> None:
    fake_aws.open.add("c1")
    fake_aws.fail_next("c1", 413)
    with pytest.raises(MessageTooLarge):
        sender.post("c1", "4" + "x" * 10)


def test_broadcast_delivers_to_the_live_forgets_the_gone_and_reports_failures(
    fake_aws: FakeAws, sender: Sender, forgotten: list[str]
) -> None:
    live = [f"c{i}" for i in range(20)]
    fake_aws.open.update([*live, "big"])
    fake_aws.fail_next("big", 413)
    recipients = [Recipient(c) for c in live] + [Recipient("gone1"), Recipient("big"), Recipient("n1", NATIVE)]
    fake_aws.open.add("n1")
    applied = {"prdId": "prd_123", "seq": 2, "newVectorClock": {"server": 2}, "resync": True}
    report = sender.broadcast(recipients, "operation:applied", applied)
    assert sorted(report.delivered) == sorted([*live, "n1"])
    assert report.gone == ["gone1"] and report.failed == ["big"]
    assert forgotten == ["gone1"]
    assert fake_aws.frames("c7") == ['42["operation:applied",' + json.dumps(applied, separators=(",", ":")) + "]"]
    assert json.loads(fake_aws.frames("n1")[0])["event"] == "operation:applied"


def test_close_and_describe(fake_aws: FakeAws, sender: Sender) -> None:
    fake_aws.open.add("c1")
    assert sender.describe("c1")["Identity"]["SourceIp"] == "127.0.0.1"
    sender.close("c1")
    assert fake_aws.deleted == ["c1"]
    assert sender.describe("c1") is None
    sender.close("c1")  # closing a closed connection is not an error
