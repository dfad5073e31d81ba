"""Editing end to end on the local stack: socket.io clients converge, a Yjs client syncs through
updates, and a client that drops mid-edit recovers everything."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from typing import Any

import socketio

from prdtool_local.tokens import mint
from tests.e2e.conftest import NODE_DIR, LocalStack

PRD = "prd_123"  # the demo PRD the local stack seeds


async def _client(stack: LocalStack, user: str) -> socketio.AsyncClient:
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(stack.origin, socketio_path=stack.stage, namespaces=["/ws"], transports=["websocket"],
                      auth={"token": mint(user)}, wait_timeout=5)  # fmt: skip
    return sio


async def _call(sio: socketio.AsyncClient, event: str, data: dict[str, Any]) -> dict[str, Any]:
    reply = await sio.call(event, data, namespace="/ws", timeout=10)
    assert reply["ok"], reply
    return reply


def test_two_socketio_clients_edit_concurrently_and_converge(stack: LocalStack) -> None:
    async def run() -> tuple[str, list[str]]:
        a, b = await _client(stack, "user_123"), await _client(stack, "user_456")
        texts = {}
        for name, sio in (("a", a), ("b", b)):
            joined = await _call(sio, "document:join", {"prdId": PRD, "mode": "edit"})
            texts[name] = {"text": joined["currentContent"], "clock": joined["vectorClock"], "key": joined["clockKey"]}

        async def typist(sio: socketio.AsyncClient, me: dict, word: str) -> None:
            # Each keystroke is sent against the view the client had when it joined: concurrent, stale.
            for n, ch in enumerate(word, start=1):
                clock = {**me["clock"], me["key"]: me["clock"].get(me["key"], 0) + n}
                op = {"type": "insert", "position": n - 1, "content": ch, "vectorClock": clock}
                await _call(sio, "operation:edit", {"prdId": PRD, "operation": op})

        await asyncio.gather(typist(a, texts["a"], "Alpha "), typist(b, texts["b"], "Beta "))
        final = [(await _call(s, "document:join", {"prdId": PRD, "mode": "edit"}))["currentContent"] for s in (a, b)]
        await a.disconnect()
        await b.disconnect()
        return texts["a"]["text"], final

    start, (seen_by_a, seen_by_b) = asyncio.run(run())
    assert seen_by_a == seen_by_b
    assert "Alpha " in seen_by_a and "Beta " in seen_by_a  # each word kept whole: intent preserved
    assert len(seen_by_a) == len(start) + len("Alpha Beta ")


def test_a_yjs_client_syncs_through_updates(stack: LocalStack, node: str) -> None:
    async def python_side() -> tuple[socketio.AsyncClient, dict]:
        sio = await _client(stack, "user_789")
        joined = await _call(sio, "document:join", {"prdId": PRD, "mode": "edit"})
        return sio, joined

    async def run() -> tuple[dict, str]:
        sio, joined = await python_side()
        scenario = {"url": stack.origin + "/ws", "path": f"/{stack.stage}", "token": mint("user_456"),
                    "prdId": PRD, "edits": [{"index": 0, "text": "[yjs] "}], "waitMs": 1500}  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            node, str(NODE_DIR / "yjs-client.mjs"), json.dumps(scenario),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )  # fmt: skip
        await asyncio.sleep(0.8)  # while the Yjs client is connected, a socket.io client edits too
        clock = {**joined["vectorClock"], "user_789": joined["vectorClock"].get("user_789", 0) + 1}
        end = len(joined["currentContent"].encode("utf-16-le")) // 2  # positions count UTF-16 units
        op = {"type": "insert", "position": end, "content": "\n(edited by Python)", "vectorClock": clock}
        await _call(sio, "operation:edit", {"prdId": PRD, "operation": op})
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        server = (await _call(sio, "document:join", {"prdId": PRD, "mode": "edit"}))["currentContent"]
        await sio.disconnect()
        return json.loads(out), server

    yjs, server = asyncio.run(run())
    assert all(ack["ok"] for ack in yjs["acks"])
    assert yjs["text"] == server
    assert "[yjs] " in server and server.endswith("(edited by Python)")


def test_a_client_that_drops_mid_edit_recovers_everything(stack: LocalStack) -> None:
    async def run() -> tuple[str, str]:
        a, b = await _client(stack, "user_123"), await _client(stack, "user_456")
        joined_a = await _call(a, "document:join", {"prdId": PRD, "mode": "edit"})
        joined_b = await _call(b, "document:join", {"prdId": PRD, "mode": "view"})
        text, last_clock = joined_b["currentContent"], joined_b["vectorClock"]
        await b.disconnect()  # b drops
        key = joined_a["clockKey"]
        for n in range(1, 4):
            clock = {**joined_a["vectorClock"], key: joined_a["vectorClock"].get(key, 0) + n}
            op = {"type": "insert", "position": 0, "content": f"{n}.", "vectorClock": clock}
            await _call(a, "operation:edit", {"prdId": PRD, "operation": op})
        b2 = await _client(stack, "user_456")
        recovered = await _call(b2, "session:recover", {"activeSessions": [PRD], "lastVectorClocks": {PRD: last_clock}})
        [session] = recovered["sessions"]
        for op in session["missedOperations"]:  # what a plain client does: splice them in, in order
            text = _splice_utf16(text, op)
        server = (await _call(b2, "document:join", {"prdId": PRD, "mode": "view"}))["currentContent"]
        await a.disconnect()
        await b2.disconnect()
        return text, server

    recovered_text, server = asyncio.run(run())
    assert recovered_text == server


def _splice_utf16(text: str, op: dict[str, Any]) -> str:
    units = text.encode("utf-16-le")
    at = op["position"] * 2
    if op["type"] == "insert":
        units = units[:at] + op["content"].encode("utf-16-le") + units[at:]
    elif op["type"] == "delete":
        units = units[:at] + units[at + op["length"] * 2 :]
    return units.decode("utf-16-le")
