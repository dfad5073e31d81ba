"""Presence end to end: two clients on the local stack see each other's cursors and colors."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2e.conftest import LocalStack
from tests.e2e.test_editing import PRD, _call, _client


def test_two_clients_see_each_others_cursor_and_color(stack: LocalStack) -> None:
    async def run() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        a, b = await _client(stack, "user_123"), await _client(stack, "user_456")
        seen: list[dict[str, Any]] = []
        a.on("presence:updated", lambda data: seen.append(data), namespace="/ws")
        joined_a = await _call(a, "document:join", {"prdId": PRD, "mode": "edit"})
        joined_b = await _call(b, "document:join", {"prdId": PRD, "mode": "view"})
        await _call(b, "presence:cursor", {"prdId": PRD, "cursor": {"line": 2, "ch": 3}})
        await asyncio.sleep(0.5)
        await b.disconnect()
        await asyncio.sleep(1.0)
        await a.disconnect()
        return seen, {"a": joined_a["color"], "b": joined_b["color"]}

    seen, colors = asyncio.run(run())
    moves = [e for e in seen if e["userId"] == "user_456"]
    assert moves[0]["cursor"] == {"line": 2, "ch": 3} and moves[0]["mode"] == "view"
    assert moves[0]["color"] == colors["b"] != colors["a"]
    assert moves[-1]["status"] == "offline"  # b's disconnect reached a


def test_two_cursors_move_as_a_third_user_types(stack: LocalStack) -> None:
    async def run() -> dict[str, dict[str, int]]:
        a, b, c = [await _client(stack, u) for u in ("user_123", "user_456", "user_789")]
        joined = {}
        for name, sio in (("a", a), ("b", b), ("c", c)):
            joined[name] = await _call(sio, "document:join", {"prdId": PRD, "mode": "edit"})
        await _call(a, "presence:cursor", {"prdId": PRD, "cursor": {"line": 0, "ch": 2}})
        await _call(b, "presence:cursor", {"prdId": PRD, "cursor": {"line": 1, "ch": 0}})
        me = joined["c"]
        for n, ch in enumerate("abc", start=1):  # c types at the very start of line 0
            clock = {**me["vectorClock"], me["clockKey"]: me["vectorClock"].get(me["clockKey"], 0) + n}
            op = {"type": "insert", "position": n - 1, "content": ch, "vectorClock": clock}
            await _call(c, "operation:edit", {"prdId": PRD, "operation": op})
        rejoined = await _call(c, "document:join", {"prdId": PRD, "mode": "edit"})
        for sio in (a, b, c):
            await sio.disconnect()
        return {s["userId"]: s["cursor"] for s in rejoined["activeSessions"]}

    cursors = asyncio.run(run())
    assert cursors["user_123"] == {"line": 0, "ch": 5}  # moved right by the three characters typed before it
    assert cursors["user_456"] == {"line": 1, "ch": 0}  # on the next line: unmoved
