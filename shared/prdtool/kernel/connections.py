"""Where connections live: the DynamoDB table layout and every conditional write on it.

One item per WebSocket connection, keyed by API Gateway's connection id. Two sparse indexes:
``by-sweep`` lists the connections the heartbeat must look at, by the time it must look
(``sweep_at``), spread over a few shards so no single partition takes every write; it projects
all but the burst counters, so counting a frame writes no index copy. The
heartbeat's cost is a query per shard for what is due, never a scan of the table. ``by-user``
finds a signed-in user's connections (a notification goes to each), projecting only what framing
needs, so pings and counters never write to it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError
from pynamodb.expressions.update import Action
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from prdtool.kernel.activity import Figure, counter_of
from prdtool.kernel.auth import Principal
from prdtool.kernel.conditions import condition_failed, transact_retrying, update_if
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.observability import logger
from prdtool.kernel.sender import Recipient
from prdtool.kernel.settings import Settings
from prdtool.kernel.tables import bind

__all__ = [
    "SWEEP_SHARDS",
    "ConnectOutcome",
    "ConnectionRecord",
    "ConnectionStore",
    "UpgradeAuth",
    "bind_tables",
]

SWEEP_SHARDS = 4
# API Gateway closes every connection after 2 hours; keep the record a little longer, so a
# $disconnect that never came still ends with the item expiring.
CONNECTION_TTL = timedelta(hours=2, minutes=15)


# What the sweep reads of a connection: everything but the burst counters, which change with
# every edit and cursor move; projecting them would write an index copy on each of those frames.
SWEPT_ATTRIBUTES = [
    "connect_deadline", "connected_at", "delivered_seq", "eio_sid", "expires_at", "expiry_warned",
    "last_ping_at", "last_pong_at", "namespaces", "opened_at", "outbox_seq", "picture", "poll_ended_at",
    "poll_holder", "poll_until", "protocol", "query", "roles", "rooms", "socket_sid", "source_ip",
    "token_expires_at", "token_id", "token_issued_at", "upgrade_auth", "user_id", "user_name",
    "watches_metrics",
]  # fmt: skip
BURST_COUNTERS = ["cursor_count", "cursor_window", "edit_count", "edit_window"]


class BySweep(GlobalSecondaryIndex["ConnectionRecord"]):
    class Meta:
        index_name = "by-sweep"
        projection = IncludeProjection(SWEPT_ATTRIBUTES)

    sweep_shard = UnicodeAttribute(hash_key=True)
    sweep_at = NumberAttribute(range_key=True)


class ByUser(GlobalSecondaryIndex["ConnectionRecord"]):
    class Meta:
        index_name = "by-user"
        projection = IncludeProjection(["protocol", "namespaces"])

    user_id = UnicodeAttribute(hash_key=True)


class UpgradeAuth(MapAttribute[str, Any]):
    """What a token on the upgrade request (``?token=`` or ``Authorization``) proved, verified at
    ``$connect`` for a Socket.IO CONNECT that carries none: a principal, or why there is none.

    Never the token itself: a table of connections is no place for bearer credentials.
    """

    user_id = UnicodeAttribute(null=True)
    user_name = UnicodeAttribute(null=True)
    picture = UnicodeAttribute(null=True)
    roles: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[arg-type]  # pynamodb types "of" as the value
    expires_at = NumberAttribute(null=True)  # the token's exp, epoch ms
    issued_at = NumberAttribute(null=True)  # its iat, epoch ms
    token_id = UnicodeAttribute(null=True)  # its jti
    # Or the refusal, as the client will be told it (our own wording, never a library's).
    error_code = UnicodeAttribute(null=True)
    error_message = UnicodeAttribute(null=True)
    error_reason = UnicodeAttribute(null=True)
    claimed_user = UnicodeAttribute(null=True)  # the sub a refused token claimed (unverified)

    @classmethod
    def of(cls, result: Principal | AppError, claimed: str | None = None) -> UpgradeAuth:
        if isinstance(result, AppError):
            reason = (result.data or {}).get("reason")
            return cls(
                error_code=str(result.code), error_message=result.message, error_reason=reason, claimed_user=claimed
            )
        return cls(
            user_id=result.user_id,
            user_name=result.name,
            picture=result.picture,
            roles=list(result.roles),
            expires_at=result.expires_at,
            issued_at=result.issued_at,
            token_id=result.token_id,
        )

    @property
    def result(self) -> Principal | AppError:
        if self.user_id:
            roles = tuple(self.roles or ())
            expires_at = int(self.expires_at) if self.expires_at is not None else None
            issued_at = int(self.issued_at) if self.issued_at is not None else None
            return Principal(
                self.user_id, self.user_name or self.user_id, self.picture, roles, expires_at, issued_at, self.token_id
            )
        data = {"reason": self.error_reason} if self.error_reason else None
        return AppError(ErrorCode(self.error_code or ErrorCode.UNAUTHORIZED), self.error_message or "", data)


class ConnectOutcome(StrEnum):
    """How recording a Socket.IO CONNECT went."""

    CONNECTED = "connected"
    GONE = "gone"  # the connection went away meanwhile
    OTHER_USER = "other_user"  # the connection already belongs to another user: it keeps that one


class ConnectionRecord(Model):
    """One WebSocket connection. Times are epoch milliseconds."""

    class Meta:
        table_name = "connections"  # replaced by bind_tables()
        region = "us-east-1"

    connection_id = UnicodeAttribute(hash_key=True)
    protocol = UnicodeAttribute()  # "socketio" or "native"
    connected_at = NumberAttribute()
    source_ip = UnicodeAttribute(null=True)
    query_params = MapAttribute(attr_name="query", null=True)  # type: ignore[var-annotated]
    upgrade_auth = UpgradeAuth(null=True)  # what a token on the upgrade request proved (Socket.IO)
    eio_sid = UnicodeAttribute(null=True)
    namespaces = UnicodeSetAttribute(null=True)  # Socket.IO namespaces this client has CONNECTed
    socket_sid = UnicodeAttribute(null=True)
    user_id = UnicodeAttribute(null=True)
    user_name = UnicodeAttribute(null=True)
    picture = UnicodeAttribute(null=True)
    roles: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[arg-type]  # pynamodb types "of" as the value
    # When the token that established user_id expires (its exp); events after it are refused.
    token_expires_at = NumberAttribute(null=True)
    token_issued_at = NumberAttribute(null=True)  # and its iat and jti: what ending this session revokes
    token_id = UnicodeAttribute(null=True)
    expiry_warned = NumberAttribute(null=True)  # the token_expires_at that session:expiring was sent for
    watches_metrics = BooleanAttribute(null=True)  # subscribed to metrics:realtime (forgotten with it)
    # A long-polling session (kernel/polling.py): its outbox's last number, what its GETs have
    # delivered of it, the GET that holds the session now (until when), and when it ended (its
    # last frame is in the outbox: no GET marks anything delivered after that, kernel/outbox.py).
    outbox_seq = NumberAttribute(null=True)
    delivered_seq = NumberAttribute(null=True)
    poll_holder = UnicodeAttribute(null=True)
    poll_until = NumberAttribute(null=True)
    poll_ended_at = NumberAttribute(null=True)
    opened_at = NumberAttribute(null=True)  # when the Engine.IO OPEN packet was delivered
    connect_deadline = NumberAttribute(null=True)  # until the first Socket.IO CONNECT completes
    # The documents this connection has joined: prd id -> {sessionId, namespace, mode, clockKey,
    # encoding}. Bounded by the documents one connection has open, not by anything's history.
    rooms = MapAttribute(null=True)  # type: ignore[var-annotated]
    last_ping_at = NumberAttribute(null=True)
    last_pong_at = NumberAttribute(null=True)
    sweep_shard = UnicodeAttribute(null=True)
    sweep_at = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    # Burst limits (prdtool.kernel.frames): frames of each limited kind in the current window.
    edit_window = NumberAttribute(null=True)
    edit_count = NumberAttribute(null=True)
    cursor_window = NumberAttribute(null=True)
    cursor_count = NumberAttribute(null=True)

    by_sweep = BySweep()
    by_user = ByUser()

    @property
    def principal(self) -> Principal | None:
        """Who this connection is: set once, by a native $connect or the first Socket.IO CONNECT."""
        if not self.user_id:
            return None
        roles = tuple(self.roles or ())
        expires_at = int(self.token_expires_at) if self.token_expires_at is not None else None
        issued_at = int(self.token_issued_at) if self.token_issued_at is not None else None
        return Principal(
            self.user_id, self.user_name or self.user_id, self.picture, roles, expires_at, issued_at, self.token_id
        )

    @property
    def recipient(self) -> Recipient | None:
        """Where to reach this client: a Socket.IO client in its first namespace (the default one
        when it has it); None before it has CONNECTed any."""
        namespaces = sorted(self.namespaces or ())
        if self.protocol == "socketio" and not namespaces:
            return None
        return Recipient(
            self.connection_id, self.protocol, "/" if "/" in namespaces or not namespaces else namespaces[0]
        )

    @property
    def upgrade_identity(self) -> Principal | AppError | None:
        """What a token on the upgrade request proved; None when it carried none."""
        return self.upgrade_auth.result if self.upgrade_auth is not None else None

    def room(self, prd_id: str) -> dict[str, str] | None:
        """This connection's session in a document, if it has joined it."""
        rooms = self.rooms.as_dict() if self.rooms is not None else {}
        return rooms.get(prd_id)

    @property
    def joined(self) -> dict[str, dict[str, str]]:
        return self.rooms.as_dict() if self.rooms is not None else {}

    @property
    def awaiting_pong(self) -> bool:
        return self.last_ping_at is not None and (self.last_pong_at or 0) < self.last_ping_at


