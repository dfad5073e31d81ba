"""What API Gateway does to frames and connections, as the local stack reproduces it, seen by raw
WebSocket clients: close codes for binary and oversized frames, the heartbeat dropping a client
that stops answering, and the management API through boto3."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import boto3
import pytest

from prdtool_local.tokens import mint
from tests.e2e.conftest import PING_INTERVAL_MS, PING_TIMEOUT_MS, LocalStack


async def _open(session: aiohttp.ClientSession, stack: LocalStack) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(f"{stack.url}?EIO=4&transport=websocket", autoping=True)
    opened = await ws.receive_str(timeout=5)
    assert opened.startswith("0{")
    return ws


async def _connected(session: aiohttp.ClientSession, stack: LocalStack, sub: str) -> aiohttp.ClientWebSocketResponse:
    ws = await _open(session, stack)
    await ws.send_str("40" + json.dumps({"token": mint(sub)}))
    while (reply := await ws.receive_str(timeout=5)) == "2":
        await ws.send_str("3")
    assert reply.startswith("40{")
    return ws


async def _close_code(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """The code of the server's close frame (pings meanwhile are answered)."""
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type == aiohttp.WSMsgType.CLOSE:
            return msg.data
        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return ws.close_code
        if msg.type == aiohttp.WSMsgType.TEXT and msg.data == "2":
            await ws.send_str("3")


@pytest.mark.parametrize(("frame", "code"), [(b"\x00\x01binary", 1003), ("4" + "x" * 40_000, 1009)])
def test_binary_and_oversized_frames_close_with_api_gateway_codes(
    stack: LocalStack, frame: bytes | str, code: int
) -> None:
    async def run() -> int | None:
        async with aiohttp.ClientSession() as session:
            ws = await _connected(session, stack, "user_frames")
            await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
            return await _close_code(ws)

    assert asyncio.run(run()) == code


def test_a_client_that_stops_answering_pings_is_dropped_and_forgotten(stack: LocalStack) -> None:
    async def run() -> tuple[float, int | None]:
        async with aiohttp.ClientSession() as session:
            ws = await _connected(session, stack, "user_silent")
            started = time.monotonic()
            while (await ws.receive(timeout=10)).type == aiohttp.WSMsgType.TEXT:
                pass  # pings arrive; no pong goes back
            return time.monotonic() - started, ws.close_code

    took, _ = asyncio.run(run())
    assert took < (PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000 + 3
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        r.get("user_id", {}).get("S") == "user_silent" for r in stack.connection_records()
    ):
        time.sleep(0.1)
    assert not any(r.get("user_id", {}).get("S") == "user_silent" for r in stack.connection_records())


def _management_client(endpoint: str) -> Any:
    return boto3.client(
        "apigatewaymanagementapi", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip


def test_management_api_through_boto3(stack: LocalStack) -> None:
    management = _management_client(f"{stack.origin}/{stack.stage}")
    unprefixed = _management_client(stack.origin)  # the API answers without the stage prefix too

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            ws = await _connected(session, stack, "user_mgmt")
            [record] = [r for r in stack.connection_records() if r.get("user_id", {}).get("S") == "user_mgmt"]
            connection_id = record["connection_id"]["S"]
            # An event the server does send (the stack checks every post against the contract).
            frame = '42["rate_limit:exceeded",{"endpoint":"operation:edit","retryAfter":1}]'
            await asyncio.to_thread(management.post_to_connection, ConnectionId=connection_id, Data=frame.encode())
            while (msg := await ws.receive_str(timeout=5)) == "2":
                await ws.send_str("3")
            assert msg == frame
            info = await asyncio.to_thread(unprefixed.get_connection, ConnectionId=connection_id)
            assert info["Identity"]["SourceIp"] == "127.0.0.1" and "ConnectedAt" in info
            await asyncio.to_thread(management.delete_connection, ConnectionId=connection_id)
            assert await _close_code(ws) == 1000
            with pytest.raises(management.exceptions.GoneException):
                await asyncio.to_thread(management.post_to_connection, ConnectionId=connection_id, Data=b"x")

    asyncio.run(run())
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId="bm9uZXhpc3RlbnQ=", Data=b"2")
    with pytest.raises(management.exceptions.GoneException):
        management.get_connection(ConnectionId="bm9uZXhpc3RlbnQ=")


def test_refused_upgrade_carries_connects_status(stack: LocalStack) -> None:
    async def run() -> tuple[int, int]:
        async with aiohttp.ClientSession() as session:
            statuses = []
            for query in ("EIO=3&transport=websocket", "token=bad"):
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await session.ws_connect(f"{stack.url}?{query}")
                statuses.append(refused.value.status)
            return statuses[0], statuses[1]

    assert asyncio.run(run()) == (400, 401)
