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
