"""What the server has for a long-polling session: a durable, ordered outbox per session.

A WebSocket client is posted to through API Gateway's ``@connections`` API; a polling client has
no socket to post to, so the one ``Sender`` puts its frames here instead, and the session's next
``GET`` takes them (``kernel/polling.py``). Each frame gets the next number of its session (one
atomic ADD on the session's connection record, conditional on the record being there: a session
that is gone is ``ConnectionGone``, as a WebSocket post would be), then is written under it. A
reader takes frames in order from just after the last one it delivered, stopping at a gap (a
frame numbered but not written yet) unless the gap is older than ``GAP_MS`` (its writer died).
A session that ends leaves a last frame under ``END_SEQ`` (Engine.IO's CLOSE, or a NOOP when the
client closed it): the GET waiting then, or the next one, answers with it, once. Items expire by TTL.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from prdtool.kernel.conditions import condition_failed, delete_if, save_if, transact_retrying
from prdtool.kernel.settings import Settings
from prdtool.kernel.tables import bind

__all__ = [
    "END_SEQ",
    "GAP_MS",
    "POLLING_PREFIX",
    "Outbox",
    "OutboxFrame",
    "SessionEnd",
    "SessionGone",
    "bind_outbox",
    "is_polling",
]

POLLING_PREFIX = "polling:"  # a polling session's connection id: API Gateway's ids never hold ':'
GAP_MS = 2_000
_KEPT_S = 600
END_SEQ = 10**15  # a session's last frame: numbered after any frame it can have
_END_TRIES = 5


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
    after = NumberAttribute(null=True)  # a session's last frame: the frames delivered before it ended


def bind_outbox(settings: Settings) -> None:
    bind(_Frame, settings.outbox_table, settings)


@dataclass(frozen=True)
class SessionEnd:
    """A session's last frame, and the last frame delivered before it (None: not known)."""

    frame: str
    after: int | None


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

    def end(self, connection_id: str, frame: str, now: int) -> None:
        """Leave the session's last frame, for the GET that finds it ended, with what had been
        delivered at that moment (a GET coming once the record is gone answers what was not)."""
        from prdtool.kernel.connections import ConnectionRecord

        model = ConnectionRecord
        for _ in range(_END_TRIES):
            try:
                record = model.get(connection_id, consistent_read=True)
            except model.DoesNotExist:
                self._put_end(connection_id, frame, now, after=None)
                return
            delivered = None if record.delivered_seq is None else int(record.delivered_seq)

            def write(transaction: TransactWrite, delivered: int | None = delivered) -> None:
                # Conditional on what was delivered being what this end says, and the session being
                # marked ended in the same step: no GET marks more delivered after it (its mark is
                # conditional on the mark's absence), so the frames after ``after`` are exactly the
                # ones no GET answered.
                unchanged = (
                    model.delivered_seq.does_not_exist() if delivered is None else model.delivered_seq == delivered
                )
                transaction.update(
                    ConnectionRecord(connection_id),
                    actions=[model.poll_ended_at.set(now)],
                    condition=model.connection_id.exists() & model.poll_ended_at.does_not_exist() & unchanged,
                )
                last = self._end_item(connection_id, frame, now, after=delivered or 0)
                transaction.save(last, condition=_Frame.seq.does_not_exist())

            if transact_retrying(_Frame._get_connection().connection, write):
                return
            if self._end_of(connection_id) is not None:
                return  # ended already: the first ending's frame stands
            # a GET marked more delivered meanwhile (or the session went): look again
        self._put_end(connection_id, frame, now, after=None)

    def claim_end(self, connection_id: str) -> SessionEnd | None:
        """The session's last frame, for the one caller that takes it first; None when it has
        none, or another GET took it."""
        item = self._end_of(connection_id)
        if item is None:
            return None
        # Conditional: of two GETs racing for it, only the one whose delete removed it answers it.
        if not delete_if(item, _Frame.seq.exists()):
            return None
        return SessionEnd(str(item.frame), None if item.after is None else int(item.after))

    @staticmethod
    def _end_item(connection_id: str, frame: str, now: int, after: int | None) -> _Frame:
        return _Frame(connection_id, END_SEQ, frame=frame, at=now, expires_at=now // 1000 + _KEPT_S, after=after)

    def _put_end(self, connection_id: str, frame: str, now: int, after: int | None) -> None:
        # Conditional: the first ending's frame stands (a close after a close changes nothing).
        save_if(self._end_item(connection_id, frame, now, after), _Frame.seq.does_not_exist())

    @staticmethod
    def _end_of(connection_id: str) -> _Frame | None:
        try:
            return _Frame.get(connection_id, END_SEQ, consistent_read=True)
        except _Frame.DoesNotExist:
            return None

    def take(self, connection_id: str, after: int, now: int, limit: int = 100) -> list[OutboxFrame]:
        """The session's frames numbered after ``after``, in order, up to the first gap that may
        still fill (a frame numbered less than ``GAP_MS`` ago whose write has not landed). The
        last frame of a session that ended comes last, numbered ``END_SEQ``, once nothing before
        it is missing."""
        found = [
            OutboxFrame(int(item.seq), item.frame, int(item.at))
            for item in _Frame.query(connection_id, _Frame.seq > after, consistent_read=True, limit=limit)
        ]
        taken: list[OutboxFrame] = []
        expected = after + 1
        for frame in found:
            if frame.seq == END_SEQ:  # everything before it is taken (a frame racing the end is not waited for)
                taken.append(frame)
                break
            if frame.seq != expected and now - frame.at < GAP_MS:
                break  # a frame before this one is being written: wait for it
            taken.append(frame)
            expected = frame.seq + 1
        return taken
