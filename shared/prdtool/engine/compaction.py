"""Compaction, run by its own function: snapshot a document, then let the covered log expire.

The gateway starts it (asynchronously) every ``snapshot_every`` entries. The order is what keeps
every edit: the snapshot is written first, from the previous snapshot and every entry after it
(which must follow it with no gap, or nothing is written); then the document's record names it
(``noted``: a join's cold load reads the named snapshot without listing them); only then do the
entries it covers get an expiry, a retention window after now. Loads start from the latest
snapshot, or the one the record names, which is never older than an expiring entry's snapshot: an
expired entry is never needed to load the document. A crash before the record names it leaves an
older snapshot named, from which the log is still complete. For the retention window, the entries
still serve ops made against older states.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prdtool.engine.crdt import Document
from prdtool.engine.loaded_document import LogGap
from prdtool.engine.snapshots import Snapshot, SnapshotStore
from prdtool.engine.update_log import UpdateLog

__all__ = ["CompactionReport", "compact", "due_for_snapshot"]


@dataclass(frozen=True)
class CompactionReport:
    prd_id: str
    seq: int
    entries_expiring: int


def due_for_snapshot(seq: int, every: int) -> bool:
    """Whether appending ``seq`` should start a compaction."""
    return every > 0 and seq % every == 0


def compact(
    snapshots: SnapshotStore,
    log: UpdateLog,
    prd_id: str,
    upto: int,
    retention_ms: int,
    now_ms: int,
    noted: Callable[[int], object] | None = None,
) -> CompactionReport:
    """Snapshot ``prd_id`` at seq ``upto``, tell ``noted`` its seq, and set the covered entries to
    expire ``retention_ms`` after ``now_ms``. Raises ``LogGap`` (and writes nothing) when the log
    has a hole."""
    previous = snapshots.latest(prd_id)
    if previous is not None and previous.seq >= upto:
        return CompactionReport(prd_id, previous.seq, 0)
    document = Document.from_updates([previous.state] if previous else [])
    clock = dict(previous.clock) if previous else {}
    seq = previous.seq if previous else 0
    covered = []
    for entry in log.between(prd_id, seq, upto):
        if entry.seq != seq + 1:
            raise LogGap(prd_id, seq + 1, entry.seq)  # a snapshot must never bake a hole in
        document.apply_update(entry.update)
        clock[entry.clock_key] = max(clock.get(entry.clock_key, 0), entry.counter)
        covered.append(entry)
        seq = entry.seq
    if not covered:
        return CompactionReport(prd_id, seq, 0)
    snapshots.save(Snapshot(prd_id, seq, clock, document.state()))
    if noted is not None:
        noted(seq)
    expires_at = (now_ms + retention_ms) // 1000
    for entry in covered:
        log.expire(prd_id, entry.seq, expires_at)
    return CompactionReport(prd_id, seq, len(covered))
