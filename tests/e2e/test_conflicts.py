"""A conflict end to end: detected, shown to both authors, resolved manually; three clients converge."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2e.conftest import LocalStack
from tests.e2e.test_editing import PRD, _call, _client


def test_a_conflict_is_shown_to_both_resolved_and_everyone_converges(stack: LocalStack) -> None:
    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
        a, b, c = [await _client(stack, u) for u in ("user_123", "user_456", "user_789")]
        detected_a: list[dict[str, Any]] = []
        detected_b: list[dict[str, Any]] = []
        a.on("conflict:detected", lambda d: detected_a.append(d), namespace="/ws")
        b.on("conflict:detected", lambda d: detected_b.append(d), namespace="/ws")
        joined = {}
        for name, sio in (("a", a), ("b", b), ("c", c)):
            joined[name] = await _call(sio, "document:join", {"prdId": PRD, "mode": "edit"})
        # a and b insert at the same place, neither having seen the other's op
        for name, sio, word in (("a", a, "[A]"), ("b", b, "[B]")):
            me = joined[name]
            clock = {**me["vectorClock"], me["clockKey"]: me["vectorClock"].get(me["clockKey"], 0) + 1}
            op = {"type": "insert", "position": 0, "content": word, "vectorClock": clock}
            await _call(sio, "operation:edit", {"prdId": PRD, "operation": op})
        await asyncio.sleep(0.5)
        resolved = await _call(b, "conflict:resolve", {"conflictId": detected_b[0]["conflictId"],
                                                       "resolution": "manual", "mergedContent": "[A+B]"})  # fmt: skip
        assert resolved["seq"] > 0
        texts = [(await _call(s, "document:join", {"prdId": PRD, "mode": "edit"}))["currentContent"] for s in (a, b, c)]
        for sio in (a, b, c):
            await sio.disconnect()
        return detected_a, detected_b, texts

    detected_a, detected_b, texts = asyncio.run(run())
    assert detected_a and detected_b and detected_a[0]["conflictId"] == detected_b[0]["conflictId"]
    assert texts[0] == texts[1] == texts[2]
    assert texts[0].startswith("[A+B]") and "[A]" not in texts[0] and "[B]" not in texts[0]
