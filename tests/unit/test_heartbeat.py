"""The heartbeat's decision for one connection, as a pure function of its record and the time."""

from __future__ import annotations

from prdtool.heartbeat import Action, Decision, decide, first_sweep_at
from prdtool.settings import Settings
from prdtool.store import ConnectionRecord

S = Settings(connections_table="t", ping_interval_ms=60_000, ping_timeout_ms=90_000, connect_timeout_ms=45_000)


def rec(**kw: object) -> ConnectionRecord:
    return ConnectionRecord("c1", protocol="socketio", connected_at=0, **kw)


def test_a_new_connection_is_first_looked_at_by_its_connect_deadline_or_first_ping() -> None:
    assert first_sweep_at(1_000, S) == 46_000
    assert (
        first_sweep_at(1_000, Settings(connections_table="t", ping_interval_ms=300, connect_timeout_ms=1000)) == 1_300
    )


def test_never_connected_is_closed_at_the_deadline_and_not_before() -> None:
    pending = rec(connect_deadline=45_000)
    assert decide(pending, 44_999, S) == Decision(Action.PING, 45_000)  # ping due within half an interval
    assert decide(pending, 45_000, S) == Decision(Action.CLOSE_NEVER_CONNECTED)
    connected = rec(connect_deadline=45_000, namespaces={"/"})
    assert decide(connected, 45_000, S).action is Action.PING


def test_pings_go_out_up_to_half_an_interval_early_never_late() -> None:
    r = rec(namespaces={"/"}, last_ping_at=0, last_pong_at=100)
    assert decide(r, 30_000, S) == Decision(Action.WAIT, 60_100)
    assert decide(r, 30_100, S) == Decision(Action.PING, 120_100)  # the pong deadline is next
    assert decide(r, 500_000, S) == Decision(Action.PING, 590_000)


def test_a_missing_pong_closes_once_the_timeout_has_passed() -> None:
    r = rec(namespaces={"/"}, last_ping_at=60_000, last_pong_at=100)
    assert decide(r, 149_999, S) == Decision(Action.WAIT, 150_000)
    assert decide(r, 150_000, S) == Decision(Action.CLOSE_PONG_OVERDUE)


def test_the_connect_deadline_caps_every_wait_while_pending() -> None:
    r = rec(connect_deadline=45_000, last_ping_at=20_000)
    assert decide(r, 21_000, S) == Decision(Action.WAIT, 45_000)
