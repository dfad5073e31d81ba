"""API Gateway's WebSocket API, emulated: upgrades, routes, limits, timeouts, @connections.

What it keeps of API Gateway's behaviour, because clients and handlers depend on it:
- ``$connect`` runs before the upgrade completes; until it returns 2xx, posts to the connection get
  Gone; a non-2xx status becomes the HTTP status of the failed handshake.
- Route selection by the template's expression (``$request.body.action``), else ``$default``.
- A binary frame closes the connection with 1003; a message over 32 KB with 1009 (clients send one
  frame per message, so this is API Gateway's frame limit; a fragmented message of small frames is
  refused here too, where API Gateway would accept it up to 128 KB).
- Idle (10 min) and maximum-duration (2 h) timeouts close with 1001.
- Messages of one connection are handled concurrently, with no ordering promise, as on AWS.
- The management API (``@connections``), with and without the stage prefix, errors carrying
  ``x-amzn-ErrorType``; and Lambda's Invoke API, for asynchronous invocations between functions.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import WSCloseCode, WSMsgType, web

from prdtool_local.contract_check import ContractCheck
from prdtool_local.lambdas import Invocation
from prdtool_local.template import API_ID, Template

__all__ = ["Gateway", "GatewayLimits"]

Invoker = Callable[[str, dict[str, Any]], Awaitable[Invocation]]
LogLine = Callable[[str], None]


@dataclass(frozen=True)
class GatewayLimits:
    frame_bytes: int = 32 * 1024
    message_bytes: int = 128 * 1024
    idle_timeout_s: float = 600.0
    max_duration_s: float = 7200.0


@dataclass
class Connection:
    connection_id: str
    connected_at: float
    source_ip: str
    user_agent: str
    ws: web.WebSocketResponse | None = None  # None until $connect has accepted it
    last_active: float = field(default_factory=time.time)
    disconnected: bool = False
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)


def new_connection_id() -> str:
    """16 characters of base64, like API Gateway's ids (which may contain '=')."""
    return base64.b64encode(os.urandom(11)).decode()


