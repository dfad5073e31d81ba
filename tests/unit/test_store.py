"""Connection records under moto: the conditional writes and the sweep index."""

from __future__ import annotations

import pytest
from pynamodb.exceptions import PutError

from prdtool.kernel.auth import Principal
from prdtool.kernel.connections import ConnectionRecord, ConnectionStore, ConnectOutcome, UpgradeAuth, bind_tables
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.settings import Settings


@pytest.fixture
def store(settings: Settings) -> ConnectionStore:
    bind_tables(settings)
    return ConnectionStore()


def record(connection_id: str, sweep_at: int | None = 1_000) -> ConnectionRecord:
    return ConnectionRecord(connection_id, protocol="socketio", connected_at=0, sweep_at=sweep_at)


def test_a_connection_id_is_stored_once(store: ConnectionStore) -> None:
    store.add(record("c1"))
    with pytest.raises(PutError):
        store.add(record("c1"))
    assert store.get("c1").expires_at is not None


def test_updates_never_resurrect_a_removed_connection(store: ConnectionStore) -> None:
    assert store.record_pong("ghost", 5, 10) is False
    assert store.get("ghost") is None
    store.add(record("c1"))
    store.remove("c1")
    store.remove("c1")  # idempotent
    assert store.connect_namespace("c1", "/", Principal("u1", "U"), "sid") is ConnectOutcome.GONE
    assert store.get("c1") is None


def test_connect_ping_and_pong_move_the_sweep_time(store: ConnectionStore) -> None:
    r = record("c1")
    r.connect_deadline = 45_000
    store.add(r)
    assert store.connect_namespace("c1", "/ws", Principal("u1", "Ada", None, ("admin",)), "sid1") is (
        ConnectOutcome.CONNECTED
    )
    r = store.get("c1")
    assert (r.namespaces, r.principal, r.socket_sid, r.connect_deadline) == (
        {"/ws"},
        Principal("u1", "Ada", None, ("admin",)),
        "sid1",
        None,
    )
    store.record_ping("c1", 60_000, 150_000)
    assert store.get("c1").awaiting_pong
    store.record_pong("c1", 60_100, 120_100)
    r = store.get("c1")
    assert not r.awaiting_pong and r.sweep_at == 120_100


def test_due_for_sweep_returns_only_what_is_due_from_every_shard(store: ConnectionStore) -> None:
    for i in range(40):
        store.add(record(f"due{i}", sweep_at=1_000 + i))
        store.add(record(f"later{i}", sweep_at=10_000 + i))
    store.add(record("native", sweep_at=None))  # not in the sparse index
    due = {r.connection_id for r in store.due_for_sweep(by=5_000)}
    assert due == {f"due{i}" for i in range(40)}


def test_a_connection_keeps_the_user_its_first_connect_established(store: ConnectionStore) -> None:
    store.add(record("c1"))
    first = Principal("u1", "Ada", "https://img/a.png", ("admin",), expires_at=5_000)
    assert store.connect_namespace("c1", "/", first, "sid1") is ConnectOutcome.CONNECTED
    # Another user's CONNECT on another namespace: the write's condition refuses it, whatever
    # the caller read before.
    other = Principal("u2", "Mallory", None, ("admin",), expires_at=9_000)
    assert store.connect_namespace("c1", "/ws", other, "sid1") is ConnectOutcome.OTHER_USER
    r = store.get("c1")
    assert (r.namespaces, r.principal) == ({"/"}, first)
    # The same user again (a fresher token): what the token says is refreshed.
    again = Principal("u1", "Ada L.", None, (), expires_at=8_000)
    assert store.connect_namespace("c1", "/ws", again, "sid1") is ConnectOutcome.CONNECTED
    r = store.get("c1")
    assert (r.namespaces, r.principal) == ({"/", "/ws"}, again)


def test_what_the_upgrade_token_proved_round_trips_without_the_token(store: ConnectionStore) -> None:
    proved = Principal("u1", "Ada", "https://img/a.png", ("admin",), expires_at=5_000)
    refused = AppError(ErrorCode.UNAUTHORIZED, "Token expired", {"reason": "token_expired"})
    for cid, result in (("c1", proved), ("c2", refused)):
        r = record(cid)
        r.upgrade_auth = UpgradeAuth.of(result)
        store.add(r)
    assert store.get("c1").upgrade_identity == proved
    back = store.get("c2").upgrade_identity
    assert isinstance(back, AppError)
    assert (back.code, back.message, back.data) == (refused.code, refused.message, refused.data)
    assert store.get("c1").user_id is None  # nothing is established before CONNECT
