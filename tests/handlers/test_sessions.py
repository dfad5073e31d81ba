"""Ending and renewing sessions through the gateway and the heartbeat, against moto: a terminated
session's token is refused from then on and its connections are told and closed; a token about
to expire is warned of, renewed in place with ``session:refresh`` (the rooms stay), or the
connection is closed once it has expired."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, events
from tests.support import make_token


def connected(stack: Stack, fake: FakeAws, token: str) -> str:
    sid = stack.socketio_client()
    stack.send(sid, "40" + json.dumps({"token": token}))
    assert fake.take(sid)[0].startswith("40{")
    return sid


def refused_at_connect(stack: Stack, fake: FakeAws, token: str) -> dict[str, Any]:
    sid = stack.socketio_client()
    stack.send(sid, "40" + json.dumps({"token": token}))
    [frame] = fake.take(sid)
    assert frame.startswith("44"), frame
    return json.loads(frame[2:])


def ended(stack: Stack, fake: FakeAws, connection_id: str) -> dict[str, Any]:
    """The alert a connection got before it was closed (with a Socket.IO DISCONNECT)."""
    frames = fake.take(connection_id)
    assert frames[-1] == "41" and connection_id in fake.deleted, frames
    [alert] = [json.loads(f[2:])[1] for f in frames if f.startswith('42["security:alert"')]
    return alert


def test_ending_this_session_refuses_its_token_and_closes_it_after_the_ack(stack: Stack, fake_aws: FakeAws) -> None:
    now = int(time.time())
    laptop_token, phone_token = make_token(sub="user_t", jti="laptop", iat=now), make_token(sub="user_t", iat=now)
    laptop, phone = connected(stack, fake_aws, laptop_token), connected(stack, fake_aws, phone_token)
    ack_id = 7
    stack.send(laptop, f"42{ack_id}" + json.dumps(["session:terminate", {}]))
    frames = fake_aws.take(laptop)
    assert json.loads(frames[0][len(f"43{ack_id}") :]) == [
        {"ok": True, "userId": "user_t", "allDevices": False, "sessionsEnded": 1}
    ]  # the ack first, then the alert, then the close
    assert frames[1].startswith('42["security:alert"') and frames[-1] == "41" and laptop in fake_aws.deleted
    assert json.loads(frames[1][2:])[1] == {
        "type": "session_terminated", "action": "session_terminated",
        "message": "This session was ended at your request",
    }  # fmt: skip
    assert phone not in fake_aws.deleted
    refused = refused_at_connect(stack, fake_aws, laptop_token)
    assert refused["data"] == {"code": "UNAUTHORIZED", "reason": "session_terminated"}
    connected(stack, fake_aws, phone_token)  # another device's token is not this session's


def test_ending_every_session_closes_each_device_and_refuses_every_earlier_token(
    stack: Stack, fake_aws: FakeAws
) -> None:
    now = int(time.time())
    old = make_token(sub="user_t", iat=now - 10)
    laptop, phone = connected(stack, fake_aws, old), connected(stack, fake_aws, old)
    stack.clock.now = now * 1000
    answer = call(stack, fake_aws, laptop, "session:terminate", {"allDevices": True})
    assert answer == {"ok": True, "userId": "user_t", "allDevices": True, "sessionsEnded": 2}
    assert ended(stack, fake_aws, phone)["message"] == "All your sessions were ended at your request"
    assert laptop in fake_aws.deleted
    assert refused_at_connect(stack, fake_aws, old)["data"]["reason"] == "session_terminated"
    connected(stack, fake_aws, make_token(sub="user_t", iat=now + 1))  # signed in again afterwards


def test_only_an_admin_ends_another_users_sessions(stack: Stack, fake_aws: FakeAws) -> None:
    now = int(time.time())
    victim = connected(stack, fake_aws, make_token(sub="user_v", iat=now - 10))
    bob = connected(stack, fake_aws, make_token(sub="user_b"))
    refused = call(stack, fake_aws, bob, "session:terminate", {"userId": "user_v"})
    assert refused["error"]["code"] == "FORBIDDEN" and victim not in fake_aws.deleted
    admin = connected(stack, fake_aws, make_token(sub="user_admin", roles=["admin"]))
    stack.clock.now = now * 1000
    answer = call(stack, fake_aws, admin, "session:terminate", {"userId": "user_v"})
    assert answer == {"ok": True, "userId": "user_v", "allDevices": True, "sessionsEnded": 1}
    assert ended(stack, fake_aws, victim)["message"] == "All your sessions were ended by an administrator"
    assert admin not in fake_aws.deleted


def test_an_expiring_token_is_warned_of_renewed_in_place_and_the_room_stays(
    stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str]
) -> None:
    prd_id, _, _ = prd
    now_s = int(time.time())
    stack.clock.now = now_s * 1000  # tokens are verified against the real clock
    short = make_token(sub="user_b", name="Bob", iat=now_s, exp=now_s + 100)  # inside the 120 s warning
    sid = connected(stack, fake_aws, short)
    call(stack, fake_aws, sid, "document:join", {"prdId": prd_id, "mode": "edit"})
    stack.clock.advance(61)
    stack.heartbeat()
    [warning] = events(fake_aws, sid, "session:expiring")
    assert warning["refreshWith"] == "session:refresh" and warning["expiresAt"].endswith("Z")
    stack.clock.advance(30)
    stack.heartbeat()
    assert events(fake_aws, sid, "session:expiring") == []  # once per token
    # Expired now (the next sweep would close the connection): events are refused, but a fresh
    # token of the same user is taken.
    stack.clock.advance(20)
    assert call(stack, fake_aws, sid, "session:info", {})["error"]["data"]["reason"] == "token_expired"
    other = call(stack, fake_aws, sid, "session:refresh", {"token": make_token(sub="user_x")})
    assert other["error"]["code"] == "UNAUTHORIZED" and other["error"]["data"]["reason"] == "other_user"
    assert events(fake_aws, sid, "error:auth")[0]["data"]["reason"] == "other_user"
    fresh = make_token(sub="user_b", name="Bob", iat=now_s, exp=now_s + 3600)
    renewed = call(stack, fake_aws, sid, "session:refresh", {"token": fresh})
    assert renewed["ok"] and renewed["userId"] == "user_b"
    assert call(stack, fake_aws, sid, "session:info", {})["ok"]
    assert prd_id in stack.store.get(sid).joined
    stack.heartbeat()
    assert sid not in fake_aws.deleted


def test_a_token_that_expires_unrenewed_ends_the_connection_at_the_next_sweep(stack: Stack, fake_aws: FakeAws) -> None:
    now_s = int(time.time())
    stack.clock.now = now_s * 1000  # tokens are verified against the real clock
    sid = connected(stack, fake_aws, make_token(sub="user_b", iat=now_s, exp=now_s + 30))
    stack.clock.advance(61)
    stack.heartbeat()
    frames = fake_aws.take(sid)
    assert frames[-1] == "41" and sid in fake_aws.deleted and stack.store.get(sid) is None
    [told] = [json.loads(f[2:])[1] for f in frames if f.startswith('42["error:auth"')]
    assert told == {"code": "UNAUTHORIZED", "message": "Token expired", "data": {"reason": "token_expired"}}


def test_ending_this_session_closes_the_other_tabs_signed_in_with_the_same_token(
    stack: Stack, fake_aws: FakeAws
) -> None:
    token, other = make_token(sub="user_t", jti="tab-token"), make_token(sub="user_t", jti="phone-token")
    first, second, phone = (connected(stack, fake_aws, t) for t in (token, token, other))
    answer = call(stack, fake_aws, first, "session:terminate", {})
    assert answer["sessionsEnded"] == 2
    assert ended(stack, fake_aws, second)["type"] == "session_terminated"
    assert first in fake_aws.deleted and phone not in fake_aws.deleted


def test_a_native_clients_expiring_token_is_warned_of_and_ended_too(stack: Stack, fake_aws: FakeAws) -> None:
    now_s = int(time.time())
    stack.clock.now = now_s * 1000
    token = make_token(sub="user_n", iat=now_s, exp=now_s + 100)
    native, answer = stack.connect(headers={"Authorization": f"Bearer {token}"})
    assert answer["statusCode"] == 200
    stack.clock.advance(61)
    stack.heartbeat()
    [frame] = fake_aws.take(native)
    assert json.loads(frame)["event"] == "session:expiring"
    stack.clock.advance(61)
    stack.heartbeat()
    assert native in fake_aws.deleted and stack.store.get(native) is None


def test_a_token_without_iat_is_judged_by_its_expiry_after_its_users_sessions_were_ended(
    stack: Stack, fake_aws: FakeAws
) -> None:
    now_s = int(time.time())
    security = stack.functions["gateway"].services.security
    security.end_sessions("user_i", now_s * 1000)
    no_iat = jwt_without_iat(sub="user_i", exp=now_s + 3600)
    assert refused_at_connect(stack, fake_aws, no_iat)["data"]["reason"] == "session_terminated"
    long_lived = jwt_without_iat(sub="user_i", exp=now_s + 2 * 86_400)  # could not be out at the termination
    connected(stack, fake_aws, long_lived)


def jwt_without_iat(**claims: Any) -> str:
    import jwt

    from tests.support import SECRET

    return jwt.encode({"name": "No Iat", **claims}, SECRET, algorithm="HS256")
