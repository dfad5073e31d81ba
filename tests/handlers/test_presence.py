"""Presence through the real gateway and heartbeat: colors, cursors that follow the text,
coalescing, offline and away."""

from __future__ import annotations

import pytest

from tests.fakes.aws_http import FakeAws
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, client, events, op


@pytest.fixture
def room(stack: Stack, fake_aws: FakeAws) -> tuple[str, str, str, str]:
    """prd with owner a ("Hello world"), editor b, viewer v; all joined."""
    a = client(stack, fake_aws, "user_a", "Ann")
    prd_id = call(stack, fake_aws, a, "document:create", {"title": "P", "content": "Hello world\nline two"})["prdId"]
    call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": "user_b", "role": "editor"})
    call(stack, fake_aws, a, "document:share", {"prdId": prd_id, "userId": "user_v", "role": "viewer"})
    b, v = client(stack, fake_aws, "user_b", "Bob"), client(stack, fake_aws, "user_v", "Vic")
    call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})
    call(stack, fake_aws, b, "document:join", {"prdId": prd_id, "mode": "edit"})
    call(stack, fake_aws, v, "document:join", {"prdId": prd_id, "mode": "view"})
    for connection in (a, b, v):
        fake_aws.take(connection)
    return prd_id, a, b, v


def test_cursor_moves_reach_the_others_with_color_and_mode(stack: Stack, fake_aws: FakeAws, room) -> None:
    prd_id, a, b, v = room
    stack.clock.advance(1)
    ack = call(
        stack,
        fake_aws,
        b,
        "presence:cursor",
        {
            "prdId": prd_id,
            "cursor": {"line": 1, "ch": 4},
            "selection": {"start": {"line": 0, "ch": 6}, "end": {"line": 0, "ch": 11}},
        },
    )
    assert ack["cursor"] == {"line": 1, "ch": 4}
    [seen] = events(fake_aws, a, "presence:updated")
    assert {k: seen[k] for k in ("userId", "userName", "mode", "status", "cursor", "selection")} == {
        "userId": "user_b",
        "userName": "Bob",
        "mode": "edit",
        "status": "active",
        "cursor": {"line": 1, "ch": 4},
        "selection": {"start": {"line": 0, "ch": 6}, "end": {"line": 0, "ch": 11}},
    }
    assert seen["color"].startswith("#") and seen["lastActivity"].endswith("Z")
    assert seen["sessionId"] != b and events(fake_aws, v, "presence:updated")  # never the connection id
    assert events(fake_aws, b, "presence:updated") == []  # not echoed to the mover
    joined = call(stack, fake_aws, v, "document:join", {"prdId": prd_id, "mode": "view"})
    colors = {s["userId"]: s["color"] for s in joined["activeSessions"]}
    assert len(set(colors.values()) | {joined["color"]}) == 3  # distinct while the palette lasts
    assert {s["userId"]: s["mode"] for s in joined["activeSessions"]} == {"user_a": "edit", "user_b": "edit"}


def test_a_cursor_follows_the_text_as_others_edit(stack: Stack, fake_aws: FakeAws, room) -> None:
    prd_id, a, b, v = room
    stack.clock.advance(1)
    call(stack, fake_aws, b, "presence:cursor", {"prdId": prd_id, "cursor": {"line": 0, "ch": 6}})  # before "world"
    call(
        stack,
        fake_aws,
        a,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_a": 1}, content="Oh, ")},
    )
    joined = call(stack, fake_aws, v, "document:join", {"prdId": prd_id, "mode": "view"})
    [bob] = [s for s in joined["activeSessions"] if s["userId"] == "user_b"]
    assert bob["cursor"] == {"line": 0, "ch": 10}
    assert joined["currentContent"][10:15] == "world"


def test_a_stale_move_is_dropped_and_a_burst_is_coalesced(stack: Stack, fake_aws: FakeAws, room) -> None:
    prd_id, a, b, _ = room
    stack.clock.advance(1)
    call(stack, fake_aws, b, "presence:cursor", {"prdId": prd_id, "cursor": {"line": 0, "ch": 1}})
    stack.clock.advance(-0.0005)  # a move that API Gateway delivered after a later one
    late = call(stack, fake_aws, b, "presence:cursor", {"prdId": prd_id, "cursor": {"line": 0, "ch": 2}})
    assert late["coalesced"] is True
    stack.clock.advance(0.010)  # within the window: sent once the window has passed, being the latest
    call(stack, fake_aws, b, "presence:cursor", {"prdId": prd_id, "cursor": {"line": 0, "ch": 3}})
    cursors = [e["cursor"]["ch"] for e in events(fake_aws, a, "presence:updated")]
    assert cursors == [1, 3]


def test_status_offline_and_away(stack: Stack, fake_aws: FakeAws, room, monkeypatch: pytest.MonkeyPatch) -> None:
    prd_id, a, b, v = room
    stack.clock.advance(1)
    call(stack, fake_aws, b, "presence:status", {"prdId": prd_id, "status": "typing"})
    assert events(fake_aws, a, "presence:updated")[-1]["status"] == "typing"
    call(stack, fake_aws, v, "document:leave", {"prdId": prd_id})
    left = events(fake_aws, a, "presence:updated")
    assert [(e["userId"], e["status"]) for e in left] == [("user_v", "offline")]
    stack.disconnect(b)
    assert [(e["userId"], e["status"]) for e in events(fake_aws, a, "presence:updated")] == [("user_b", "offline")]
    monkeypatch.setenv("AWAY_AFTER_MS", "120000")
    stack.functions.pop("heartbeat", None)  # cold-starts with the new setting
    c = client(stack, fake_aws, "user_a", "Ann")  # another tab, to hear about the first
    call(stack, fake_aws, c, "document:join", {"prdId": prd_id, "mode": "view"})
    stack.clock.advance(61)
    assert stack.heartbeat()["away"] == 0  # pinged, not idle long enough yet
    for connection in (a, c):
        stack.send(connection, "3")  # both answer pings, and do nothing else
        fake_aws.take(connection)
    stack.clock.advance(61)
    report = stack.heartbeat()
    assert report["away"] == 2
    assert ("user_a", "away") in [(e["userId"], e["status"]) for e in events(fake_aws, c, "presence:updated")]


def test_a_room_full_of_vanished_connections_is_cleaned_up_without_recursion(
    stack: Stack, fake_aws: FakeAws, room
) -> None:
    prd_id, a, b, v = room
    ghosts = [client(stack, fake_aws, "user_b", "Bob") for _ in range(6)]
    for ghost in ghosts:
        call(stack, fake_aws, ghost, "document:join", {"prdId": prd_id, "mode": "view"})
    for gone in [b, v, *ghosts]:
        fake_aws.open.discard(gone)  # vanished without a $disconnect
    ack = call(
        stack,
        fake_aws,
        a,
        "operation:edit",
        {"prdId": prd_id, "operation": op("insert", 0, {"server": 1, "user_a": 1}, content="!")},
    )
    assert ack["seq"] == 2
    joined = call(stack, fake_aws, a, "document:join", {"prdId": prd_id, "mode": "edit"})
    assert joined["activeSessions"] == []
    assert all(stack.store.get(gone) is None for gone in [b, v, *ghosts])
