"""The update log: one item per applied transaction, keyed by document and ``seq``.

Appending is a conditional put of the next seq: two Lambdas racing for the same seq never both
win, and the loser learns it lost (``SeqTaken``) without a read. A retried op finds its first
answer by its (clock key, counter), read back from the log itself (no index: an index copy would
cost a write unit on every edit for a lookup only retries need), or by the client's ``opId``
through a sparse index of keys only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from prdtool.engine.crdt import AppliedOp
from prdtool.kernel.conditions import condition_failed, update_if
from prdtool.kernel.settings import Settings
from prdtool.kernel.tables import bind

__all__ = ["LogEntry", "SeqTaken", "UpdateLog", "bind_update_log"]


class SeqTaken(Exception):
    """Another writer took this seq first: catch up and retry."""


class _ByClientOp(GlobalSecondaryIndex["_LogItem"]):
    class Meta:
        index_name = "by-client-op"
        # Keys only: the entry is read by its key on a hit (retries are rare), and marking an
        # entry for expiry then changes nothing here, so it writes no index copy.
        projection = KeysOnlyProjection()

    client_op_key = UnicodeAttribute(hash_key=True)


class _LogItem(Model):
    class Meta:
        table_name = "updates"  # replaced by bind_update_log()
        region = "us-east-1"

    prd_id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    # Not named "update": that would hide Model.update().
    yjs_update = BinaryAttribute(attr_name="update", legacy_encoding=False)
    ops = UnicodeAttribute()  # JSON: the ops as applied at this seq
    author = UnicodeAttribute()
    clock_key = UnicodeAttribute()
    counter = NumberAttribute()
    clock = UnicodeAttribute()  # JSON: the op's vector clock
    at = NumberAttribute()
    client_op_key = UnicodeAttribute(null=True)  # "<prd>#<opId>"
    expires_at = NumberAttribute(null=True)  # epoch seconds; set once a snapshot covers the entry

    by_client_op = _ByClientOp()


@dataclass(frozen=True)
class LogEntry:
    prd_id: str
    seq: int
    update: bytes
    ops: list[AppliedOp]
    author: str
    clock_key: str
    counter: int
    clock: dict[str, int]
    at: int
    op_id: str | None = None
    batch: bool = field(default=False, compare=False)


def bind_update_log(settings: Settings) -> None:
    bind(_LogItem, settings.updates_table, settings)


class UpdateLog:
    def open(self) -> None:
        _ = _LogItem._get_connection().connection.client

    def append(self, entry: LogEntry) -> None:
        """Write ``entry`` at its seq, or raise ``SeqTaken``."""
        item = _LogItem(
            entry.prd_id,
            entry.seq,
            yjs_update=entry.update,
            ops=json.dumps({"batch": entry.batch, "ops": [op.__dict__ for op in entry.ops]}),
            author=entry.author,
            clock_key=entry.clock_key,
            counter=entry.counter,
            clock=json.dumps(entry.clock),
            at=entry.at,
            client_op_key=f"{entry.prd_id}#{entry.op_id}" if entry.op_id else None,
        )
        try:
            # Each seq is written once: the loser of a race must learn it, never overwrite.
            item.save(condition=_LogItem.seq.does_not_exist())
        except PutError as exc:
            if condition_failed(exc):
                raise SeqTaken(entry.seq) from exc
            raise

    def expire(self, prd_id: str, seq: int, at_epoch_s: int) -> None:
        """Let DynamoDB's TTL remove an entry from ``at_epoch_s`` on (a snapshot covers it)."""
        # Never create an entry: expiring one that is already gone does nothing.
        update_if(_LogItem(prd_id, seq), [_LogItem.expires_at.set(at_epoch_s)], _LogItem.seq.exists())

    def since(self, prd_id: str, after_seq: int) -> Iterator[LogEntry]:
        """Entries after ``after_seq`` in seq order (paginated; never a scan)."""
        for item in _LogItem.query(prd_id, _LogItem.seq > after_seq, consistent_read=True):
            yield _entry(item)

    def between(self, prd_id: str, after_seq: int, upto_seq: int) -> Iterator[LogEntry]:
        """Entries with ``after_seq < seq <= upto_seq`` in seq order (those still kept)."""
        if upto_seq <= after_seq:
            return
        condition = _LogItem.seq.between(after_seq + 1, upto_seq)
        for item in _LogItem.query(prd_id, condition, consistent_read=True):
            yield _entry(item)

    def head(self, prd_id: str) -> tuple[int, int] | None:
        """The latest entry's seq and time (ms), or None when no entry is kept."""
        query = _LogItem.query(
            prd_id, scan_index_forward=False, limit=1, consistent_read=True, attributes_to_get=["seq", "at"]
        )
        for item in query:
            return int(item.seq), int(item.at)
        return None

    def find(self, prd_id: str, clock_key: str, counter: int, upto_seq: int) -> LogEntry | None:
        """The entry op ``counter`` of ``clock_key`` made, at or before ``upto_seq``.

        Read back from ``upto_seq``: a clock key's ops are in the log in counter order (an op
        waits for its predecessor), so the first entry of that key at or below ``counter``
        decides. The read stops there: it costs the entries written since the op, on the rare
        retry the instance does not hold the answer to.
        """
        mine = (_LogItem.clock_key == clock_key) & (_LogItem.counter <= counter)
        query = _LogItem.query(
            prd_id, _LogItem.seq <= upto_seq, filter_condition=mine, scan_index_forward=False, consistent_read=True
        )
        for item in query:
            return _entry(item) if int(item.counter) == counter else None
        return None

    def find_client_op(self, prd_id: str, op_id: str) -> LogEntry | None:
        for key in _LogItem.by_client_op.query(f"{prd_id}#{op_id}"):
            # The index holds keys only: read the entry (gone if it expired in between).
            try:
                return _entry(_LogItem.get(key.prd_id, key.seq, consistent_read=True))
            except _LogItem.DoesNotExist:
                return None
        return None


def _entry(item: _LogItem) -> LogEntry:
    ops: dict[str, Any] = json.loads(item.ops)
    return LogEntry(
        prd_id=item.prd_id,
        seq=int(item.seq),
        update=bytes(item.yjs_update),
        ops=[AppliedOp(**op) for op in ops["ops"]],
        author=item.author,
        clock_key=item.clock_key,
        counter=int(item.counter),
        clock={k: int(v) for k, v in json.loads(item.clock).items()},
        at=int(item.at),
        op_id=item.client_op_key.split("#", 1)[1] if item.client_op_key else None,
        batch=bool(ops.get("batch")),
    )
