"""A conflict end to end: detected, shown to both authors, resolved manually or by the AI; three
clients converge."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import socketio

from tests.e2e.conftest import LocalStack
from tests.e2e.test_editing import PRD, _call, _client


async def _conflict(stack: LocalStack, words: tuple[str, str]) -> tuple[list[socketio.AsyncClient], list, list, list]:
    """Three clients in the demo PRD; the first two insert ``words`` at the same place, neither
    having seen the other's op. Returns the clients, both authors' conflict:detected events and
    both authors' conflict:resolved events (filled as they come)."""
    a, b, c = [await _client(stack, u) for u in ("user_123", "user_456", "user_789")]
    detected: list[list[dict[str, Any]]] = [[], []]
    resolved: list[list[dict[str, Any]]] = [[], []]
    for n, sio in enumerate((a, b)):
        sio.on("conflict:detected", detected[n].append, namespace="/ws")
        sio.on("conflict:resolved", resolved[n].append, namespace="/ws")
    joined = {}
    for name, sio in (("a", a), ("b", b), ("c", c)):
        joined[name] = await _call(sio, "document:join", {"prdId": PRD, "mode": "edit"})
    for name, sio, word in (("a", a, words[0]), ("b", b, words[1])):
        me = joined[name]
        clock = {**me["vectorClock"], me["clockKey"]: me["vectorClock"].get(me["clockKey"], 0) + 1}
        op = {"type": "insert", "position": 0, "content": word, "vectorClock": clock}
        await _call(sio, "operation:edit", {"prdId": PRD, "operation": op})
    deadline = time.monotonic() + 30
    while not (detected[0] and detected[1]):
        assert time.monotonic() < deadline, "no conflict:detected"
        await asyncio.sleep(0.05)
    return [a, b, c], detected[0], detected[1], resolved


async def _texts(clients: list[socketio.AsyncClient]) -> list[str]:
    texts = [(await _call(s, "document:join", {"prdId": PRD, "mode": "edit"}))["currentContent"] for s in clients]
    for sio in clients:
        await sio.disconnect()
    return texts


def test_a_conflict_is_shown_to_both_resolved_and_everyone_converges(stack: LocalStack) -> None:
    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
        clients, detected_a, detected_b, _ = await _conflict(stack, ("[A]", "[B]"))
        manual = {"conflictId": detected_b[0]["conflictId"], "resolution": "manual", "mergedContent": "[A+B]"}
        resolved = await _call(clients[1], "conflict:resolve", manual)
        assert resolved["seq"] > 0
        return detected_a, detected_b, await _texts(clients)

    detected_a, detected_b, texts = asyncio.run(run())
    assert detected_a and detected_b and detected_a[0]["conflictId"] == detected_b[0]["conflictId"]
    assert texts[0] == texts[1] == texts[2]
    assert texts[0].startswith("[A+B]") and "[A]" not in texts[0] and "[B]" not in texts[0]


def test_the_ai_resolves_a_conflict_through_its_state_machine(stack: LocalStack) -> None:
    async def run() -> tuple[dict[str, Any], list, list[str]]:
        clients, _, detected_b, resolved = await _conflict(stack, ("<left> ", "<right> "))
        cid = detected_b[0]["conflictId"]
        ack = await _call(clients[1], "conflict:resolve", {"conflictId": cid, "resolution": "ai"})
        deadline = time.monotonic() + 60
        while not (resolved[0] and resolved[1]):
            assert time.monotonic() < deadline, "no conflict:resolved"
            await asyncio.sleep(0.05)
        return ack, resolved, await _texts(clients)

    ack, resolved, texts = asyncio.run(run())
    assert ack["ok"] and ack["status"] == "merging"
    for events in resolved:
        assert (events[0]["resolution"], events[0]["resolvedBy"]["id"]) == ("ai", "user_456")
    assert texts[0] == texts[1] == texts[2]
    # The offline provider keeps what each side added, each once.
    assert texts[0].count("<left>") == 1 and texts[0].count("<right>") == 1
