"""Engine.IO v4's long-polling transport, served by the HTTP API: the same sessions, framing,
router and features as WebSocket frames, for clients that cannot open a WebSocket.

- ``GET ?EIO=4&transport=polling`` (no ``sid``): the handshake. A session is recorded like a
  WebSocket one (connection id ``polling:<sid>``; a token in the query or the Authorization
  header is judged at its Socket.IO CONNECT, as at ``$connect``), and the answer is the OPEN
  packet, with no upgrade (on AWS the WebSocket API has another host).
- ``POST ?sid=``: packets, separated by the record separator (``\\x1e``), each handled exactly as
  a WebSocket frame of that session (``frames.handle_frame``); replies go to the session's outbox.
- ``GET ?sid=``: the outbox, drained in order. It answers as soon as something is there, or after
  ``PollWaitSeconds`` with a NOOP; one GET holds the session at a time (a conditional lease: a
  second one at once is Engine.IO's "overlap" error, and the session ends). What a GET answers
  is marked delivered, conditionally on it still holding the session, before it answers: two
  GETs never answer the same frame. A GET whose Lambda dies after marking loses that answer, as
  a WebSocket post lost with its Lambda would be.
- A session that ends (closed by the server, by the client's CLOSE packet, or swept) leaves a
  last frame in its outbox: the GET waiting then answers it at once (Engine.IO's CLOSE, or the
  NOOP that ends a pending poll when the client closed), and every later GET gets ``Session ID
  unknown``. A WebSocket upgrade request naming a polling ``sid`` is refused (400) at ``$connect``.

A polling session is pinged through the same sender (the ping waits in the outbox), by the
heartbeat's sweep or, on time, by the GET waiting (``heartbeat.ping_if_due``: the sweep's own
decision); pongs come by POST. Errors are Engine.IO's: ``{"code": 0, "message": "Transport unknown"}``,
1 ``Session ID unknown``, 2 ``Bad handshake method``, 3 ``Bad request``, 5 ``Unsupported protocol
version``; a body over ``maxPayload`` is 413.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from prdtool.kernel.apigw import WebSocketEvent
from prdtool.kernel.codec import InvalidPacket, decode_engineio
from prdtool.kernel.conditions import update_if
from prdtool.kernel.connections import ConnectionRecord
from prdtool.kernel.heartbeat import Action, decide, ping_if_due, sweep_after_open
from prdtool.kernel.lifecycle import new_sid, open_packet, socketio_connection
from prdtool.kernel.observability import logger
from prdtool.kernel.outbox import END_SEQ, POLLING_PREFIX, OutboxFrame
from prdtool.kernel.transport import Transport

__all__ = ["RECORD_SEPARATOR", "serve_polling"]

RECORD_SEPARATOR = "\x1e"
_NOOP = "6"
_FIRST_WAIT_S, _MAX_WAIT_S = 0.05, 0.5


def _error(code: int, message: str, status: int = 400) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"code": code, "message": message})}  # fmt: skip


def _text(body: str) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain; charset=UTF-8"}, "body": body}


def serve_polling(
    services: Transport,
    frame_handler: Callable[[Transport, WebSocketEvent], dict[str, Any]],
    event: dict[str, Any],
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Answer one HTTP API request (payload format 2.0) of the polling transport."""
    query = event.get("queryStringParameters") or {}
    method = str((event.get("requestContext") or {}).get("http", {}).get("method", "")).upper()
    if query.get("transport") != "polling":
        return _error(0, "Transport unknown")
    if query.get("EIO") != "4":
        return _error(5, "Unsupported protocol version")
    sid = query.get("sid")
    if not sid:
        if method != "GET":
            return _error(2, "Bad handshake method")
        return _handshake(services, event, query)
    connection_id = POLLING_PREFIX + sid
    if method == "GET":
        return _long_poll(services, connection_id, sleep)
    if method == "POST":
        return _post(services, frame_handler, connection_id, event)
    return _error(2, "Bad handshake method")


