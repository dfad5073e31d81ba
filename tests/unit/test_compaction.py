"""Snapshots and log expiry against moto: a cold load starts from the snapshot and equals a full
replay; covered entries get an expiry, uncovered ones never do."""

from __future__ import annotations

import boto3
import pytest

from prdtool.engine.compaction import compact, due_for_snapshot
from prdtool.engine.crdt import ClientOp, Document
from prdtool.engine.editor import Author, Editor, Submission
from prdtool.engine.loaded_document import LogGap
from prdtool.engine.snapshots import SnapshotStore
from prdtool.engine.update_log import UpdateLog, _LogItem, bind_update_log
from prdtool.kernel.errors import AppError
from prdtool.kernel.settings import Settings

DAY_MS = 86_400_000


@pytest.fixture
def parts(settings: Settings) -> tuple[UpdateLog, SnapshotStore]:
    bind_update_log(settings)
    return UpdateLog(), SnapshotStore(boto3.client("s3"), settings.snapshots_bucket)


def ttl_deletes(now_ms: int) -> int:
    """What DynamoDB's TTL does (moto never does it): delete the entries expired by ``now_ms``."""
    gone = [i for i in _LogItem.scan() if i.expires_at is not None and i.expires_at * 1000 <= now_ms]
    for item in gone:
        item.delete()
    return len(gone)


def write(editor: Editor, prd: str, key: str, n: int, text: str) -> None:
    editor.submit(prd, Author(key, key), Submission(ops=[ClientOp("insert", 0, content=text)], clock={key: n}))


def test_due_every_n_entries() -> None:
    assert [s for s in range(1, 11) if due_for_snapshot(s, 5)] == [5, 10]
    assert not due_for_snapshot(5, 0)


def test_snapshot_then_cold_load_from_it_equals_a_full_replay(parts) -> None:
    log, snapshots = parts
    warm = Editor(log, lambda: 1_000, 2_000_000, snapshots=snapshots)
    for n in range(1, 8):
        write(warm, "prd_s", "a", n, f"{n},")
    report = compact(snapshots, log, "prd_s", 5, 7 * DAY_MS, 1_000)
    assert (report.seq, report.entries_expiring) == (5, 5)
    latest = snapshots.latest("prd_s")
    assert latest.seq == 5 and latest.clock == {"a": 5}
    assert Document.from_updates([latest.state]).content == "5,4,3,2,1,"
    cold = Editor(log, lambda: 2_000, 2_000_000, snapshots=snapshots)
    loaded = cold.load("prd_s")
    assert loaded.document.content == "7,6,5,4,3,2,1," and loaded.seq == 7 and [e.seq for e in loaded.entries] == [6, 7]
    write(cold, "prd_s", "a", 8, "8,")
    assert warm.load("prd_s").document.content == "8,7,6,5,4,3,2,1,"
    expiries = {int(i.seq): i.expires_at for i in _LogItem.query("prd_s")}
    assert all(expiries[s] == (1_000 + 7 * DAY_MS) // 1000 for s in range(1, 6))
    assert all(expiries[s] is None for s in (6, 7, 8))  # not covered yet: they never expire
    assert compact(snapshots, log, "prd_s", 5, 7 * DAY_MS, 1_000).entries_expiring == 0  # already done


def test_only_the_newest_snapshots_are_kept(parts) -> None:
    log, snapshots = parts
    editor = Editor(log, lambda: 0, 2_000_000, snapshots=snapshots)
    for n in range(1, 7):
        write(editor, "prd_k", "a", n, "x")
        compact(snapshots, log, "prd_k", n, DAY_MS, 0)
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=snapshots._bucket)["Contents"]]
    assert [k.rsplit("/", 1)[1] for k in sorted(keys)] == [f"{n:012d}.yjs" for n in (4, 5, 6)]


def test_an_op_older_than_the_snapshot_and_the_log_gets_stale_state(parts) -> None:
    log, snapshots = parts
    editor = Editor(log, lambda: 0, 2_000_000, snapshots=snapshots)
    for n in range(1, 4):
        write(editor, "prd_old", "a", n, "a")
    compact(snapshots, log, "prd_old", 3, DAY_MS, 0)
    assert ttl_deletes(2 * DAY_MS) == 3  # the log no longer holds what the op was made against
    cold = Editor(log, lambda: 0, 2_000_000, snapshots=snapshots)
    stale = Submission(ops=[ClientOp("insert", 0, content="b")], clock={"a": 1, "b": 1})  # saw only seq 1
    with pytest.raises(AppError) as refused:
        cold.submit("prd_old", Author("b", "b"), stale)
    assert refused.value.code == "STALE_STATE" and refused.value.data["suggestedResolution"] == "retry_with_latest"


HOUR_MS = 3_600_000


def test_a_cold_load_after_old_entries_expired_has_exactly_the_warm_text(parts) -> None:
    """Twelve edits an hour apart, snapshots at 5 and 10, and a week later TTL has removed every
    entry a snapshot covers: a cold load still holds every edit."""
    log, snapshots = parts
    now = {"ms": 0}
    warm = Editor(log, lambda: now["ms"], 2_000_000, snapshots=snapshots)
    for n in range(1, 13):
        now["ms"] = n * HOUR_MS
        write(warm, "prd_ttl", "a", n, f"{n},")
        if n in (5, 10):
            compact(snapshots, log, "prd_ttl", n, 7 * DAY_MS, now["ms"])
    assert ttl_deletes(now["ms"] + 8 * DAY_MS) == 10
    cold = Editor(log, lambda: now["ms"], 2_000_000, snapshots=snapshots).load("prd_ttl")
    held = warm.load("prd_ttl")
    assert cold.document.content == held.document.content == ",".join(str(n) for n in range(12, 0, -1)) + ","
    assert (cold.seq, cold.clock) == (held.seq, held.clock) == (12, {"a": 12})


