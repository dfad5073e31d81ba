"""Engine.IO long-polling against ``prdtool-local serve``: a stock Node socket.io-client with
``transports: ['polling']`` joins a PRD, edits, sees a WebSocket client's edits and cursor, and
receives an AI stream (the local runtime serves polling at the WebSocket paths, as one host)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from prdtool_local.tokens import mint
from tests.e2e.conftest import LocalStack, run_node
from tests.e2e.people import Person, Typist


def test_a_polling_client_works_beside_a_websocket_client(stack: LocalStack, node: str) -> None:
    async def scenario() -> dict[str, Any]:
        async with Person(stack, "user_ws", "Wes") as wes:
            prd_id = (await wes.call("document:create", {"title": "Polling", "content": "Hello"}))["prdId"]
            await wes.call("document:share", {"prdId": prd_id, "userId": "user_pl", "role": "editor"})
            typist = Typist(wes, prd_id, await wes.call("document:join", {"prdId": prd_id, "mode": "edit"}))
            probe = {
                "url": stack.origin + "/ws",
                "options": {"transports": ["polling"], "path": f"/{stack.stage}",
                            "auth": {"token": mint("user_pl", "Pat")}},
                "emits": [
                    {"event": "document:join", "data": {"prdId": prd_id, "mode": "edit"}, "ack": True},
                    {"event": "operation:edit", "ack": True, "data": {"prdId": prd_id, "operation": {
                        "type": "insert", "position": 0, "content": "> ", "vectorClock": {}}}},
                    {"event": "ai:generate", "ack": True, "data": {
                        "prdId": prd_id, "prompt": "Add OAuth2 requirements", "section": "technical-requirements",
                        "streamId": "stream_polling_1"}},
                ],
                "listen": ["operation:applied", "presence:updated", "ai:stream-chunk", "ai:stream-complete"],
                "until": "ai:stream-complete", "waitMs": 45000,  # the AI stream's 100 chunks come one GET each
            }  # fmt: skip
            running = asyncio.get_running_loop().run_in_executor(None, run_node, node, probe)
            mine = await wes.wait_for("operation:applied", timeout_s=45)  # the polling client joined and edited
            assert mine["operation"]["content"] == "> "
            assert (await typist.insert(5, " world"))["ok"]  # at the end of "Hello", as this client saw it
            await wes.call("presence:cursor", {"prdId": prd_id, "cursor": {"line": 0, "ch": 3}})
            seen: dict[str, Any] = await running
            return seen

    seen = asyncio.run(scenario())
    assert seen["connected"] and all(ack["ok"] for ack in seen["acks"]), seen
    names = [e["event"] for e in seen["events"]]
    applied = [e["args"][0] for e in seen["events"] if e["event"] == "operation:applied"]
    assert any(a["operation"].get("content") == " world" for a in applied), (sorted(set(names)), applied, seen["acks"])
    assert "presence:updated" in names and "ai:stream-complete" in names and "ai:stream-chunk" in names


def test_engineio_requests_that_are_no_upgrade_reach_the_polling_function(stack: LocalStack) -> None:
    # One port locally, as one host: an Engine.IO request at the WebSocket paths that is no upgrade
    # is the HTTP API's, which says what is wrong with it (as Engine.IO servers do).
    for path in ("/socket.io/?EIO=4", f"/{stack.stage}?EIO=4&transport=carrier-pigeon"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(stack.origin + path, timeout=30)
        assert refused.value.code == 400
        assert json.loads(refused.value.read()) == {"code": 0, "message": "Transport unknown"}
