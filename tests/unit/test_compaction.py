"""Snapshots and log expiry against moto: a cold load starts from the snapshot and equals a full
replay; covered entries get an expiry, uncovered ones never do."""

from __future__ import annotations

import boto3
import pytest

from prdtool.compaction import compact, due_for_snapshot
from prdtool.crdt import ClientOp, Document
from prdtool.editing import Author, Editor, Submission
from prdtool.errors import AppError
from prdtool.settings import Settings
from prdtool.snapshots import SnapshotStore
from prdtool.update_log import UpdateLog, _LogItem, bind_update_log

DAY_MS = 86_400_000


@pytest.fixture
def parts(settings: Settings) -> tuple[UpdateLog, SnapshotStore]:
    bind_update_log(settings)
    return UpdateLog(), SnapshotStore(boto3.client("s3"), settings.snapshots_bucket)


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
    report = compact(snapshots, log, "prd_s", 5, 7 * DAY_MS)
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
    assert compact(snapshots, log, "prd_s", 5, 7 * DAY_MS).entries_expiring == 0  # already done


def test_only_the_newest_snapshots_are_kept(parts) -> None:
    log, snapshots = parts
    editor = Editor(log, lambda: 0, 2_000_000, snapshots=snapshots)
    for n in range(1, 7):
        write(editor, "prd_k", "a", n, "x")
        compact(snapshots, log, "prd_k", n, DAY_MS)
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=snapshots._bucket)["Contents"]]
    assert [k.rsplit("/", 1)[1] for k in sorted(keys)] == [f"{n:012d}.yjs" for n in (4, 5, 6)]


def test_an_op_older_than_the_snapshot_gets_stale_state(parts) -> None:
    log, snapshots = parts
    editor = Editor(log, lambda: 0, 2_000_000, snapshots=snapshots)
    for n in range(1, 4):
        write(editor, "prd_old", "a", n, "a")
    compact(snapshots, log, "prd_old", 3, DAY_MS)
    cold = Editor(log, lambda: 0, 2_000_000, snapshots=snapshots)
    stale = Submission(ops=[ClientOp("insert", 0, content="b")], clock={"a": 1, "b": 1})  # saw only seq 1
    with pytest.raises(AppError) as refused:
        cold.submit("prd_old", Author("b", "b"), stale)
    assert refused.value.code == "STALE_STATE" and refused.value.data["suggestedResolution"] == "retry_with_latest"
