"""Every frame a client sends after ``$connect``: Engine.IO/Socket.IO, or native JSON.

Socket.IO frames land on ``$default``; native frames ``{"action", "data", "id"?}`` land on the
route named by their action (or on ``$default`` when no route matches). Invalid Socket.IO input
closes the connection, as the reference server does: a malformed packet, an event on a
namespace the client has not CONNECTed, a second CONNECT to the same namespace. Native clients
get an ``error:operation`` instead; they have no protocol-level close to fall back on.

A frame makes one trip: decoded once (``read_frame``), the connection's record read once
(counting a burst-limited event in the same request), the caller authorized once, and the event
dispatched once to the app the shim serves. Every frame gets an answer, and the handler never
raises: on AWS an exception would reach the client as API Gateway's bare "Internal server error"
frame, which no Socket.IO client can read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prdtool.kernel.apigw import WebSocketEvent
from prdtool.kernel.auth import REFRESH_EVENT, expired_token, extract_token
from prdtool.kernel.codec import (
    EngineIOPacket,
    EngineIOType,
    InvalidPacket,
    SocketIOPacket,
    SocketIOType,
    decode_engineio,
    decode_json,
    decode_socketio,
    encode_engineio,
    encode_socketio,
)
from prdtool.kernel.connections import ConnectionRecord, ConnectOutcome
from prdtool.kernel.errors import ERROR_EVENT, INTERPRETER_EXITS, AppError, ErrorCode
from prdtool.kernel.lifecycle import new_sid
from prdtool.kernel.observability import MetricUnit, logger, metrics
from prdtool.kernel.rate_limits import parse_limit, rate_limited
from prdtool.kernel.security import session_ended
from prdtool.kernel.sender import NATIVE, SOCKETIO, Closing, MessageTooLarge, Recipient, Sender
from prdtool.kernel.socket_app import Caller, Outcome
from prdtool.kernel.transport import Transport

__all__ = ["handle_frame"]

_PONG = encode_engineio(EngineIOPacket(EngineIOType.PONG))
_INTERNAL = AppError(ErrorCode.INTERNAL, "Internal error")
# A connection has one identity for its life (prdtool.kernel.connections.ConnectionStore.connect_namespace).
_OTHER_USER = AppError(
    ErrorCode.UNAUTHORIZED,
    "This connection is already authenticated as another user",
    {"reason": "identity_mismatch"},
)


@dataclass(frozen=True)
class InboundFrame:
    """One frame as the client sent it, decoded once, before anything is read from storage.

    Exactly one of ``socketio`` (a Socket.IO packet in an Engine.IO MESSAGE), ``engineio`` (any
    other Engine.IO packet), ``native`` (a native ``{"action", "data", "id"}`` object) is set,
    unless the frame is ``oversized`` (its size in bytes, over the limit: never decoded) or
    ``invalid`` (why it could not be decoded).
    """

    body: str
    socketio: SocketIOPacket | None = None
    engineio: EngineIOPacket | None = None
    native: dict[str, Any] | None = None
    oversized: int | None = None
    invalid: str | None = None

    @property
    def event(self) -> str | None:
        """The client event it carries, if any (a Socket.IO EVENT's name, a native action)."""
        if self.native is not None:
            return str(self.native["action"])
        if self.socketio is not None and self.socketio.type == SocketIOType.EVENT:
            return str(self.socketio.data[0])
        return None

    @property
    def burst_event(self) -> str | None:
        """The event it carries when that event is limited per connection (``BURST_KINDS``)."""
        return self.event if self.event in BURST_KINDS else None


def read_frame(body: str, max_bytes: int) -> InboundFrame:
    """Decode one frame: Engine.IO (and the Socket.IO packet inside), or native JSON by its shape."""
    size = len(body.encode("utf-8"))
    if size > max_bytes:
        return InboundFrame(body, oversized=size)
    try:
        if body.startswith("{"):  # native frames are JSON objects; Engine.IO frames start with a digit
            frame = decode_json(body)
            if not isinstance(frame, dict) or not isinstance(frame.get("action"), str):
                return InboundFrame(body, invalid="not a native frame")
            return InboundFrame(body, native=frame)
        packet = decode_engineio(body)
        if packet.type == EngineIOType.MESSAGE and isinstance(packet.data, str):
            return InboundFrame(body, socketio=decode_socketio(packet.data))
        return InboundFrame(body, engineio=packet)
    except InvalidPacket as exc:  # not JSON, or nested deeper than anything of the API; a bad packet
        return InboundFrame(body, invalid=str(exc))


def handle_frame(services: Transport, event: WebSocketEvent) -> dict[str, Any]:
    """Handle one inbound frame; always answers 200 (replies travel by ``PostToConnection``).

    One trip, top to bottom: decode the frame, read the connection's record (counting the frame
    against its burst limit in the same request), then answer it as the connection's protocol
    does. Never raises: whatever escapes is logged and answered ``INTERNAL``, without details.
    """
    body = event.body or ""
    connection_id = event.connection_id
    ctx = event.requestContext
    sender = services.sender(ctx.apiId, ctx.stage)
    logger.append_keys(connection_id=connection_id)
    record: ConnectionRecord | None = None
    try:
        if body == _PONG:
            # The commonest frame by far: one conditional update, no read.
            now = services.clock()
            services.store.record_pong(connection_id, now, now + services.settings.ping_interval_ms)
            return _OK
        frame = read_frame(body, services.settings.max_message_bytes)
        record, burst = _read_record(services, connection_id, frame.burst_event)
        if record is None:
            logger.info("frame from an unknown connection; closing it")
            sender.close(connection_id)
            return _OK
        if record.user_id:
            logger.append_keys(user_id=record.user_id)
        if record.protocol == NATIVE:
            _native_frame(services, sender, record, frame, burst)
        else:
            _engineio_frame(services, sender, record, frame, burst)
        if frame.native is not None or (frame.socketio is not None and frame.socketio.type == SocketIOType.EVENT):
            now = services.clock()
            services.activity.note(now - (ctx.requestTimeEpoch or now), now)  # a client event, answered
    except BaseException as exc:  # the last resort, pyo3's panics included (they are BaseExceptions)
        if isinstance(exc, INTERPRETER_EXITS):
            raise
        # The log gets the traceback; the client INTERNAL, without details.
        logger.exception("frame handling failed")
        if body != _PONG:  # nobody waits for an answer to a pong
            _answer_internal(sender, connection_id, record, body)
    return _OK


def _answer_internal(sender: Sender, connection_id: str, record: ConnectionRecord | None, body: str) -> None:
    """Tell the client its frame failed on our side, framed as best we know (maybe no record)."""
    try:
        if record is not None:
            _emit_error(sender, record, None, _INTERNAL)
        elif body.startswith("{"):
            sender.emit(Recipient(connection_id, NATIVE), ERROR_EVENT, {"operation": None, **_INTERNAL.to_payload()})
        else:
            client = Recipient(connection_id, SOCKETIO, _namespace_of(body) or "/")
            sender.emit(client, ERROR_EVENT, {"operation": None, **_INTERNAL.to_payload()})
    except Exception:  # noqa: BLE001 - sending is what failed, perhaps: nothing more can be done
        logger.exception("could not answer a failed frame")


_OK = {"statusCode": 200}

# Events a client sends in bursts, each limited per connection (so one client cannot flood a
# room), and the kind its count is kept under in the connection record.
BURST_KINDS = {"operation:edit": "edit", "presence:cursor": "cursor"}


def _read_record(
    services: Transport, connection_id: str, burst_event: str | None
) -> tuple[ConnectionRecord | None, BurstCount | None]:
    """The connection's record; a burst-limited event is counted in the same request
    (``prdtool.kernel.bursts``: in the instance, and in the record every so many frames)."""
    if burst_event is None:
        return services.store.get(connection_id), None
    limit = parse_limit(
        services.settings.edit_burst_limit if burst_event == "operation:edit" else services.settings.cursor_burst_limit
    )
    now = services.clock()
    record, count = services.bursts.count(services.store, connection_id, BURST_KINDS[burst_event], limit, now)
    return record, BurstCount(burst_event, limit.retry_after_s(now) if count > limit.count else None)


@dataclass(frozen=True)
class BurstCount:
    """A frame counted against its event's burst limit; ``retry_after_s`` is set when over it."""

    event: str
    retry_after_s: int | None


def _engineio_frame(
    services: Transport, sender: Sender, record: ConnectionRecord, frame: InboundFrame, burst: BurstCount | None
) -> None:
    if frame.oversized is not None:
        too_large = _oversized(frame.oversized, services.settings.max_message_bytes)
        namespace = _connect_namespace_of(frame.body)
        if namespace is not None:
            # A client that is not connected yet reads only the CONNECT's answer (connect_error).
            _refuse_connect(sender, record.connection_id, namespace, too_large)
        else:
            _emit_error(sender, record, None, too_large)
        return
    try:
        if frame.socketio is not None:
            _socketio_packet(services, sender, record, frame.socketio, burst)
            return
        packet = frame.engineio
        if packet is None:  # undecodable, or a native frame on a Socket.IO connection
            raise InvalidPacket(frame.invalid or "a native frame on a Socket.IO connection")
        if packet.type == EngineIOType.MESSAGE:  # binary: text messages carry Socket.IO packets
            _emit_error(sender, record, None, AppError(ErrorCode.BINARY_NOT_SUPPORTED, _BINARY_MESSAGE))
        elif packet.type == EngineIOType.PING:
            sender.deliver(record.connection_id, encode_engineio(EngineIOPacket(EngineIOType.PONG, packet.data)))
        elif packet.type == EngineIOType.CLOSE:
            _close(services, sender, record.connection_id, "client closed", Closing.BY_CLIENT)
        elif packet.type == EngineIOType.OPEN:
            raise InvalidPacket("a client never sends OPEN")
        # NOOP and UPGRADE carry nothing over a WebSocket.
    except InvalidPacket as exc:
        _close(services, sender, record.connection_id, f"invalid packet: {exc}")


_BINARY_MESSAGE = "Binary data cannot cross API Gateway WebSockets; send it as a base64 string"
# Longer than any namespace an app serves: an oversized CONNECT "to" one is not answered on it.
_MAX_NAMESPACE_CHARS = 256


def _namespace_of(body: str) -> str | None:
    """The namespace of a Socket.IO packet (``4<type>[/nsp,]...``), read from the raw frame alone;
    None when it is not one or names no namespace we could answer on."""
    if len(body) < 2 or body[0] != "4" or body[1] not in "0123456":
        return None
    if body[2:3] != "/":
        return "/"
    comma = body.find(",", 2, 2 + _MAX_NAMESPACE_CHARS + 1)
    return body[2:comma] if comma != -1 else None


def _connect_namespace_of(body: str) -> str | None:
    """The namespace of a Socket.IO CONNECT (``40[/nsp,][JSON]``), read from the raw frame alone."""
    return _namespace_of(body) if body.startswith("40") else None


def _socketio_packet(
    services: Transport, sender: Sender, record: ConnectionRecord, packet: SocketIOPacket, burst: BurstCount | None
) -> None:
    connected = packet.namespace in (record.namespaces or set())
    if packet.type == SocketIOType.CONNECT and not connected:
        _connect_namespace(services, sender, record, packet)
    elif packet.type == SocketIOType.DISCONNECT and connected:
        services.store.disconnect_namespace(record.connection_id, packet.namespace)
    elif packet.type in (SocketIOType.EVENT, SocketIOType.BINARY_EVENT) and connected:
        _event(services, sender, record, packet, burst)
    elif packet.type in (SocketIOType.ACK, SocketIOType.BINARY_ACK) and connected:
        pass  # we never ask clients for acks
    else:
        # Same as the reference server: a packet in the wrong state ends the connection.
        raise InvalidPacket(f"{packet.type.name} on namespace {packet.namespace!r} in the wrong state")


def _connect_namespace(services: Transport, sender: Sender, record: ConnectionRecord, packet: SocketIOPacket) -> None:
    ns, app = packet.namespace, services.app
    if ns not in app.namespaces:
        _connect_error(sender, record.connection_id, ns, "Invalid namespace", None)
        return
    auth = packet.data if isinstance(packet.data, dict) else {}
    security, now = services.security, services.clock()
    banned_until = security.banned_until(record.source_ip, now)
    if banned_until is not None:  # whatever token it brings now
        _refuse_connect(sender, record.connection_id, ns, security.banned_error(banned_until, now))
        return
    try:
        principal = app.authenticate(auth, record.upgrade_identity)
    except AppError as err:
        if err.code == ErrorCode.UNAUTHORIZED:
            claimed = record.upgrade_auth.claimed_user if record.upgrade_auth is not None else None
            reason = (err.data or {}).get("reason")
            services.refused_token(record.source_ip, extract_token(auth), claimed, reason=reason)
        _refuse_connect(sender, record.connection_id, ns, err)
        return
    except Exception:  # noqa: BLE001 - e.g. the signing secret could not be read: say so, don't hang
        logger.exception("authentication failed")
        _refuse_connect(sender, record.connection_id, ns, AppError(ErrorCode.INTERNAL, "Authentication unavailable"))
        return
    if security.revoked(principal):
        _refuse_connect(sender, record.connection_id, ns, session_ended())
        return
    sid = record.socket_sid or new_sid()
    # The store decides, with a conditional write, whether this user may have the connection.
    outcome = services.store.connect_namespace(record.connection_id, ns, principal, sid)
    if outcome is ConnectOutcome.GONE:
        return
    if outcome is ConnectOutcome.OTHER_USER:
        logger.info("CONNECT as another user refused", extra={"claimed": principal.user_id})
        _refuse_connect(sender, record.connection_id, ns, _OTHER_USER)
        return
    logger.append_keys(user_id=principal.user_id)
    reply = SocketIOPacket(SocketIOType.CONNECT, ns, {"sid": sid})
    if sender.deliver(
        record.connection_id, encode_engineio(EngineIOPacket(EngineIOType.MESSAGE, encode_socketio(reply)))
    ):
        client = Recipient(record.connection_id, record.protocol, ns)
        app.on_connect(Caller(principal, client, sender, services.clock(), sid), auth)


def _refuse_connect(sender: Sender, connection_id: str, ns: str, err: AppError) -> None:
    """A CONNECT_ERROR (``connect_error`` on the client) with the error's code and data."""
    metrics.add_metric(name="ConnectRefused", unit=MetricUnit.Count, value=1)
    _connect_error(sender, connection_id, ns, err.message, {"code": str(err.code), **(err.data or {})})


def _connect_error(sender: Sender, connection_id: str, ns: str, message: str, data: dict[str, Any] | None) -> None:
    body: dict[str, Any] = {"message": message}
    if data is not None:
        body["data"] = data
    packet = SocketIOPacket(SocketIOType.CONNECT_ERROR, ns, body)
    sender.deliver(connection_id, encode_engineio(EngineIOPacket(EngineIOType.MESSAGE, encode_socketio(packet))))


def _event(
    services: Transport, sender: Sender, record: ConnectionRecord, packet: SocketIOPacket, burst: BurstCount | None
) -> None:
    client = Recipient(record.connection_id, record.protocol, packet.namespace)
    name, args = packet.data[0], packet.data[1:]
    if packet.type == SocketIOType.BINARY_EVENT:
        err = AppError(ErrorCode.BINARY_NOT_SUPPORTED, _BINARY_MESSAGE)
        _reply(sender, client, str(name), packet.ack_id, Outcome.failure(str(name), err, packet.ack_id is not None))
        return
    _dispatch(services, sender, record, client, str(name), args, packet.ack_id, burst)


def _native_frame(
    services: Transport, sender: Sender, record: ConnectionRecord, frame: InboundFrame, burst: BurstCount | None
) -> None:
    client = Recipient(record.connection_id, NATIVE)
    if frame.oversized is not None:
        _emit_error(sender, record, None, _oversized(frame.oversized, services.settings.max_message_bytes))
        return
    if frame.native is None:
        err = AppError(ErrorCode.INVALID_PACKET, 'Expected a JSON object {"action": "<event>", "data": {...}}')
        _emit_error(sender, record, None, err)
        return
    ack_id = frame.native.get("id")
    if not isinstance(ack_id, (int, str)) or isinstance(ack_id, bool):
        ack_id = None
    _dispatch(services, sender, record, client, frame.native["action"], [frame.native.get("data")], ack_id, burst)


def _dispatch(
    services: Transport,
    sender: Sender,
    record: ConnectionRecord,
    client: Recipient,
    name: str,
    args: list[Any],
    ack_id: int | str | None,
    burst: BurstCount | None = None,
) -> None:
    principal = record.principal
    wants_ack = ack_id is not None
    if principal is None:  # cannot happen after CONNECT or a native $connect; refuse rather than guess
        err = AppError(ErrorCode.UNAUTHORIZED, "Not authenticated")
        _reply(sender, client, name, ack_id, Outcome.failure(name, err, wants_ack))
        return
    expired = principal.expires_at is not None and services.verifier.has_expired(principal.expires_at, services.clock())
    if expired and name != REFRESH_EVENT:  # a fresh token is the one thing an expired session may send
        # The token proved who this is until its exp, no longer: reconnect with a fresh one.
        # The connection stays open (pings go on) so the client reads why.
        _reply(sender, client, name, ack_id, Outcome.failure(name, expired_token(), wants_ack))
        return
    if burst is not None and burst.event == name and burst.retry_after_s is not None:
        sender.emit(client, "rate_limit:exceeded", {"endpoint": name, "retryAfter": burst.retry_after_s})
        _reply(sender, client, name, ack_id, Outcome.failure(name, rate_limited(name, burst.retry_after_s), wants_ack))
        return
    caller = Caller(principal, client, sender, services.clock(), record.socket_sid, record)
    outcome = services.app.dispatch(caller, name, args, wants_ack=wants_ack)
    metrics.add_metric(name="EventsHandled", unit=MetricUnit.Count, value=1)
    _reply(sender, client, name, ack_id, outcome)
    for then in caller.after_reply:
        then()


def _reply(sender: Sender, client: Recipient, name: str, ack_id: int | str | None, outcome: Outcome) -> None:
    try:
        _send_outcome(sender, client, ack_id, outcome)
    except MessageTooLarge:
        logger.warning("reply too large for one frame", extra={"ack": ack_id})
        err = AppError(ErrorCode.PAYLOAD_TOO_LARGE, "The reply was too large for one WebSocket frame")
        _send_outcome(sender, client, ack_id, Outcome.failure(name, err, ack_id is not None))


def _send_outcome(sender: Sender, client: Recipient, ack_id: int | str | None, outcome: Outcome) -> None:
    if ack_id is not None and outcome.ack is not None:
        sender.ack(client, ack_id, outcome.ack)
    elif outcome.error_event is not None:
        sender.emit(client, ERROR_EVENT, outcome.error_event)


def _oversized(size: int, limit: int) -> AppError:
    return AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"Message of {size} bytes exceeds the limit of {limit} bytes")


def _emit_error(sender: Sender, record: ConnectionRecord, operation: str | None, err: AppError) -> None:
    """An ``error:operation`` for a frame that names no namespace: sent on each one the client joined."""
    for ns in sorted(record.namespaces or {"/"}):
        payload = {"operation": operation, **err.to_payload()}
        sender.emit(Recipient(record.connection_id, record.protocol, ns), ERROR_EVENT, payload)


def _close(
    services: Transport, sender: Sender, connection_id: str, reason: str, why: Closing = Closing.BY_SERVER
) -> None:
    logger.info("closing connection", extra={"reason": reason})
    sender.close(connection_id, why)
    services.forget_connection(connection_id)
