"""Engine.IO long-polling through the real polling function, against moto: the handshake, packets
POSTed into the same router as WebSocket frames, GETs that drain the session's outbox in order,
Engine.IO's errors, and a polling client in a room with a WebSocket client."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from prdtool.kernel.connections import ConnectionRecord
from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, client, events
from tests.support import make_token

RS = "\x1e"


@pytest.fixture(autouse=True)
def _short_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLL_WAIT_S", "1")  # a GET with nothing to answer NOOPs after 1 s


def http(
    stack: Stack, method: str, query: dict[str, str], body: str = "", headers: dict[str, str] | None = None
) -> dict:
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": "$default", "rawPath": "/socket.io/",
        "queryStringParameters": {"EIO": "4", "transport": "polling", **query},
        "headers": headers or {}, "body": body, "isBase64Encoded": False,
        "requestContext": {"http": {"method": method, "path": "/socket.io/", "sourceIp": "198.51.100.20"},
                           "routeKey": "$default", "stage": "$default", "timeEpoch": stack.clock()},
    }  # fmt: skip
    answer: dict = stack.invoke("polling", event)
    return answer


def handshake(stack: Stack) -> str:
    answer = http(stack, "GET", {})
    assert answer["statusCode"] == 200 and answer["body"].startswith("0{"), answer
    opened = json.loads(answer["body"][1:])
    assert opened["upgrades"] == [] and opened["maxPayload"] == stack.settings.max_message_bytes
    return str(opened["sid"])


def poll(stack: Stack, sid: str) -> list[str]:
    answer = http(stack, "GET", {"sid": sid})
    assert answer["statusCode"] == 200, answer
    return [p for p in answer["body"].split(RS) if p != "6"]


def test_a_polling_client_connects_asks_and_gets_its_answers_in_order(stack: Stack) -> None:
    sid = handshake(stack)
    token = make_token(sub="user_p", name="Polly")
    assert http(stack, "POST", {"sid": sid}, "40" + json.dumps({"token": token}))["body"] == "ok"
    [connected] = poll(stack, sid)
    assert connected.startswith("40{") and '"sid"' in connected
    frames = RS.join(f'421{n}["session:info",{{}}]' for n in range(3))  # three events in one POST
    assert http(stack, "POST", {"sid": sid}, frames)["body"] == "ok"
    acks = poll(stack, sid)
    assert [a[:5] for a in acks] == ["4310[", "4311[", "4312["]
    assert json.loads(acks[0][4:])[0]["userId"] == "user_p" and json.loads(acks[0][4:])[0]["protocol"] == "socketio"
    assert poll(stack, sid) == []  # delivered once: the next GET has nothing (a NOOP after its wait)


def test_engineio_errors_are_what_clients_expect(stack: Stack) -> None:
    assert json.loads(http(stack, "GET", {"sid": "no-such-session"})["body"]) == {
        "code": 1,
        "message": "Session ID unknown",
    }
    assert http(stack, "GET", {"transport": "carrier-pigeon"})["statusCode"] == 400
    assert json.loads(http(stack, "GET", {"transport": "carrier-pigeon"})["body"])["code"] == 0
    assert json.loads(http(stack, "POST", {})["body"]) == {"code": 2, "message": "Bad handshake method"}
    assert json.loads(http(stack, "GET", {"EIO": "3"})["body"])["code"] == 5
    sid = handshake(stack)
    too_big = http(stack, "POST", {"sid": sid}, "4" + "x" * stack.settings.max_message_bytes)
    assert too_big["statusCode"] == 413
    assert json.loads(http(stack, "POST", {"sid": sid}, "not a packet")["body"]) == {
        "code": 3,
        "message": "Bad request",
    }


def test_a_second_get_while_one_holds_the_session_ends_it(stack: Stack, fake_aws: FakeAws) -> None:
    sid = handshake(stack)
    # A GET holds the session (as one waiting right now would).
    ConnectionRecord(f"polling:{sid}").update(
        actions=[ConnectionRecord.poll_holder.set("another"), ConnectionRecord.poll_until.set(stack.clock() + 60_000)]
    )
    assert json.loads(http(stack, "GET", {"sid": sid})["body"]) == {"code": 3, "message": "Bad request"}
    # The session ended: the next GET gets its CLOSE (once), every later one "Session ID unknown".
    assert http(stack, "GET", {"sid": sid})["body"] == "1"
    assert json.loads(http(stack, "GET", {"sid": sid})["body"])["code"] == 1


def test_a_client_that_closes_ends_the_get_waiting_with_a_noop(stack: Stack, fake_aws: FakeAws) -> None:
    sid = handshake(stack)
    waiting: list[dict] = []
    get = threading.Thread(target=lambda: waiting.append(http(stack, "GET", {"sid": sid})))
    get.start()
    held = ConnectionRecord(f"polling:{sid}")
    while held.poll_holder is None:  # the GET holds the session: it is waiting now
        held.refresh(consistent_read=True)
    assert http(stack, "POST", {"sid": sid}, "1")["body"] == "ok"  # Engine.IO's CLOSE, from the client
    get.join()
    assert waiting[0]["statusCode"] == 200 and waiting[0]["body"] == "6"  # answered at once, not after its wait
    assert json.loads(http(stack, "GET", {"sid": sid})["body"]) == {"code": 1, "message": "Session ID unknown"}


def test_a_get_that_comes_after_the_close_gets_the_sessions_last_frame_once(stack: Stack) -> None:
    sid = handshake(stack)
    assert http(stack, "POST", {"sid": sid}, "1")["body"] == "ok"
    assert http(stack, "GET", {"sid": sid})["body"] == "6"
    assert json.loads(http(stack, "GET", {"sid": sid})["body"])["code"] == 1


def test_a_server_ended_session_gets_its_last_frames_then_close(stack: Stack) -> None:
    sid = handshake(stack)
    http(stack, "POST", {"sid": sid}, "40" + json.dumps({"token": make_token(sub="user_p", name="Polly")}))
    # The server ends it (here: the client asked for its sessions to end, as session:terminate does).
    http(stack, "POST", {"sid": sid}, "421" + json.dumps(["session:terminate", {}]))
    frames = http(stack, "GET", {"sid": sid})["body"].split(RS)
    assert frames[0].startswith("40{") and frames[-1] == "1"  # CONNECT's answer, ..., then Engine.IO's CLOSE
    assert json.loads(http(stack, "GET", {"sid": sid})["body"])["code"] == 1


def test_a_websocket_cannot_take_over_a_polling_session(stack: Stack) -> None:
    sid = handshake(stack)
    _, refused = stack.connect({"EIO": "4", "transport": "websocket", "sid": sid})
    assert refused["statusCode"] == 400 and "not offered" in refused["body"]
    assert http(stack, "POST", {"sid": sid}, "3")["body"] == "ok"  # the polling session is untouched


def test_a_polling_client_and_a_websocket_client_share_a_room(stack: Stack, fake_aws: FakeAws) -> None:
    ann = client(stack, fake_aws, "user_ann", "Ann")
    prd_id = call(stack, fake_aws, ann, "document:create", {"title": "Mixed", "content": "Hello"})["prdId"]
    call(stack, fake_aws, ann, "document:share", {"prdId": prd_id, "userId": "user_p", "role": "editor"})
    joined = call(stack, fake_aws, ann, "document:join", {"prdId": prd_id, "mode": "edit"})
    sid = handshake(stack)
    http(stack, "POST", {"sid": sid}, "40" + json.dumps({"token": make_token(sub="user_p", name="Polly")}))
    poll(stack, sid)
    http(stack, "POST", {"sid": sid}, "421" + json.dumps(["document:join", {"prdId": prd_id, "mode": "edit"}]))
    got = poll(stack, sid)
    ack = json.loads(next(p for p in got if p.startswith("431"))[3:])[0]
    assert ack["ok"] and ack["currentContent"] == "Hello"
    fake_aws.take(ann)
    # The WebSocket client edits: the polling client hears of it at its next GET.
    clock = {**joined["vectorClock"], joined["clockKey"]: joined["vectorClock"].get(joined["clockKey"], 0) + 1}
    op = {"type": "insert", "position": 5, "content": " world", "vectorClock": clock}
    assert call(stack, fake_aws, ann, "operation:edit", {"prdId": prd_id, "operation": op})["ok"]
    applied = [json.loads(p[2:]) for p in poll(stack, sid) if p.startswith('42["operation:applied"')]
    assert applied and applied[0][1]["operation"]["content"] == " world"
    # The polling client edits: the WebSocket client gets operation:applied.
    mine = {"type": "insert", "position": 0, "content": "> ", "vectorClock": {**ack["vectorClock"], **clock,
            ack["clockKey"]: ack["vectorClock"].get(ack["clockKey"], 0) + 1}}  # fmt: skip
    http(stack, "POST", {"sid": sid}, "422" + json.dumps(["operation:edit", {"prdId": prd_id, "operation": mine}]))
    assert any(p.startswith("432[") and json.loads(p[3:])[0]["ok"] for p in poll(stack, sid))
    [seen] = events(fake_aws, ann, "operation:applied")
    assert seen["operation"]["content"] == "> "


def test_a_waiting_get_pings_its_session_when_the_ping_is_due(stack: Stack) -> None:
    sid = handshake(stack)
    http(stack, "POST", {"sid": sid}, "40" + json.dumps({"token": make_token(sub="user_p", name="Polly")}))
    poll(stack, sid)  # CONNECT's answer
    # Not due yet (the sweep would not ping either): the GET has nothing, and pings nobody.
    assert http(stack, "GET", {"sid": sid})["body"] == "6"
    stack.clock.advance(stack.settings.ping_interval_ms / 1000)
    # Due now: the GET waiting pings on the spot, with no sweep, and the record says a ping is out.
    assert http(stack, "GET", {"sid": sid})["body"] == "2"
    assert ConnectionRecord.get(f"polling:{sid}").awaiting_pong
    assert http(stack, "GET", {"sid": sid})["body"] == "6"  # one ping out at a time
    assert http(stack, "POST", {"sid": sid}, "3")["body"] == "ok"
    assert not ConnectionRecord.get(f"polling:{sid}").awaiting_pong