class Gateway:
    def __init__(self, template: Template, invoke: Invoker, log: LogLine, limits: GatewayLimits, host: str) -> None:
        self.template = template
        self._invoke = invoke
        self._log = log
        self.limits = limits
        self.host = host
        self.connections: dict[str, Connection] = {}
        self._selection = _selection_path(template.route_selection)
        # Where an Engine.IO request that is no upgrade goes (the polling handshake and polls, or
        # a bad transport): the HTTP API, served on this same port (on AWS it has a host of its
        # own, whose $default function answers them).
        self.plain_http: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None
        self.contract: ContractCheck | None = None  # --check-contract: every post checked

    def routes(self, app: web.Application) -> None:
        stage = self.template.stage
        for path in (f"/{stage}", f"/{stage}/", "/socket.io", "/socket.io/"):
            app.router.add_get(path, self._upgrade)
        for prefix in ("", f"/{stage}"):
            # Ids are base64 and may hold "/" (sent percent-encoded): match the rest of the path.
            app.router.add_route("*", prefix + "/@connections/{connection_id:.+}", self._management)

    def paths(self) -> list[tuple[str, str]]:
        """What ``routes`` serves, as (method, path) in API Gateway's path syntax: the HTTP API stays clear of it."""
        stage = self.template.stage
        upgrades = [(method, path) for path in (f"/{stage}", f"/{stage}/", "/socket.io", "/socket.io/")
                    for method in ("GET", "HEAD")]  # fmt: skip
        return upgrades + [("ANY", prefix + "/@connections/{connectionId+}") for prefix in ("", f"/{stage}")]

    # ---------------------------------------------------------------- WebSocket side

    async def _upgrade(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            if self.plain_http is not None and ("EIO" in request.query or "transport" in request.query):
                return await self.plain_http(request)
            return web.Response(status=426, text="Upgrade Required")
        conn = Connection(
            new_connection_id(),
            time.time(),
            request.remote or "127.0.0.1",
            request.headers.get("User-Agent", ""),
        )
        self.connections[conn.connection_id] = conn
        started = time.perf_counter()
        outcome = await self._invoke(self.template.routes["$connect"], self._connect_event(request, conn)) \
            if "$connect" in self.template.routes else Invocation(result={"statusCode": 200})  # fmt: skip
        status = _status_of(outcome)
        self._log_route("CONNECT", conn.connection_id, "$connect", outcome, status, started)
        if not 200 <= status < 300:
            del self.connections[conn.connection_id]
            body = (outcome.result or {}).get("body") if isinstance(outcome.result, dict) else None
            return web.Response(status=status, text=body or "")
        protocols = _subprotocols(outcome)
        ws = web.WebSocketResponse(protocols=protocols, max_msg_size=self.limits.frame_bytes, autoping=True)
        conn.ws = ws
        try:
            await ws.prepare(request)  # the client may be gone already: $disconnect runs all the same
            await self._read(conn)
        finally:
            await self._disconnected(conn)
        return ws

    async def _read(self, conn: Connection) -> None:
        assert conn.ws is not None
        async for msg in conn.ws:
            conn.last_active = time.time()
            if msg.type == WSMsgType.TEXT:
                task = asyncio.create_task(self._message(conn, msg.data))
                conn.tasks.add(task)
                task.add_done_callback(conn.tasks.discard)
            elif msg.type == WSMsgType.BINARY:
                await conn.ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"Binary frames are not supported")
            elif msg.type == WSMsgType.ERROR:
                break  # aiohttp has already closed it (1009 for an oversized message)

    async def _message(self, conn: Connection, body: str) -> None:
        route = self._select_route(body)
        started = time.perf_counter()
        outcome = await self._invoke(self.template.routes[route], self._message_event(conn, route, body))
        self._log_route("MESSAGE", conn.connection_id, route, outcome, None, started)

    def _select_route(self, body: str) -> str:
        try:
            value: Any = json.loads(body)
            for key in self._selection:
                value = value[key]
        except (ValueError, KeyError, TypeError, IndexError):
            value = None
        if isinstance(value, str) and value in self.template.routes and not value.startswith("$"):
            return value
        return "$default"

    async def _disconnected(self, conn: Connection) -> None:
        if conn.disconnected:
            return
        conn.disconnected = True
        self.connections.pop(conn.connection_id, None)
        if conn.tasks:
            await asyncio.gather(*conn.tasks, return_exceptions=True)
        code = conn.ws.close_code if conn.ws is not None and conn.ws.close_code is not None else 1006
        if "$disconnect" in self.template.routes:
            started = time.perf_counter()
            event = self._disconnect_event(conn, code)
            outcome = await self._invoke(self.template.routes["$disconnect"], event)
            self._log_route("DISCONNECT", conn.connection_id, "$disconnect", outcome, code, started)

    async def close(self, connection_id: str, code: int, reason: str) -> bool:
        conn = self.connections.get(connection_id)
        if conn is None or conn.ws is None:
            return False
        await conn.ws.close(code=code, message=reason.encode())
        return True

    async def close_all(self, reason: str = "Going away") -> None:
        await asyncio.gather(
            *(self.close(cid, WSCloseCode.GOING_AWAY, reason) for cid in list(self.connections)),
            return_exceptions=True,
        )

    async def enforce_timeouts(self) -> None:
        """Close connections idle too long or open too long, as API Gateway does."""
        period = max(0.05, min(1.0, self.limits.idle_timeout_s / 4, self.limits.max_duration_s / 4))
        while True:
            await asyncio.sleep(period)
            now = time.time()
            for conn in list(self.connections.values()):
                if conn.ws is None:
                    continue
                if now - conn.connected_at >= self.limits.max_duration_s:
                    await self.close(conn.connection_id, WSCloseCode.GOING_AWAY, "Maximum connection duration")
                elif now - conn.last_active >= self.limits.idle_timeout_s:
                    await self.close(conn.connection_id, WSCloseCode.GOING_AWAY, "Idle timeout")

    # ---------------------------------------------------------------- management API

    async def _management(self, request: web.Request) -> web.Response:
        connection_id = unquote(request.match_info["connection_id"])
        conn = self.connections.get(connection_id)
        if conn is None or conn.ws is None or conn.ws.closed:
            return _aws_error(410, "GoneException", f"{connection_id} is gone")
        if request.method == "POST":
            data = await request.read()
            if len(data) > self.limits.message_bytes:
                return _aws_error(413, "PayloadTooLargeException", "Message too long")
            if self.contract is not None:
                for breach in self.contract.check(data.decode("utf-8", "replace")):
                    self._log(f"CONTRACT   {breach}")
            try:
                await conn.ws.send_str(data.decode("utf-8"))
            except UnicodeDecodeError:
                await conn.ws.send_bytes(data)
            except ConnectionResetError:
                return _aws_error(410, "GoneException", f"{connection_id} is gone")
            conn.last_active = time.time()
            return web.json_response({})
        if request.method == "GET":
            return web.json_response({
                "connectedAt": _iso(conn.connected_at),
                "lastActiveAt": _iso(conn.last_active),
                "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
            })  # fmt: skip
        if request.method == "DELETE":
            await conn.ws.close(code=WSCloseCode.OK)
            return web.Response(status=204)
        return _aws_error(405, "MethodNotAllowedException", "Method not allowed")

    # ---------------------------------------------------------------- events, shaped like AWS's

    def _context(self, conn: Connection, route: str, event_type: str) -> dict[str, Any]:
        now = time.time()
        request_id = base64.b64encode(os.urandom(9)).decode()
        return {
            "routeKey": route,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "messageDirection": "IN",
            "stage": self.template.stage,
            "connectedAt": int(conn.connected_at * 1000),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
            "requestId": request_id,
            "domainName": self.host,
            "connectionId": conn.connection_id,
            "apiId": API_ID,
        }

    def _connect_event(self, request: web.Request, conn: Connection) -> dict[str, Any]:
        headers = dict(request.headers)
        event: dict[str, Any] = {
            "headers": headers,
            "multiValueHeaders": {k: request.headers.getall(k) for k in request.headers},
            "requestContext": self._context(conn, "$connect", "CONNECT"),
            "isBase64Encoded": False,
        }
        if request.query:  # present only when the URL has a query string, as on AWS
            event["queryStringParameters"] = {k: request.query.getone(k) for k in request.query}
            event["multiValueQueryStringParameters"] = {k: request.query.getall(k) for k in request.query}
        return event

    def _message_event(self, conn: Connection, route: str, body: str) -> dict[str, Any]:
        context = self._context(conn, route, "MESSAGE")
        context["messageId"] = base64.b64encode(os.urandom(9)).decode()
        return {"requestContext": context, "body": body, "isBase64Encoded": False}

    def _disconnect_event(self, conn: Connection, code: int) -> dict[str, Any]:
        return {
            "headers": {"Host": self.host},
            "multiValueHeaders": {"Host": [self.host]},
            "requestContext": self._context(conn, "$disconnect", "DISCONNECT"),
            "isBase64Encoded": False,
            "disconnectStatusCode": code,
            "disconnectReason": "",
        }

    def _log_route(
        self, kind: str, connection_id: str, route: str, outcome: Invocation, status: int | None, started: float
    ) -> None:
        function = self.template.routes.get(route, "-")
        result = (
            "timeout" if outcome.timed_out else ("error: " + outcome.error["errorMessage"] if outcome.error else "ok")
        )
        code = f" {status}" if status is not None else ""
        took = (time.perf_counter() - started) * 1000
        self._log(f"{kind:<10} {connection_id} {route} -> {function}{code} {result} ({took:.0f} ms)")


def _selection_path(expression: str) -> list[str]:
    prefix = "$request.body."
    if not expression.startswith(prefix):
        raise ValueError(f"unsupported route selection expression {expression!r}")
    return expression[len(prefix) :].split(".")


def _status_of(outcome: Invocation) -> int:
    if not outcome.ok:
        return 500
    if isinstance(outcome.result, dict):
        return int(outcome.result.get("statusCode", 200))
    return 200


def _subprotocols(outcome: Invocation) -> tuple[str, ...]:
    headers = (outcome.result or {}).get("headers") if isinstance(outcome.result, dict) else None
    chosen = {k.lower(): v for k, v in (headers or {}).items()}.get("sec-websocket-protocol")
    return (chosen,) if chosen else ()


def _aws_error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status, headers={"x-amzn-ErrorType": error_type})


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
