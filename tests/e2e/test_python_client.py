"""python-socketio's AsyncClient against the local stack."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
from typing import Any

import pycrdt
import pytest
import socketio

from prdtool_local.tokens import mint
from tests.e2e.conftest import PING_INTERVAL_MS, LocalStack


async def _session(stack: LocalStack, *, path: str, namespace: str, url_suffix: str = "", **connect: Any) -> dict:
    client = socketio.AsyncClient(reconnection=False)
    events: list[Any] = []
    client.on("error:operation", lambda data: events.append(data), namespace=namespace)
    await client.connect(
        stack.origin + url_suffix, socketio_path=path, namespaces=[namespace], transports=["websocket"],
        wait_timeout=5, **connect,
    )  # fmt: skip
    try:
        info = await client.call("session:info", {}, namespace=namespace, timeout=5)
        await client.emit("session:info", "not an object", namespace=namespace)
        await asyncio.sleep(PING_INTERVAL_MS * 4 / 1000)
        return {"info": info, "events": events, "connected": client.connected}
    finally:
        await client.disconnect()


@pytest.mark.parametrize(
    ("path", "namespace", "how"),
    [("prod", "/ws", "auth"), ("socket.io", "/ws", "auth"), ("prod", "/", "query"), ("socket.io", "/", "auth")],
)
def test_python_socketio_connects_calls_and_receives(stack: LocalStack, path: str, namespace: str, how: str) -> None:
    token = mint("user_123", "John Doe")
    kwargs: dict[str, Any] = {"auth": {"token": token}} if how == "auth" else {"url_suffix": f"?token={token}"}
    result = asyncio.run(_session(stack, path=path, namespace=namespace, **kwargs))
    assert result["connected"]
    assert (result["info"]["ok"], result["info"]["userId"], result["info"]["namespace"]) == (
        True,
        "user_123",
        namespace,
    )
    [error] = result["events"]
    assert (error["operation"], error["code"]) == ("session:info", "VALIDATION_FAILED")


def test_python_socketio_refused_with_a_readable_error(stack: LocalStack) -> None:
    async def attempt() -> list[Any]:
        client = socketio.AsyncClient(reconnection=False)
        refusals: list[Any] = []
        client.on("connect_error", lambda data: refusals.append(data))
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(stack.origin, socketio_path=stack.stage, transports=["websocket"],
                                 auth={"token": mint("u", ttl_s=-5)}, wait_timeout=5)  # fmt: skip
        await client.disconnect()
        return refusals

    assert asyncio.run(attempt()) == [
        {"message": "Token expired", "data": {"code": "UNAUTHORIZED", "reason": "token_expired"}}
    ]


def test_a_large_document_is_joined_by_one_download_from_the_local_stack(stack: LocalStack) -> None:
    """Past what one frame holds, document:joined carries a URL; a plain GET of it (no AWS
    credentials, as a browser would) returns the content and the Yjs state at the joined seq."""
    chunk = "Requirement: the system shall keep every keystroke. 中文\n" * 450  # ~25 KB per edit

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        writer, reader = socketio.AsyncClient(reconnection=False), socketio.AsyncClient(reconnection=False)
        for client, user in ((writer, "user_123"), (reader, "user_456")):
            await client.connect(stack.origin, socketio_path=stack.stage, namespaces=["/ws"],
                                 transports=["websocket"], auth={"token": mint(user)}, wait_timeout=5)  # fmt: skip
        try:
            create = {"title": "Large", "content": ""}
            prd_id = (await writer.call("document:create", create, namespace="/ws", timeout=10))["prdId"]
            shared = {"prdId": prd_id, "userId": "user_456", "role": "viewer"}
            assert (await writer.call("document:share", shared, namespace="/ws", timeout=10))["ok"]
            joined = await writer.call("document:join", {"prdId": prd_id, "mode": "edit"}, namespace="/ws", timeout=10)
            clock = dict(joined["vectorClock"])
            for _ in range(6):
                clock[joined["clockKey"]] = clock.get(joined["clockKey"], 0) + 1
                edit = {"type": "insert", "position": 0, "content": chunk, "vectorClock": dict(clock)}
                acked = await writer.call("operation:edit", {"prdId": prd_id, "operation": edit}, namespace="/ws",
                                          timeout=10)  # fmt: skip
                assert acked["ok"], acked
            head = await reader.call("document:join", {"prdId": prd_id, "mode": "view"}, namespace="/ws", timeout=10)
            body = await asyncio.to_thread(lambda: json.load(urllib.request.urlopen(head["contentUrl"], timeout=10)))
            return head, body
        finally:
            await writer.disconnect()
            await reader.disconnect()

    head, body = asyncio.run(scenario())
    assert head["ok"] and head["currentContent"] is None and head["state"] is None and "parts" not in head
    assert body["currentContent"] == chunk * 6
    doc = pycrdt.Doc()
    doc.apply_update(base64.b64decode(body["state"]))
    assert str(doc.get("content", type=pycrdt.Text)) == chunk * 6