def _identity(principal: Principal) -> list[Action]:
    """The writes that make a record say who ``principal`` is, as its token tells."""
    model = ConnectionRecord

    def optional(attribute: Any, value: Any) -> Action:
        return attribute.set(value) if value is not None else attribute.remove()

    return [
        model.user_id.set(principal.user_id),
        model.user_name.set(principal.name),
        model.roles.set(list(principal.roles)),
        optional(model.picture, principal.picture or None),
        optional(model.token_expires_at, principal.expires_at),
        optional(model.token_issued_at, principal.issued_at),
        optional(model.token_id, principal.token_id),
        model.expiry_warned.remove(),
    ]


def _transact(write: Callable[[TransactWrite], None]) -> bool:
    """One transaction on a record and its counter; False when a condition failed. A conflict
    with another on the same counter is tried again after a short random pause (a reconnect
    storm is when they collide)."""
    return transact_retrying(ConnectionRecord._get_connection().connection, write, jitter_s=0.02)


def _count_anyway(connection_id: str, by: int) -> None:
    """The counter moved outside the transaction (it failed): best effort, never raising."""
    try:
        counter_of(connection_id).update(actions=[Figure.open_connections.add(by)])
    except Exception:  # noqa: BLE001 - the figure drifts by one; the connection is what matters
        logger.exception("the connection counter could not be moved")


