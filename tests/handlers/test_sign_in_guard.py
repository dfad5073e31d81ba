"""Failed sign-ins through the real $connect and gateway functions, against moto: an address that
keeps sending bad tokens is banned (native $connect and Socket.IO CONNECT alike), the user its
tokens claimed is alerted once, other addresses go on; and a user's ended sessions stay ended."""

from __future__ import annotations

import json
import time

import boto3

from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.rooms import client, events
from tests.support import make_token

ATTACKER = "198.51.100.9"


def native(stack: Stack, token: str, source_ip: str = ATTACKER) -> dict:
    return stack.connect(headers={"Authorization": f"Bearer {token}"}, source_ip=source_ip)[1]


def test_sixteen_bad_tokens_from_one_address_ban_it_and_alert_the_user_they_claimed(
    stack: Stack, fake_aws: FakeAws
) -> None:
    victim = client(stack, fake_aws, "user_v", "Vera")  # signed in elsewhere
    forged = make_token(b"not-the-secret-but-long-enough-for-hs256!", sub="user_v")
    answers = [native(stack, forged)["statusCode"] for _ in range(16)]
    assert answers == [401] * 16
    [alert] = events(fake_aws, victim, "security:alert")
    assert alert["type"] == "suspicious_activity" and alert["action"] == "address_blocked"
    assert alert["message"] == "Multiple failed authentication attempts detected" and "blockedUntil" in alert
    # Banned: even a good token from that address is refused, with why and for how long.
    refused = native(stack, make_token(sub="user_v"))
    assert refused["statusCode"] == 429 and "try again in 300 s" in refused["body"]
    # Another address is not touched; the victim is told once, not on every further try.
    assert native(stack, make_token(sub="user_w"), source_ip="203.0.113.50")["statusCode"] == 200
    native(stack, forged)
    assert events(fake_aws, victim, "security:alert") == []
    # The ban ends.
    stack.clock.advance(301)
    assert native(stack, make_token(sub="user_v"))["statusCode"] == 200


def test_fifteen_failures_in_a_minute_are_not_a_ban_and_old_ones_stop_counting(stack: Stack) -> None:
    forged = make_token(b"not-the-secret-but-long-enough-for-hs256!", sub="user_v")
    for _ in range(15):
        assert native(stack, forged)["statusCode"] == 401
    assert native(stack, make_token(sub="user_v"))["statusCode"] == 200
    for _ in range(3):  # an address failing slowly for long: never banned, and its record stays small
        stack.clock.advance(61)  # the earlier ones are out of the window now
        for _ in range(15):
            assert native(stack, forged)["statusCode"] == 401
        assert native(stack, make_token(sub="user_v"))["statusCode"] == 200
    kept = (
        boto3.resource("dynamodb")
        .Table(stack.settings.security_table)
        .get_item(Key={"security_key": f"address#{ATTACKER}"})
    )
    assert len(kept["Item"]["failures"]) <= 31


def test_socketio_connects_with_bad_tokens_count_and_a_banned_address_is_refused_at_connect(
    stack: Stack, fake_aws: FakeAws
) -> None:
    for _ in range(16):
        sid = stack.socketio_client(source_ip=ATTACKER)
        stack.send(sid, "40" + json.dumps({"token": "not.a.token"}))
        [refused] = fake_aws.take(sid)
        assert refused.startswith("44{") and "UNAUTHORIZED" in refused
    # $connect now refuses the address outright.
    _, answer = stack.connect({"EIO": "4", "transport": "websocket"}, source_ip=ATTACKER)
    assert answer["statusCode"] == 429
    sid = stack.socketio_client(source_ip="203.0.113.50")  # a socket from elsewhere is fine
    stack.send(sid, "40" + json.dumps({"token": make_token(sub="user_ok")}))
    assert fake_aws.take(sid)[0].startswith("40{")


def test_tokens_issued_before_a_users_sessions_were_ended_are_refused(stack: Stack, fake_aws: FakeAws) -> None:
    now_s = int(time.time())
    old, fresh = make_token(sub="user_e", iat=now_s - 60), make_token(sub="user_e", iat=now_s + 1)
    stack.functions["gateway"].services.security.end_sessions("user_e", now_s * 1000)
    sid = stack.socketio_client()
    stack.send(sid, "40" + json.dumps({"token": old}))
    [refused] = fake_aws.take(sid)
    assert refused.startswith("44{") and "session_terminated" in refused
    assert native(stack, old, source_ip="203.0.113.60")["statusCode"] == 401
    stack.send(sid, "40" + json.dumps({"token": fresh}))
    assert fake_aws.take(sid)[0].startswith("40{")


def test_expired_and_missing_tokens_are_clients_to_fix_not_attacks(stack: Stack, fake_aws: FakeAws) -> None:
    victim = client(stack, fake_aws, "user_v", "Vera")
    expired = make_token(sub="user_v", ttl=-600)
    for _ in range(20):
        assert native(stack, expired)["statusCode"] == 401
        assert stack.connect(source_ip=ATTACKER)[1]["statusCode"] == 401  # no token at all
    assert native(stack, make_token(sub="user_v"))["statusCode"] == 200
    assert events(fake_aws, victim, "security:alert") == []
