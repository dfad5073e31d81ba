"""The one place that sends to clients: API Gateway's management API (``@connections``).

Every send is awaited before the handler returns (an unawaited post is lost when Lambda freezes
the function). A connection found Gone is the stale one: it is forgotten through ``on_gone``,
never the sender's own. Throttling (429 ``LimitExceededException``) is retried by botocore's
standard retry mode with jittered backoff; a frame over API Gateway's 128 KB becomes
``MessageTooLarge``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from prdtool.kernel.codec import (
    EngineIOPacket,
    EngineIOType,
    SocketIOPacket,
    SocketIOType,
    encode_engineio,
    encode_json,
    encode_socketio,
)
from prdtool.kernel.observability import logger
from prdtool.kernel.outbox import Outbox, SessionGone, is_polling

__all__ = [
    "NATIVE",
    "SOCKETIO",
    "BroadcastReport",
    "Closing",
    "ConnectionGone",
    "MessageTooLarge",
    "Recipient",
    "Sender",
    "encode_ack",
    "encode_event",
    "management_client",
    "management_endpoint",
]

SOCKETIO = "socketio"
NATIVE = "native"
FAN_OUT_WORKERS = 48  # posts to one room at once (bench: 100 sessions, 16 -> 48 took 1,010 -> 757 ms)
MAX_POST_BYTES = 128 * 1024  # API Gateway's limit on one post; a polling session's frames keep to it too


class ConnectionGone(Exception):
    """The connection no longer exists (410), or is not established yet."""


class MessageTooLarge(Exception):
    """API Gateway refused the frame as too large (413)."""


@dataclass(frozen=True)
class Recipient:
    """Where a frame goes and how it must be framed for that client."""

    connection_id: str
    protocol: str = SOCKETIO
    namespace: str = "/"


@dataclass
class BroadcastReport:
    delivered: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def management_endpoint(api_id: str, region: str, stage: str, override: str | None = None) -> str:
    """The ``@connections`` endpoint of a stage; ``override`` (the standard endpoint variable) wins.

    Built from the API id rather than the request's domain, so it stays right behind a custom domain.
    """
    if override:
        return override.rstrip("/")
    return f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage}"


def management_client(endpoint: str, region: str) -> Any:
    """A boto3 client for the management API, with throttling retried and a pool wide enough for fan-out."""
    config = Config(
        retries={"mode": "standard", "max_attempts": 4},
        max_pool_connections=FAN_OUT_WORKERS,
        connect_timeout=3,
        read_timeout=5,
    )
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, region_name=region, config=config)


def encode_event(protocol: str, namespace: str, event: str, *args: Any) -> str:
    """The frame that delivers ``event`` with its arguments to a client of the given protocol."""
    if protocol == NATIVE:
        return _native({"event": event, "data": _native_data(args)})
    packet = SocketIOPacket(SocketIOType.EVENT, namespace, [event, *args])
    return encode_engineio(EngineIOPacket(EngineIOType.MESSAGE, encode_socketio(packet)))


def encode_ack(protocol: str, namespace: str, ack_id: int | str, args: list[Any]) -> str:
    """The frame that acknowledges request ``ack_id`` with ``args``."""
    if protocol == NATIVE:
        return _native({"ack": ack_id, "data": _native_data(args)})
    packet = SocketIOPacket(SocketIOType.ACK, namespace, list(args), ack_id=int(ack_id))
    return encode_engineio(EngineIOPacket(EngineIOType.MESSAGE, encode_socketio(packet)))


def _native(frame: dict[str, Any]) -> str:
    # encode_json escapes lone surrogates (valid in JSON, not in UTF-8), so every frame can be posted.
    return encode_json(frame)


def _native_data(args: tuple[Any, ...] | list[Any]) -> Any:
    # Native frames carry one payload: every event of the API has exactly one.
    return args[0] if len(args) == 1 else list(args)


class Closing(Enum):
    """Why a connection is closed: what a long-polling session's last GET is answered with."""

    BY_SERVER = "by_server"  # Engine.IO's CLOSE: the client is told
    BY_CLIENT = "by_client"  # a NOOP, which ends the poll waiting (as Engine.IO does)
    UNRESPONSIVE = "unresponsive"  # nothing: it stopped answering pings (later GETs: Session ID unknown)


