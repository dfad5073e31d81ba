"""The heartbeat's decision for one connection, as a pure function of its record and the time."""

from __future__ import annotations

from prdtool.kernel.connections import ConnectionRecord
from prdtool.kernel.heartbeat import Action, Decision, TokenNotice, decide, sweep_after_open, token_notice
from prdtool.kernel.settings import Settings

S = Settings(connections_table="t", ping_interval_ms=60_000, ping_timeout_ms=90_000, connect_timeout_ms=45_000)


def rec(**kw: object) -> ConnectionRecord:
    return ConnectionRecord("c1", protocol="socketio", connected_at=0, **kw)


def test_after_open_the_first_look_is_the_first_ping_or_the_connect_deadline() -> None:
    assert sweep_after_open(1_000, 45_000, S) == 45_000
    assert sweep_after_open(1_000, None, S) == 61_000
    assert sweep_after_open(1_000, 90_000, S) == 61_000


def test_nothing_is_pinged_before_the_open_packet_went_out() -> None:
    assert decide(rec(connect_deadline=45_000), 40_000, S) == Decision(Action.WAIT, 45_000)
    assert decide(rec(connect_deadline=45_000), 45_000, S) == Decision(Action.CLOSE_NEVER_CONNECTED)


def test_never_connected_is_closed_at_the_deadline_and_not_before() -> None:
    pending = rec(connect_deadline=45_000, opened_at=0)
    assert decide(pending, 44_999, S) == Decision(Action.PING, 45_000)  # ping due within half an interval
    assert decide(pending, 45_000, S) == Decision(Action.CLOSE_NEVER_CONNECTED)
    connected = rec(connect_deadline=45_000, namespaces={"/"}, opened_at=0)
    assert decide(connected, 45_000, S).action is Action.PING


def test_pings_go_out_up_to_half_an_interval_early_never_late() -> None:
    r = rec(namespaces={"/"}, opened_at=0, last_ping_at=0, last_pong_at=100)
    assert decide(r, 30_000, S) == Decision(Action.WAIT, 60_100)
    assert decide(r, 30_100, S) == Decision(Action.PING, 120_100)  # the pong deadline is next
    assert decide(r, 500_000, S) == Decision(Action.PING, 590_000)


def test_a_missing_pong_closes_once_the_timeout_has_passed() -> None:
    r = rec(namespaces={"/"}, opened_at=0, last_ping_at=60_000, last_pong_at=100)
    assert decide(r, 149_999, S) == Decision(Action.WAIT, 150_000)
    assert decide(r, 150_000, S) == Decision(Action.CLOSE_PONG_OVERDUE)


def test_the_connect_deadline_caps_every_wait_while_pending() -> None:
    r = rec(connect_deadline=45_000, opened_at=0, last_ping_at=20_000)
    assert decide(r, 21_000, S) == Decision(Action.WAIT, 45_000)


def test_a_token_is_warned_of_once_inside_the_warning_and_ends_when_it_has_expired() -> None:
    settings = Settings(connections_table="t", token_warning_s=120)

    def expired(expires_at: int, now: int) -> bool:
        return now >= expires_at + 5_000  # the verifier's leeway

    exp = 1_000_000
    assert token_notice(rec(user_id="u", token_expires_at=exp), exp - 120_001, settings, expired) is None
    assert (
        token_notice(rec(user_id="u", token_expires_at=exp), exp - 120_000, settings, expired) is TokenNotice.EXPIRING
    )
    warned = rec(user_id="u", token_expires_at=exp, expiry_warned=exp)
    assert token_notice(warned, exp - 1, settings, expired) is None
    assert token_notice(warned, exp + 4_999, settings, expired) is None
    assert token_notice(warned, exp + 5_000, settings, expired) is TokenNotice.EXPIRED
    # A fresh token (another exp) is warned of again; no token, or no user yet: nothing.
    assert (
        token_notice(rec(user_id="u", token_expires_at=exp * 2, expiry_warned=exp), exp * 2 - 1, settings, expired)
        is TokenNotice.EXPIRING
    )
    assert token_notice(rec(user_id="u"), exp, settings, expired) is None
    assert token_notice(rec(token_expires_at=exp), exp + 10_000, settings, expired) is None
