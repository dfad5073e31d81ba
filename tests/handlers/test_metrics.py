"""Live metrics through the real functions, against moto: the count of open connections follows
connects and disconnects, the events the gateway handles are counted per minute, only admins
may subscribe, and the metrics function publishes ``metrics:realtime`` to the subscribers."""

from __future__ import annotations

import pytest

from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, client, events

FIELDS = {"activeConnections", "operationsPerSecond", "averageLatency", "memoryUsage", "timestamp"}


def test_only_an_admin_subscribes_and_the_ack_counts_the_open_connections(stack: Stack, fake_aws: FakeAws) -> None:
    ann = client(stack, fake_aws, "user_ann", "Ann")
    refused = call(stack, fake_aws, ann, "metrics:subscribe", {})
    assert refused["error"]["code"] == "FORBIDDEN"
    others = [client(stack, fake_aws, f"user_{n}") for n in range(3)]
    admin = client(stack, fake_aws, "user_admin", "Ops", roles=["admin"])
    answer = call(stack, fake_aws, admin, "metrics:subscribe", {})
    assert answer["ok"] and set(answer["metrics"]) == FIELDS and answer["intervalSeconds"] == 5
    assert answer["metrics"]["activeConnections"] == 5
    stack.disconnect(others[0])
    stack.disconnect(others[0])  # a second $disconnect for the same connection counts nothing
    assert call(stack, fake_aws, admin, "metrics:subscribe", {})["metrics"]["activeConnections"] == 4


def test_the_events_a_gateway_handles_are_counted_and_published_to_subscribers(
    stack: Stack, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METRICS_RUN_S", "0")  # one publication per run, as the local runtime's fast schedule
    admin = client(stack, fake_aws, "user_admin", "Ops", roles=["admin"])
    typist = client(stack, fake_aws, "user_t", "Tess")
    before = call(stack, fake_aws, admin, "metrics:subscribe", {})["metrics"]["operationsPerSecond"]
    stack.clock.advance(6)
    for _ in range(30):
        assert call(stack, fake_aws, typist, "session:info", {})["ok"]
    stack.clock.advance(6)  # the gateway writes its sums every few seconds, with its next event
    call(stack, fake_aws, typist, "session:info", {})
    stack.invoke("metrics", {})
    [published] = events(fake_aws, admin, "metrics:realtime")
    assert set(published) == FIELDS and published["activeConnections"] == 2
    assert published["operationsPerSecond"] > before and published["operationsPerSecond"] >= 30 / 60
    assert events(fake_aws, typist, "metrics:realtime") == []
    assert call(stack, fake_aws, admin, "metrics:unsubscribe", {})["ok"]
    stack.invoke("metrics", {})
    assert events(fake_aws, admin, "metrics:realtime") == []


def test_a_subscriber_that_disconnected_is_forgotten(
    stack: Stack, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METRICS_RUN_S", "0")
    admin = client(stack, fake_aws, "user_admin", "Ops", roles=["admin"])
    assert call(stack, fake_aws, admin, "metrics:subscribe", {})["ok"]
    stack.disconnect(admin)
    assert stack.functions["gateway"].services.figures.subscribers() == []
    assert stack.invoke("metrics", {})["told"] == 0


def test_a_connection_is_never_refused_for_its_count(
    stack: Stack, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prdtool.kernel import connections

    admin = client(stack, fake_aws, "user_admin", "Ops", roles=["admin"])

    def conflicted(write: object) -> bool:
        raise RuntimeError("TransactionConflict, again and again")

    monkeypatch.setattr(connections, "_transact", conflicted)
    other = client(stack, fake_aws, "user_x")  # recorded without the transaction, counted on its own
    assert call(stack, fake_aws, admin, "metrics:subscribe", {})["metrics"]["activeConnections"] == 2
    stack.disconnect(other)
    assert stack.store.get(other) is None
    assert call(stack, fake_aws, admin, "metrics:subscribe", {})["metrics"]["activeConnections"] == 1


def test_sums_that_cannot_be_written_fail_no_frame_and_are_not_retried_on_each(
    stack: Stack, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prdtool.kernel.activity import Activity

    tries: list[int] = []

    def fails(self: Activity, operations: int, latency_ms: int, minute: int) -> None:
        tries.append(operations)
        raise RuntimeError("the metrics table is throttled")

    monkeypatch.setattr(Activity, "_write", fails)
    typist = client(stack, fake_aws, "user_t")
    for _ in range(5):
        assert call(stack, fake_aws, typist, "session:info", {})["ok"]
    assert len(tries) == 1  # one try, then the next after FLUSH_MS