def bind_tables(settings: Settings) -> None:
    """Point the models at the deployment's tables (names and endpoint come from settings)."""
    bind(ConnectionRecord, settings.connections_table, settings)


def sweep_shard(connection_id: str) -> str:
    return str(zlib.crc32(connection_id.encode()) % SWEEP_SHARDS)


class ConnectionStore:
    """Reads and conditional writes of connection records."""

    def __init__(self, counted: bool = False) -> None:
        self._counted = counted  # open connections are counted (the metrics table is set)

    def open(self) -> None:
        """Create the DynamoDB client now rather than on the first request."""
        _ = ConnectionRecord._get_connection().connection.client

    def add(self, record: ConnectionRecord) -> None:
        """Store a new connection; the sweep will look at it once the connect timeout passes."""
        record.sweep_shard = sweep_shard(record.connection_id)
        record.expires_at = CONNECTION_TTL
        record.rooms = {}  # the map must exist for entering_room to set a key in it
        # A connection id is connected once: never overwrite a live record ($connect retried late).
        # Counted in the same transaction: the count of open connections never drifts from them.
        condition = ConnectionRecord.connection_id.does_not_exist()
        if not self._counted:
            record.save(condition=condition)
            return

        def write(transaction: TransactWrite) -> None:
            transaction.save(record, condition=condition)
            transaction.update(counter_of(record.connection_id), actions=[Figure.open_connections.add(1)])

        try:
            counted = _transact(write)
        except Exception:  # noqa: BLE001 - the count must never refuse a connection
            logger.exception("a connection could not be counted; recorded without it")
            record.save(condition=condition)
            _count_anyway(record.connection_id, 1)
            return
        if not counted:
            raise PutError("the connection is already recorded")

    def get(self, connection_id: str) -> ConnectionRecord | None:
        try:
            return ConnectionRecord.get(connection_id, consistent_read=True)
        except DoesNotExist:
            return None

    def get_counting(
        self, connection_id: str, kind: str, window_start: int, frames: int = 1
    ) -> tuple[ConnectionRecord | None, int]:
        """Read the record and count ``frames`` frames of ``kind`` ("edit" or "cursor") in the
        window starting at ``window_start``: one UpdateItem instead of the GetItem, no extra
        request (``prdtool.kernel.bursts`` decides when). Returns the record (None when gone) and
        the frames of that kind in the window so far."""
        window = getattr(ConnectionRecord, f"{kind}_window")
        count = getattr(ConnectionRecord, f"{kind}_count")
        exists = ConnectionRecord.connection_id.exists()
        record = ConnectionRecord(connection_id)
        if update_if(record, [count.add(frames)], exists & (window == window_start)):
            return record, int(getattr(record, f"{kind}_count"))
        # A later window (or the first frame): start counting afresh. Never move a window back.
        if update_if(
            record,
            [window.set(window_start), count.set(frames)],
            exists & (window.does_not_exist() | (window < window_start)),
        ):
            return record, frames
        # Another frame opened a newer window meanwhile (or this clock is behind): count in it.
        if update_if(record, [count.add(frames)], exists):
            return record, int(getattr(record, f"{kind}_count"))
        return None, 0

    def connect_namespace(
        self, connection_id: str, namespace: str, principal: Principal, socket_sid: str
    ) -> ConnectOutcome:
        """Record a completed Socket.IO CONNECT (the connect deadline no longer applies).

        A connection has one identity for its life: a CONNECT as another user than the one an
        earlier CONNECT established changes nothing and is ``OTHER_USER``. One as the same user
        refreshes what its token says (name, picture, roles, expiry).
        """
        model = ConnectionRecord
        actions = [
            model.namespaces.add({namespace}),
            model.socket_sid.set(socket_sid),
            model.connect_deadline.remove(),
            *_identity(principal),
        ]
        # The connection is still there (no partial item for a gone one), and it has no identity
        # yet or has this very one: two CONNECTs racing as different users cannot both win, and
        # whichever comes second cannot replace the first's user, whatever either of them read.
        condition = model.connection_id.exists() & (
            model.user_id.does_not_exist() | (model.user_id == principal.user_id)
        )
        if update_if(ConnectionRecord(connection_id), actions, condition):
            return ConnectOutcome.CONNECTED
        # Refused: only now is it worth a read, to tell the two reasons apart.
        return ConnectOutcome.GONE if self.get(connection_id) is None else ConnectOutcome.OTHER_USER

    def refresh_identity(self, connection_id: str, principal: Principal) -> bool:
        """Take what a fresh token of the connection's own user says (``session:refresh``); False
        when the connection is gone or is another user's."""
        model = ConnectionRecord
        # Only the same user: a fresh token never turns a connection into someone else's.
        condition = model.connection_id.exists() & (model.user_id == principal.user_id)
        return update_if(ConnectionRecord(connection_id), _identity(principal), condition)

    def note_expiry_warned(self, connection_id: str, expires_at: int) -> bool:
        """``session:expiring`` went out for the token that expires at ``expires_at``."""
        return self._update(connection_id, [ConnectionRecord.expiry_warned.set(expires_at)])

    def watch_metrics(self, connection_id: str, watching: bool) -> bool:
        return self._update(connection_id, [ConnectionRecord.watches_metrics.set(watching)])

    def entering_room(self, connection_id: str, prd_id: str, room: dict[str, str]) -> Callable[[TransactWrite], None]:
        """The connection enters a room, as part of a transaction (the room's own record of the
        session is the other part): the transaction fails when the connection is gone."""

        def write(transaction: TransactWrite) -> None:
            # Only a live record, as _update: never resurrect a deleted connection as a partial item.
            transaction.update(
                ConnectionRecord(connection_id),
                actions=[ConnectionRecord.rooms[prd_id].set(room)],
                condition=ConnectionRecord.connection_id.exists(),
            )

        return write

    def leave_room(self, connection_id: str, prd_id: str) -> bool:
        return self._update(connection_id, [ConnectionRecord.rooms[prd_id].remove()])

    def disconnect_namespace(self, connection_id: str, namespace: str) -> bool:
        return self._update(connection_id, [ConnectionRecord.namespaces.delete({namespace})])

    def mark_opened(self, connection_id: str, now: int, sweep_at: int) -> bool:
        """The OPEN packet was delivered: Engine.IO pings may start."""
        return self._update(
            connection_id, [ConnectionRecord.opened_at.set(now), ConnectionRecord.sweep_at.set(sweep_at)]
        )

    def record_ping(self, connection_id: str, now: int, sweep_at: int) -> bool:
        """A ping went out; the sweep looks again at ``sweep_at`` (the pong deadline)."""
        return self._update(
            connection_id, [ConnectionRecord.last_ping_at.set(now), ConnectionRecord.sweep_at.set(sweep_at)]
        )

    def record_ping_after(self, connection_id: str, now: int, sweep_at: int, last_ping_at: int | None) -> bool:
        """As ``record_ping``, for a ping sent by another than the sweep (a long-poll): only if no
        ping went out since ``last_ping_at`` (the sweep's own, meanwhile), so one ping is out."""
        model = ConnectionRecord
        unchanged = model.last_ping_at.does_not_exist() if last_ping_at is None else model.last_ping_at == last_ping_at
        return update_if(
            ConnectionRecord(connection_id),
            [model.last_ping_at.set(now), model.sweep_at.set(sweep_at)],
            model.connection_id.exists() & unchanged,
        )

    def record_pong(self, connection_id: str, now: int, sweep_at: int) -> bool:
        """A pong came back; the sweep looks again at ``sweep_at`` (when the next ping is due)."""
        return self._update(
            connection_id, [ConnectionRecord.last_pong_at.set(now), ConnectionRecord.sweep_at.set(sweep_at)]
        )

    def reschedule(self, connection_id: str, sweep_at: int) -> bool:
        return self._update(connection_id, [ConnectionRecord.sweep_at.set(sweep_at)])

    def connections_of(self, user_id: str) -> list[Recipient]:
        """Where a user can be reached now: each of their open connections, framed as it speaks
        (a Socket.IO client in its first namespace, the default one when it has it)."""
        # One not CONNECTed to any namespace yet has nothing to deliver into.
        return [to for record in ConnectionRecord.by_user.query(user_id) if (to := record.recipient) is not None]

    def all_recipients(self) -> list[Recipient]:
        """Every open connection that can be told something (a query per sweep shard, no scan)."""
        found = []
        for shard in range(SWEEP_SHARDS):
            for record in ConnectionRecord.by_sweep.query(str(shard)):
                if (to := record.recipient) is not None:
                    found.append(to)
        return found

    def due_for_sweep(self, by: int) -> Iterator[ConnectionRecord]:
        """Connections whose ``sweep_at`` is at or before ``by``, from every shard."""
        for shard in range(SWEEP_SHARDS):
            yield from ConnectionRecord.by_sweep.query(str(shard), ConnectionRecord.sweep_at <= by)

    def remove(self, connection_id: str) -> None:
        """Delete the record; deleting one that is already gone is fine ($disconnect after a sweep)."""
        if not self._counted:
            ConnectionRecord(connection_id).delete()
            return

        def write(transaction: TransactWrite) -> None:
            # Only a record that is there is deleted and uncounted: a second removal counts nothing.
            transaction.delete(ConnectionRecord(connection_id), condition=ConnectionRecord.connection_id.exists())
            transaction.update(counter_of(connection_id), actions=[Figure.open_connections.add(-1)])

        try:
            _transact(write)
        except Exception:  # noqa: BLE001 - the count must never keep a record that is to go
            logger.exception("a connection could not be uncounted; removed without it")
            try:
                ConnectionRecord(connection_id).delete(condition=ConnectionRecord.connection_id.exists())
            except DeleteError as exc:
                if not condition_failed(exc):
                    raise
                return  # gone already: nothing to uncount
            _count_anyway(connection_id, -1)

    def _update(self, connection_id: str, actions: list[Action]) -> bool:
        # Only ever update a live record: an update must not resurrect a deleted connection
        # as a partial item (DynamoDB's UpdateItem would otherwise create it).
        return update_if(ConnectionRecord(connection_id), actions, ConnectionRecord.connection_id.exists())
