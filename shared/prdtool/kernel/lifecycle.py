"""The life of a connection around the frames: ``$connect``, the Engine.IO handshake, ``$disconnect``.

Two kinds of client connect. A Socket.IO client says ``EIO=4&transport=websocket``: it is never
refused for its token here (a refused upgrade looks like a network error and Socket.IO clients
reconnect in a loop); its token is judged at the Socket.IO CONNECT packet. A token it put on the
upgrade request (query or header) is verified here all the same, and what it proved (or why it
failed) kept for that CONNECT: the token itself is never stored. A native client (no ``EIO``) has
no CONNECT packet, so its token is judged here and a bad one refused with 401.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from prdtool.kernel.apigw import WebSocketEvent
from prdtool.kernel.auth import Principal, extract_token
from prdtool.kernel.codec import EngineIOPacket, EngineIOType, encode_engineio
from prdtool.kernel.connections import ConnectionRecord, UpgradeAuth
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.heartbeat import sweep_after_open
from prdtool.kernel.observability import MetricUnit, logger, metrics
from prdtool.kernel.security import claimed_user, session_ended
from prdtool.kernel.sender import NATIVE, SOCKETIO, ConnectionGone, Sender
from prdtool.kernel.transport import Transport

__all__ = [
    "HANDSHAKE_DEADLINE_S",
    "connect",
    "disconnect",
    "handshake",
    "new_sid",
    "open_packet",
    "socketio_connection",
]

# How long the handshake keeps retrying a post that API Gateway answers Gone because $connect
# has not returned yet (AWS's advice for sending right after connect).
HANDSHAKE_DEADLINE_S = 5.0
_FIRST_RETRY_S = 0.05


def new_sid() -> str:
    """A URL-safe random session id; never the API Gateway connection id."""
    return secrets.token_urlsafe(15)


def connect(services: Transport, event: WebSocketEvent) -> dict[str, Any]:
    """``$connect``: store the connection and answer API Gateway (2xx accepts the upgrade)."""
    query, headers = event.query, event.header_map
    ctx = event.requestContext
    record = ConnectionRecord(
        event.connection_id,
        connected_at=ctx.connectedAt or services.clock(),
        source_ip=ctx.identity.sourceIp,
        # The query is kept for later handlers (what the client asked for), its token is not.
        query_params={k: v for k, v in query.items() if k != "token"} or None,
    )
    token = extract_token(None, query, headers)
    address = ctx.identity.sourceIp
    banned_until = services.security.banned_until(address, services.clock())
    if banned_until is not None:
        # A banned address is refused whatever it brings, before its token costs a verification.
        metrics.add_metric(name="ConnectRefused", unit=MetricUnit.Count, value=1)
        return _status(429, services.security.banned_error(banned_until, services.clock()).message)
    if "EIO" in query:
        if query.get("EIO") != "4" or query.get("transport") != "websocket":
            metrics.add_metric(name="ConnectRefused", unit=MetricUnit.Count, value=1)
            return _status(400, "Only Engine.IO v4 over WebSocket is supported")
        if "sid" in query:
            # An upgrade of a long-polling session: not offered (on AWS the two transports have
            # different hosts), so a WebSocket never takes over another session's sid.
            metrics.add_metric(name="ConnectRefused", unit=MetricUnit.Count, value=1)
            return _status(400, "Upgrades from long-polling are not offered: open a WebSocket session without sid")
        record = socketio_connection(services, event.connection_id, int(record.connected_at), address, query, headers)
        record.eio_sid = new_sid()
    else:
        try:
            principal = services.verifier.verify(token)
        except AppError as err:
            metrics.add_metric(name="ConnectRefused", unit=MetricUnit.Count, value=1)
            logger.info("native connect refused", extra={"reason": (err.data or {}).get("reason")})
            services.refused_token(address, token, reason=(err.data or {}).get("reason"))
            return _status(401, err.message)
        except Exception:  # noqa: BLE001 - e.g. the signing secret could not be read: say so, don't crash
            logger.exception("authentication failed")
            return _status(503, "Authentication unavailable")
        if services.security.revoked(principal):
            metrics.add_metric(name="ConnectRefused", unit=MetricUnit.Count, value=1)
            return _status(401, session_ended().message)
        record.protocol = NATIVE
        record.socket_sid = new_sid()
        record.user_id, record.user_name, record.picture = principal.user_id, principal.name, principal.picture
        record.roles = list(principal.roles)
        record.token_expires_at = principal.expires_at
        record.token_issued_at, record.token_id = principal.issued_at, principal.token_id
        # No Engine.IO pings for a native client, but the sweep looks at it each interval all the
        # same: its token's expiry, and system:health (sent to every connection the sweep index lists).
        record.sweep_at = record.connected_at + services.settings.ping_interval_ms
    services.store.add(record)
    if record.protocol == SOCKETIO:
        services.start_handshake({
            "connectionId": record.connection_id,
            "eioSid": record.eio_sid,
            "connectDeadline": record.connect_deadline,
            "apiId": ctx.apiId,
            "stage": ctx.stage,
        })  # fmt: skip
    metrics.add_metric(name="ConnectionsOpened", unit=MetricUnit.Count, value=1)
    return _status(200)


def socketio_connection(
    services: Transport,
    connection_id: str,
    connected_at: int,
    address: str | None,
    query: dict[str, str],
    headers: dict[str, str],
) -> ConnectionRecord:
    """The record of a Socket.IO client's new connection (WebSocket or long-polling): a token on
    the request (query or header) verified now and kept as what it proved, never itself."""
    record = ConnectionRecord(
        connection_id,
        connected_at=connected_at,
        source_ip=address,
        query_params={k: v for k, v in query.items() if k != "token"} or None,
        protocol=SOCKETIO,
    )
    token = extract_token(None, query, headers)
    if token:
        # Judged (and a refusal counted) at CONNECT, where the client reads the answer.
        record.upgrade_auth = UpgradeAuth.of(_verify_for_connect(services, token), claimed_user(token))
    # Without a CONNECT by the deadline, the heartbeat closes it; pings start once the OPEN packet
    # is out (the handshake's post, or the polling handshake's answer).
    record.connect_deadline = connected_at + services.settings.connect_timeout_ms
    record.sweep_at = record.connect_deadline
    return record


def _verify_for_connect(services: Transport, token: str) -> Principal | AppError:
    """A Socket.IO client's upgrade token, judged now but answered at CONNECT: never raises."""
    try:
        return services.verifier.verify(token)
    except AppError as err:
        return err
    except Exception:  # noqa: BLE001 - e.g. the signing secret could not be read: CONNECT will say so
        logger.exception("authentication failed")
        return AppError(ErrorCode.INTERNAL, "Authentication unavailable")