class Sender:
    """Posts frames to connections and closes them, through one management API client."""

    def __init__(self, client: Any, on_gone: Callable[[str], None], outbox: Outbox | None = None) -> None:
        self._client = client
        self._on_gone = on_gone
        self._outbox = outbox  # where frames for long-polling sessions go (none: there are none)

    def leaving_gone_be(self) -> Sender:
        """The same sender (the same client), but one that forgets no connection it finds gone."""
        return Sender(self._client, on_gone=lambda _: None, outbox=self._outbox)

    def post(self, connection_id: str, frame: str) -> None:
        """Post one frame. Raises ``ConnectionGone`` or ``MessageTooLarge``; forgets nothing. A
        long-polling session's frame goes to its outbox, for its next GET."""
        if is_polling(connection_id):
            if self._outbox is None:
                raise ConnectionGone(connection_id)
            if len(frame.encode("utf-8")) > MAX_POST_BYTES:
                raise MessageTooLarge(connection_id)
            try:
                self._outbox.append(connection_id, frame, int(time.time() * 1000))
            except SessionGone as exc:
                raise ConnectionGone(connection_id) from exc
            return
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=frame.encode("utf-8"))
        except ClientError as exc:
            typed = _typed(exc)
            if typed is exc:
                raise
            raise typed from exc

    def deliver(self, connection_id: str, frame: str) -> bool:
        """Post one frame; a Gone connection is forgotten and False returned."""
        try:
            self.post(connection_id, frame)
        except ConnectionGone:
            self._on_gone(connection_id)
            return False
        return True

    def emit(self, to: Recipient, event: str, *args: Any) -> bool:
        """Send ``event`` to one client, framed for its protocol."""
        return self.deliver(to.connection_id, encode_event(to.protocol, to.namespace, event, *args))

    def ack(self, to: Recipient, ack_id: int | str, args: list[Any]) -> bool:
        """Acknowledge the client's request ``ack_id`` with ``args``."""
        return self.deliver(to.connection_id, encode_ack(to.protocol, to.namespace, ack_id, args))

    def broadcast(self, recipients: Iterable[Recipient], event: str, data: Any) -> BroadcastReport:
        """Send ``event`` to many clients concurrently; each distinct framing is encoded once."""
        frames: dict[tuple[str, str], str] = {}
        jobs: list[tuple[str, str]] = []
        for r in recipients:
            key = (r.protocol, r.namespace)
            if key not in frames:
                frames[key] = encode_event(r.protocol, r.namespace, event, data)
            jobs.append((r.connection_id, frames[key]))
        return self._deliver_all(jobs)

    def deliver_many(self, connection_ids: Iterable[str], frame: str) -> BroadcastReport:
        """Post the same raw frame to many connections concurrently (heartbeat pings)."""
        return self._deliver_all([(connection_id, frame) for connection_id in connection_ids])

    def end(self, to: Recipient) -> None:
        """Close a client's connection; a Socket.IO client is told the server ended its session
        first (DISCONNECT, "io server disconnect"), so it does not reconnect by itself."""
        if to.protocol != NATIVE:
            packet = encode_socketio(SocketIOPacket(SocketIOType.DISCONNECT, to.namespace))
            self.deliver(to.connection_id, encode_engineio(EngineIOPacket(EngineIOType.MESSAGE, packet)))
        self.close(to.connection_id)

    def close(self, connection_id: str, why: Closing = Closing.BY_SERVER) -> None:
        """Close a connection (API Gateway then runs ``$disconnect``); already gone is fine. A
        polling session has no socket to close: its outbox gets the last frame ``why`` calls for,
        which the GET waiting (or the next) answers with. Forgetting its record then ends it."""
        if is_polling(connection_id):
            if self._outbox is not None and why is not Closing.UNRESPONSIVE:
                last = EngineIOType.NOOP if why is Closing.BY_CLIENT else EngineIOType.CLOSE
                self._outbox.end(connection_id, encode_engineio(EngineIOPacket(last)), int(time.time() * 1000))
            return
        try:
            self._client.delete_connection(ConnectionId=connection_id)
        except ClientError as exc:
            if not isinstance(_typed(exc), ConnectionGone):
                raise

    def describe(self, connection_id: str) -> dict[str, Any] | None:
        """``GetConnection``: connected-at, last-active-at and identity; None when gone."""
        try:
            described: dict[str, Any] = self._client.get_connection(ConnectionId=connection_id)
            return described
        except ClientError as exc:
            if isinstance(_typed(exc), ConnectionGone):
                return None
            raise

    def _deliver_all(self, jobs: list[tuple[str, str]]) -> BroadcastReport:
        report = BroadcastReport()
        if not jobs:
            return report
        if len(jobs) == 1:  # nothing to overlap: handing one post to a thread only adds the handoff
            outcomes = [self._try_post(*jobs[0])]
        else:
            outcomes = list(_posters().map(lambda job: self._try_post(*job), jobs))
        for (connection_id, _), outcome in zip(jobs, outcomes, strict=True):
            getattr(report, outcome).append(connection_id)
        for connection_id in report.gone:
            self._on_gone(connection_id)
        return report

    def _try_post(self, connection_id: str, frame: str) -> str:
        try:
            self.post(connection_id, frame)
        except ConnectionGone:
            return "gone"
        except (MessageTooLarge, ClientError):
            logger.exception("post failed", extra={"to": connection_id})
            return "failed"
        return "delivered"


@cache
def _posters() -> ThreadPoolExecutor:
    """The instance's posting threads, started on its first broadcast and kept while it is warm:
    a pool per broadcast paid for starting each of its threads on every edit."""
    return ThreadPoolExecutor(max_workers=FAN_OUT_WORKERS, thread_name_prefix="post")


def _typed(exc: ClientError) -> Exception:
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code == "GoneException" or status == 410:
        return ConnectionGone(str(exc))
    if code == "PayloadTooLargeException" or status == 413:
        return MessageTooLarge(str(exc))
    return exc  # type: ignore[no-any-return]  # botocore is untyped: a ClientError is an Exception
