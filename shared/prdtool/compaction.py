"""Compaction, run by its own function: snapshot a document, then let the covered log expire.

The gateway starts it (asynchronously) every ``snapshot_every`` entries. It writes the state at a
seq as a snapshot, and only then gives the log entries that snapshot covers an expiry, a retention
window after they were written: an entry never expires before a snapshot holds what it did.
"""

from __future__ import annotations

from dataclasses import dataclass

from prdtool.crdt import Document
from prdtool.snapshots import Snapshot, SnapshotStore
from prdtool.update_log import UpdateLog

__all__ = ["CompactionReport", "compact", "due_for_snapshot"]


@dataclass(frozen=True)
class CompactionReport:
    prd_id: str
    seq: int
    entries_expiring: int


def due_for_snapshot(seq: int, every: int) -> bool:
    """Whether appending ``seq`` should start a compaction."""
    return every > 0 and seq % every == 0


def compact(snapshots: SnapshotStore, log: UpdateLog, prd_id: str, upto: int, retention_ms: int) -> CompactionReport:
    """Snapshot ``prd_id`` at seq ``upto`` and set the covered entries to expire."""
    previous = snapshots.latest(prd_id)
    if previous is not None and previous.seq >= upto:
        return CompactionReport(prd_id, previous.seq, 0)
    document = Document.from_updates([previous.state] if previous else [])
    clock = dict(previous.clock) if previous else {}
    covered = []
    for entry in log.since(prd_id, previous.seq if previous else 0):
        if entry.seq > upto:
            break
        document.doc.apply_update(entry.update)
        clock[entry.clock_key] = max(clock.get(entry.clock_key, 0), entry.counter)
        covered.append(entry)
    if not covered:
        return CompactionReport(prd_id, previous.seq if previous else 0, 0)
    seq = covered[-1].seq
    snapshots.save(Snapshot(prd_id, seq, clock, document.state()))
    for entry in covered:
        log.expire(prd_id, entry.seq, (entry.at + retention_ms) // 1000)
    return CompactionReport(prd_id, seq, len(covered))
