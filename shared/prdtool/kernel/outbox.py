"""What the server has for a long-polling session: a durable, ordered outbox per session.

A WebSocket client is posted to through API Gateway's ``@connections`` API; a polling client has
no socket to post to, so the one ``Sender`` puts its frames here instead, and the session's next
``GET`` takes them (``kernel/polling.py``). Each frame gets the next number of its session (one
atomic ADD on the session's connection record, conditional on the record being there: a session
that is gone is ``ConnectionGone``, as a WebSocket post would be), then is written under it. A
reader takes frames in order from just after the last one it delivered, stopping at a gap (a
frame numbered but not written yet) unless the gap is older than ``GAP_MS`` (its writer died).
Items expire by TTL.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from prdtool.kernel.conditions import condition_failed
from prdtool.kernel.settings import Settings
from prdtool.kernel.tables import bind

__all__ = ["GAP_MS", "POLLING_PREFIX", "Outbox", "OutboxFrame", "SessionGone", "bind_outbox", "is_polling"]

POLLING_PREFIX = "polling:"  # a polling session's connection id: API Gateway's ids never hold ':'
GAP_MS = 2_000
_KEPT_S = 600


def is_polling(connection_id: str) -> bool:
    return connection_id.startswith(POLLING_PREFIX)


class _Frame(Model):
    class Meta:
        table_name = "outbox"  # replaced by bind_outbox()
        region = "us-east-1"

    session = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    frame = UnicodeAttribute()
    at = NumberAttribute()
    expires_at = NumberAttribute()


def bind_outbox(settings: Settings) -> None:
    bind(_Frame, settings.outbox_table, settings)


@dataclass(frozen=True)
class OutboxFrame:
    seq: int
    frame: str
    at: int


class SessionGone(Exception):
    """The polling session has no record any more."""


class Outbox:
    """The outboxes of polling sessions (the outbox table)."""

    def append(self, connection_id: str, frame: str, now: int) -> int:
        """Number ``frame`` and keep it for the session; its number. ``SessionGone`` without a session."""
        from prdtool.kernel.connections import ConnectionRecord  # the session's record holds its counter

        record = ConnectionRecord(connection_id)
        try:
            # Conditional: a session that is gone gets nothing (and is told so, as a Gone post).
            record.update(
                actions=[ConnectionRecord.outbox_seq.add(1)], condition=ConnectionRecord.connection_id.exists()
            )
        except UpdateError as exc:
            if condition_failed(exc):
                raise SessionGone(connection_id) from exc
            raise
        seq = int(record.outbox_seq)
        _Frame(connection_id, seq, frame=frame, at=now, expires_at=now // 1000 + _KEPT_S).save()
        return seq

    def take(self, connection_id: str, after: int, now: int, limit: int = 100) -> list[OutboxFrame]:
        """The session's frames numbered after ``after``, in order, up to the first gap that may
        still fill (a frame numbered less than ``GAP_MS`` ago whose write has not landed)."""
        found = [
            OutboxFrame(int(item.seq), item.frame, int(item.at))
            for item in _Frame.query(connection_id, _Frame.seq > after, consistent_read=True, limit=limit)
        ]
        taken: list[OutboxFrame] = []
        expected = after + 1
        for frame in found:
            if frame.seq != expected and now - frame.at < GAP_MS:
                break  # a frame before this one is being written: wait for it
            taken.append(frame)
            expected = frame.seq + 1
        return taken