def test_a_covered_entry_is_kept_for_the_retention_after_its_snapshot(parts) -> None:
    log, snapshots = parts
    editor = Editor(log, lambda: 0, 2_000_000, snapshots=snapshots)  # written long ago
    write(editor, "prd_keep", "a", 1, "x")
    compact(snapshots, log, "prd_keep", 1, 7 * DAY_MS, 30 * DAY_MS)
    assert [i.expires_at for i in _LogItem.query("prd_keep")] == [(30 + 7) * DAY_MS // 1000]


def test_a_hole_between_the_snapshot_and_the_log_is_refused_not_served(parts) -> None:
    log, snapshots = parts
    editor = Editor(log, lambda: 0, 2_000_000, snapshots=snapshots)
    for n in range(1, 9):
        write(editor, "prd_hole", "a", n, f"{n},")
    compact(snapshots, log, "prd_hole", 5, DAY_MS, 0)
    _LogItem.get("prd_hole", 7).delete()  # lost: nothing may serve the document without it
    with pytest.raises(AppError) as refused:
        Editor(log, lambda: 0, 2_000_000, snapshots=snapshots).load("prd_hole")
    assert refused.value.code == "DOCUMENT_UNAVAILABLE"
    with pytest.raises(LogGap):  # nor does a snapshot bake the hole in
        compact(snapshots, log, "prd_hole", 8, DAY_MS, 0)
    assert snapshots.latest("prd_hole").seq == 5


def test_a_hole_is_repaired_from_a_snapshot_that_covers_it(parts, monkeypatch: pytest.MonkeyPatch) -> None:
    log, snapshots = parts
    editor = Editor(log, lambda: 0, 2_000_000, snapshots=snapshots)
    for n in range(1, 13):
        write(editor, "prd_fix", "a", n, f"{n},")
        if n in (5, 10):
            compact(snapshots, log, "prd_fix", n, DAY_MS, 0)
    assert ttl_deletes(2 * DAY_MS) == 10
    # The load listed the snapshots just before the one at 10 was written (a compactor racing it):
    # it starts at 5, finds the log resuming at 11, and loads from the snapshot covering 10.
    older = next(snapshots.older_than("prd_fix", 10))
    monkeypatch.setattr(snapshots, "latest", lambda prd_id: older)
    cold = Editor(log, lambda: 0, 2_000_000, snapshots=snapshots).load("prd_fix")
    assert cold.document.content == editor.load("prd_fix").document.content and cold.seq == 12


def test_an_op_older_than_the_snapshot_reads_back_the_log_instead_of_failing(parts) -> None:
    log, snapshots = parts
    editor = Editor(log, lambda: 0, 2_000_000, snapshots=snapshots)
    for n in range(1, 4):
        write(editor, "prd_back", "a", n, str(n))
    compact(snapshots, log, "prd_back", 3, DAY_MS, 0)
    cold = Editor(log, lambda: 0, 2_000_000, snapshots=snapshots)
    stale = Submission(ops=[ClientOp("insert", 1, content="b")], clock={"a": 1, "b": 1})  # saw only seq 1
    assert cold.submit("prd_back", Author("b", "b"), stale).entry.seq == 4
    assert cold.load("prd_back").document.content == "321b"  # after the "1" it saw
    assert Document.from_updates(e.update for e in log.since("prd_back", 0)).content == "321b"


def test_a_retry_of_an_op_older_than_the_snapshot_gets_its_first_answer(parts) -> None:
    log, snapshots = parts
    warm = Editor(log, lambda: 0, 2_000_000, snapshots=snapshots)
    ops = {}
    for n in range(1, 6):  # a and b take turns; a's second op carries an opId
        key = "a" if n % 2 else "b"
        counter = (n + 1) // 2
        op_id = "paste-1" if (key, counter) == ("a", 2) else None
        ops[(key, counter)] = Submission(
            ops=[ClientOp("insert", 0, content=str(n))], clock={"a": (n + 1) // 2, "b": n // 2}, op_id=op_id
        )
        warm.submit("prd_retry", Author(key, key), ops[(key, counter)])
    compact(snapshots, log, "prd_retry", 5, DAY_MS, 0)
    cold = Editor(log, lambda: 0, 2_000_000, snapshots=snapshots)  # holds none of the five
    by_counter = cold.submit("prd_retry", Author("b", "b"), ops[("b", 1)])
    assert by_counter.duplicate and by_counter.entry.seq == 2
    by_op_id = cold.submit("prd_retry", Author("a", "a"), ops[("a", 2)])
    assert by_op_id.duplicate and by_op_id.entry.seq == 3
    assert cold.submit("prd_retry", Author("a", "a"), ops[("a", 1)]).entry.seq == 1
    assert [e.seq for e in log.since("prd_retry", 0)] == [1, 2, 3, 4, 5]  # nothing written twice
    assert log.find("prd_retry", "b", 3, 5) is None  # b never wrote a third op
    assert log.find("prd_retry", "a", 3, 4) is None  # a's third is after seq 4