def open_packet(services: Transport, eio_sid: str) -> str:
    """The Engine.IO OPEN packet. Over WebSocket there is nothing to upgrade to."""
    s = services.settings
    body = {
        "sid": eio_sid,
        "upgrades": [],
        "pingInterval": s.ping_interval_ms,
        "pingTimeout": s.ping_timeout_ms,
        "maxPayload": s.max_message_bytes,
    }
    return encode_engineio(EngineIOPacket(EngineIOType.OPEN, json.dumps(body, separators=(",", ":"))))


def handshake(services: Transport, request: dict[str, Any], sleep: Callable[[float], None] = time.sleep) -> bool:
    """Post the OPEN packet once API Gateway has established the connection.

    Posts answer Gone until ``$connect`` has returned, so retry with backoff for a few seconds.
    A connection still Gone after that has gone for good and is forgotten. Returns whether the
    packet was delivered.
    """
    connection_id = request["connectionId"]
    sender = services.sender(request.get("apiId", ""), request.get("stage", ""))
    frame = open_packet(services, request["eioSid"])
    waited, delay = 0.0, _FIRST_RETRY_S
    while not _delivered(sender, connection_id, frame):
        if waited + delay > HANDSHAKE_DEADLINE_S:
            logger.info("handshake gave up: connection gone", extra={"connection_id": connection_id})
            services.forget_connection(connection_id)
            return False
        sleep(delay)
        waited += delay
        delay = min(delay * 2, 1.0)
    now = services.clock()
    services.store.mark_opened(
        connection_id, now, sweep_after_open(now, request.get("connectDeadline"), services.settings)
    )
    return True


def _delivered(sender: Sender, connection_id: str, frame: str) -> bool:
    try:
        sender.post(connection_id, frame)
    except ConnectionGone:
        return False
    return True


def disconnect(services: Transport, event: WebSocketEvent) -> dict[str, Any]:
    """``$disconnect``: forget the connection and what hangs on it."""
    services.forget_connection(event.connection_id)
    metrics.add_metric(name="ConnectionsClosed", unit=MetricUnit.Count, value=1)
    return _status(200)


def _status(code: int, message: str = "") -> dict[str, Any]:
    return {"statusCode": code, "body": message}
