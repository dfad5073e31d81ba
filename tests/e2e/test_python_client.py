"""python-socketio's AsyncClient against the local stack."""

from __future__ import annotations

import asyncio
from typing import Any

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