def _handshake(services: Transport, event: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    address = (event.get("requestContext") or {}).get("http", {}).get("sourceIp")
    now = services.clock()
    banned_until = services.security.banned_until(address, now)
    if banned_until is not None:
        return _error(3, services.security.banned_error(banned_until, now).message, status=429)
    sid = new_sid()
    record = socketio_connection(services, POLLING_PREFIX + sid, now, address, query, headers)
    record.eio_sid = sid
    record.opened_at = now  # the OPEN packet goes out in this very answer
    record.sweep_at = sweep_after_open(now, int(record.connect_deadline), services.settings)
    services.store.add(record)
    return _text(open_packet(services, sid))


def _post(
    services: Transport,
    frame_handler: Callable[[Transport, WebSocketEvent], dict[str, Any]],
    connection_id: str,
    event: dict[str, Any],
) -> dict[str, Any]:
    raw = event.get("body") or ""
    body = base64.b64decode(raw).decode("utf-8", errors="replace") if event.get("isBase64Encoded") else raw
    if len(body.encode("utf-8")) > services.settings.max_message_bytes:
        return _error(3, f"The body exceeds maxPayload ({services.settings.max_message_bytes} bytes)", status=413)
    if services.store.get(connection_id) is None:
        return _error(1, "Session ID unknown")
    packets = body.split(RECORD_SEPARATOR)
    try:
        for packet in packets:
            decode_engineio(packet)  # all of them readable, or none is handled
    except InvalidPacket:
        return _error(3, "Bad request")
    settings = services.settings
    for packet in packets:
        frame_handler(services, WebSocketEvent.parse({
            "requestContext": {
                "routeKey": "$default", "eventType": "MESSAGE", "connectionId": connection_id,
                "apiId": settings.websocket_api_id, "stage": settings.stage, "requestTimeEpoch": services.clock(),
            },
            "body": packet,
        }))  # fmt: skip
    return _text("ok")


def _long_poll(services: Transport, connection_id: str, sleep: Callable[[float], None]) -> dict[str, Any]:
    assert services.outbox is not None  # polling is served only with an outbox table
    record = services.store.get(connection_id)
    if record is None:
        # Ended before this GET came (a close raced it): what no GET answered, and its last
        # frame, if no GET had them yet.
        end = services.outbox.claim_end(connection_id)
        if end is None:
            return _error(1, "Session ID unknown")
        words = services.outbox.take(connection_id, end.after, services.clock()) if end.after is not None else []
        return _text(RECORD_SEPARATOR.join([*(f.frame for f in words if f.seq != END_SEQ), end.frame]))
    settings = services.settings
    if decide(record, services.clock(), settings).action in (Action.CLOSE_PONG_OVERDUE, Action.CLOSE_NEVER_CONNECTED):
        # Dead already (its pong or its CONNECT is overdue), though the sweep has not come by yet:
        # it ends now, as the sweep would have ended it, and this GET is told so.
        services.forget_connection(connection_id)
        return _error(1, "Session ID unknown")
    holder = secrets.token_hex(8)
    wait_s = settings.poll_wait_s
    now = services.clock()
    model = ConnectionRecord
    # The session is held by one GET at a time: a GET that is held over (its Lambda died) lets
    # the next one in once its wait and a margin have passed.
    if not update_if(
        ConnectionRecord(connection_id),
        [model.poll_holder.set(holder), model.poll_until.set(now + int(wait_s * 1000) + 5_000)],
        model.connection_id.exists() & (model.poll_until.does_not_exist() | (model.poll_until < now)),
    ):
        logger.info("overlapping polling GETs: the session ends")
        services.sender().close(connection_id)
        services.forget_connection(connection_id)
        return _error(3, "Bad request")
    delivered = int(record.delivered_seq or 0)
    deadline = time.monotonic() + wait_s
    pause = _FIRST_WAIT_S
    # A ping waiting here must reach the client well within the pong timeout it counts down.
    longest_pause = min(_MAX_WAIT_S, settings.ping_timeout_ms / 4000)
    while True:
        ping_if_due(services, record, services.clock())  # into the outbox, taken just below
        frames = services.outbox.take(connection_id, delivered, services.clock())
        if frames and frames[-1].seq == END_SEQ:
            return _last_answer(services, connection_id, holder, frames)
        if frames:
            # Marked delivered before answering, by the GET that holds the session only: two
            # GETs never answer the same frame.
            # Not once the session has ended: from then on its last frame says what was delivered.
            marked = update_if(
                ConnectionRecord(connection_id),
                [model.delivered_seq.set(frames[-1].seq), model.poll_until.set(0)],
                model.connection_id.exists() & (model.poll_holder == holder) & model.poll_ended_at.does_not_exist(),
            )
            if not marked:
                now_record = services.store.get(connection_id)
                ended_at: float | None = None if now_record is None else now_record.poll_ended_at  # nullable
                if now_record is None or ended_at is not None:
                    # Ended meanwhile: what it has (now with its last frame), then its end.
                    frames = services.outbox.take(connection_id, delivered, services.clock())
                    return _last_answer(services, connection_id, holder, frames)
                return _error(3, "Bad request")
            return _text(RECORD_SEPARATOR.join(f.frame for f in frames))
        if time.monotonic() + pause > deadline:
            update_if(ConnectionRecord(connection_id), [model.poll_until.set(0)], model.poll_holder == holder)
            if services.store.get(connection_id) is None:
                return _error(1, "Session ID unknown")
            return _text(_NOOP)
        sleep(pause)
        pause = min(pause * 2, longest_pause)


def _last_answer(services: Transport, connection_id: str, holder: str, frames: list[OutboxFrame]) -> dict[str, Any]:
    """The answer of a GET that finds its session ended: the frames it had not delivered, then the
    session's last frame (CLOSE when none was left, or another GET has it)."""
    assert services.outbox is not None
    end = services.outbox.claim_end(connection_id)
    if end is None:
        # Another GET answers the end and what came before it (it claimed it first), or the
        # session went without one: answering these too could answer them twice.
        return _error(1, "Session ID unknown")
    words = [f.frame for f in frames if f.seq != END_SEQ]
    return _text(RECORD_SEPARATOR.join([*words, end.frame]))
