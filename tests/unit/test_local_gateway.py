"""The emulated API Gateway, with handlers replaced by recording functions (no worker processes)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from prdtool_local import gateway as gateway_module
from prdtool_local.gateway import Gateway, GatewayLimits, new_connection_id
from prdtool_local.lambdas import Invocation
from prdtool_local.template import load_template
from tests.support import ROOT

TEMPLATE = load_template(ROOT / "template.yaml", {"JwtSecretArn": "arn:local"})
Handler = Callable[[str, dict[str, Any], str], Awaitable[Invocation]]


async def _with_gateway(handler: Handler, scenario: Callable[[str, aiohttp.ClientSession], Awaitable[Any]]) -> Any:
    app = web.Application()
    server = TestServer(app)
    origin: list[str] = []

    async def invoke(function: str, event: dict[str, Any]) -> Invocation:
        return await handler(function, event, origin[0])

    gateway = Gateway(TEMPLATE, invoke, lambda line: None, GatewayLimits(), "localhost")
    gateway.routes(app)
    await server.start_server()
    origin.append(f"http://127.0.0.1:{server.port}")
    try:
        async with aiohttp.ClientSession() as session:
            return await scenario(origin[0], session)
    finally:
        await server.close()


def test_posts_during_connect_are_gone_and_succeed_once_it_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    # API Gateway ids are base64: "/" and "+" must survive the trip through a percent-encoded path.
    monkeypatch.setattr(gateway_module, "new_connection_id", lambda: "ab/c+d/efghijkl=")
    statuses: list[tuple[str, int]] = []
    events: list[dict[str, Any]] = []

    async def handler(function: str, event: dict[str, Any], origin: str) -> Invocation:
        events.append(event)
        if function == "ConnectFunction":
            connection_id = event["requestContext"]["connectionId"]
            url = f"{origin}/prod/@connections/{quote(connection_id, safe='')}"
            async with aiohttp.ClientSession() as s, s.post(url, data=b"too early") as r:
                statuses.append((r.headers.get("x-amzn-ErrorType", ""), r.status))
        return Invocation(result={"statusCode": 200})

    async def scenario(origin: str, session: aiohttp.ClientSession) -> str:
        ws = await session.ws_connect(f"{origin}/prod?EIO=4&transport=websocket")
        connection_id = events[0]["requestContext"]["connectionId"]
        async with session.post(f"{origin}/@connections/{quote(connection_id, safe='')}", data=b"hello") as r:
            assert r.status == 200
        received = await ws.receive_str(timeout=5)
        await ws.close()
        return received

    assert asyncio.run(_with_gateway(handler, scenario)) == "hello"
    assert statuses == [("GoneException", 410)]
    connect = events[0]
    assert connect["queryStringParameters"] == {"EIO": "4", "transport": "websocket"}
    assert set(connect["requestContext"]) >= {
        "routeKey", "eventType", "connectionId", "connectedAt", "stage", "apiId", "domainName", "requestTimeEpoch",
        "identity", "requestId",
    }  # fmt: skip
    assert (connect["requestContext"]["routeKey"], connect["requestContext"]["eventType"]) == ("$connect", "CONNECT")
    assert connect["requestContext"]["connectionId"] == "ab/c+d/efghijkl="


def test_a_non_2xx_connect_refuses_the_upgrade_with_that_status() -> None:
    async def handler(function: str, event: dict[str, Any], origin: str) -> Invocation:
        return Invocation(result={"statusCode": 401, "body": "no"})

    async def scenario(origin: str, session: aiohttp.ClientSession) -> int:
        try:
            await session.ws_connect(f"{origin}/prod")
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        return 101

    assert asyncio.run(_with_gateway(handler, scenario)) == 401


def test_routes_are_selected_by_action_and_events_are_shaped_like_api_gateways() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    async def handler(function: str, event: dict[str, Any], origin: str) -> Invocation:
        seen.append((function, event))
        return Invocation(result={"statusCode": 200})

    async def scenario(origin: str, session: aiohttp.ClientSession) -> None:
        ws = await session.ws_connect(f"{origin}/socket.io/")
        for body in (json.dumps({"action": "document:join", "data": {}}), json.dumps({"action": "nope"}), "42[]"):
            await ws.send_str(body)
        for _ in range(50):
            if len(seen) >= 4:
                break
            await asyncio.sleep(0.02)
        await ws.close()
        for _ in range(50):
            if len(seen) >= 5:
                break
            await asyncio.sleep(0.02)

    asyncio.run(_with_gateway(handler, scenario))
    connect = seen[0][1]
    assert "queryStringParameters" not in connect  # absent when the URL has no query, as on AWS
    messages = sorted((e["requestContext"]["routeKey"], e["body"][:12]) for f, e in seen[1:4])
    assert messages == [("$default", "42[]"), ("$default", '{"action": "'), ("document:join", '{"action": "')]
    assert all("messageId" in e["requestContext"] for f, e in seen[1:4])
    function, disconnect = seen[4]
    assert function == "DisconnectFunction"
    assert disconnect["requestContext"]["eventType"] == "DISCONNECT"
    assert disconnect["disconnectStatusCode"] == 1000


def test_connection_ids_look_like_api_gateways() -> None:
    ids = {new_connection_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) == 16 and i.endswith("=") for i in ids)
