"""Burst limits per connection: a client that floods edits or cursor moves is refused past the
limit, and nothing it sent past it changes the document or reaches the room."""

from __future__ import annotations

import json

import pytest

from prdtool.kernel.frames import read_frame
from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, events, op
from tests.handlers.test_native_clients import native


@pytest.fixture
def small_bursts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDIT_BURST_LIMIT", "3/10")
    monkeypatch.setenv("CURSOR_BURST_LIMIT", "2/10")


def _edit(prd_id: str, n: int) -> dict:
    return {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_a": n}, content=f"{n}")}


def test_edits_past_the_burst_are_refused_and_change_nothing(
    stack: Stack, fake_aws: FakeAws, small_bursts: None, prd: tuple[str, str, str]
) -> None:
    prd_id, a, b = prd
    for n in (1, 2, 3):
        assert call(stack, fake_aws, a, "operation:edit", _edit(prd_id, n))["ok"]
    refused = call(stack, fake_aws, a, "operation:edit", _edit(prd_id, 4))
    assert refused["error"]["code"] == "RATE_LIMITED"
    assert refused["error"]["data"]["endpoint"] == "operation:edit" and refused["error"]["data"]["retryAfter"] >= 1
    assert events(fake_aws, a, "rate_limit:exceeded") == [
        {"endpoint": "operation:edit", "retryAfter": refused["error"]["data"]["retryAfter"]}
    ]
    assert len(events(fake_aws, b, "operation:applied")) == 3
    # Other events are not counted, and cursor moves have their own budget.
    assert call(stack, fake_aws, a, "document:sync", {"prdId": prd_id, "sinceSeq": 0})["ok"]
    cursor = {"prdId": prd_id, "cursor": {"line": 0, "ch": 0}, "selection": None}
    assert call(stack, fake_aws, a, "presence:cursor", cursor)["ok"]
    # The other connection is not affected; after the window the flooder may edit again.
    assert call(
        stack,
        fake_aws,
        b,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_a": 3, "user_b": 1}, content="b")},
    )["ok"]
    stack.clock.advance(10)
    again = call(stack, fake_aws, a, "operation:edit", _edit(prd_id, 4))
    assert again["ok"] and again["seq"] == 6


def test_frames_the_quick_look_misses_are_counted_all_the_same(
    stack: Stack, fake_aws: FakeAws, small_bursts: None, prd: tuple[str, str, str]
) -> None:
    prd_id, a, _ = prd
    for n, spelling in enumerate(('[ "operation:edit", ', '["operation\\u003aedit",', '["operation:edit",'), start=1):
        body = json.dumps(_edit(prd_id, n))
        stack.send(a, f"42{100 + n}{spelling}{body}]")
    stack.send(a, f"42104{json.dumps(['operation:edit', _edit(prd_id, 4)])}")
    acks = [json.loads(f[f.index("[") :])[0] for f in fake_aws.take(a) if f.startswith("43")]
    assert [ack["ok"] for ack in acks] == [True, True, True, False]
    assert acks[-1]["error"]["code"] == "RATE_LIMITED"


def test_a_late_clock_never_moves_the_window_back(stack: Stack, fake_aws: FakeAws, prd: tuple[str, str, str]) -> None:
    _, a, _ = prd
    store = stack.functions["gateway"].services.store
    assert store.get_counting(a, "edit", 20_000)[1] == 1
    assert store.get_counting(a, "edit", 20_000)[1] == 2
    assert store.get_counting(a, "edit", 10_000)[1] == 3  # an instance whose clock is behind: same window
    record, count = store.get_counting(a, "edit", 30_000)
    assert (count, record.edit_window) == (1, 30_000)


def test_native_frames_count_too(stack: Stack, fake_aws: FakeAws, small_bursts: None) -> None:
    connection_id = native(stack, sub="user_123")
    for ack in ("c1", "c2", "c3"):
        stack.send_native(connection_id, "presence:cursor", {"prdId": "nope", "cursor": {"line": 0, "ch": 0}}, ack)
    replies = [json.loads(f) for f in fake_aws.take(connection_id)]
    codes = [r["data"]["error"]["code"] for r in replies if r.get("ack")]
    assert codes == ["FORBIDDEN", "FORBIDDEN", "RATE_LIMITED"]  # the third is over 2 per 10 s
    assert {"event": "rate_limit:exceeded", "data": {"endpoint": "presence:cursor", "retryAfter": 10}} in replies


@pytest.mark.parametrize(
    ("body", "event"),
    [
        ('42["operation:edit",{}]', "operation:edit"),
        ('42/ws,17["presence:cursor",{}]', "presence:cursor"),
        ('42/ws,["presence:status",{}]', None),
        ('{"data": {}, "action": "operation:edit"}', "operation:edit"),
        ('{"action": "document:join"}', None),
        ("3", None),
        ("{not json", None),
        ('42["operation:editor",{}]', None),
    ],
)
def test_burst_event_is_read_from_the_frame_as_decoded(body: str, event: str | None) -> None:
    assert read_frame(body, 32_768).burst_event == event


def test_a_flood_through_two_instances_is_stopped_within_what_they_have_not_written(
    stack: Stack, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch, prd: tuple[str, str, str]
) -> None:
    # 250 per window: each instance writes its count to the record every 5th frame (flush_every),
    # so two instances let through at most 250 + 4 and refuse everything after.
    monkeypatch.setenv("CURSOR_BURST_LIMIT", "250/10")
    prd_id, a, _ = prd
    instances = [stack.new_instance("gateway"), stack.new_instance("gateway")]
    cursor = {"prdId": prd_id, "cursor": {"line": 0, "ch": 0}, "selection": None}
    answers = [call(stack, fake_aws, a, "presence:cursor", cursor, instances[n % 2])["ok"] for n in range(270)]
    accepted = answers.index(False)
    assert 250 <= accepted <= 254
    assert not any(answers[accepted:])  # once over, every instance refuses
    stack.clock.advance(10)
    assert all(call(stack, fake_aws, a, "presence:cursor", cursor, i)["ok"] for i in instances)
