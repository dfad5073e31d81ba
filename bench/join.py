"""Case 4: join. ``document:join`` for documents of 10k, 100k and 1M characters with long
histories (three kept snapshots and the log since the oldest, as the compactor leaves them), through
the real gateway handler on moto, beside loading the same snapshot and log with bare pycrdt. A join
too large for a frame is timed until the client has fetched its content by the URL it was given
(the GET counts as a request), as a user waits for it. Beside each, its floor on this stack: the
bare load plus the join's read of the log since the snapshot, timed alone."""

from __future__ import annotations

import time
from collections.abc import Callable

import pycrdt
import requests

from bench.harness import Figure, Result, count_aws_calls, figure, split
from bench.stack import BUCKET, BenchStack, MemoryLog, Writer
from prdtool.engine.crdt import ClientOp, Document
from prdtool.engine.downloads import Downloads
from prdtool.engine.editor import Author, Editor, Submission
from prdtool.engine.snapshots import Snapshot
from prdtool.engine.update_log import UpdateLog

CASE = "4. Join"
SIZES = (10_000, 100_000, 1_000_000)
RUNS = 5
AUTHOR = "author"


def _history(
    s: BenchStack, prd_id: str, size: int, piece: Callable[[int], str] | None = None
) -> tuple[bytes, list[bytes]]:
    """A document of ``size`` characters written in 2,000 edits (a paragraph each, or ``piece(n)``
    for the n-th of the first 1,000, then typing),
    stored as a cold instance finds it at worst: snapshots at 500, 1,000 and 1,500 and the log
    since the oldest kept one. Returns what a cold load reads: the latest snapshot and the 500
    updates after it."""
    gateway = s.functions("gateway").services
    memory = MemoryLog()
    editor = Editor(memory, gateway.clock, 10**9)
    who = Author(AUTHOR, AUTHOR, "utf-32")
    paragraph = ("The system shall keep every keystroke of every author. " * 40)[: max(1, size // 1_000)]
    length = 0
    for n in range(1, 2_001):
        if n <= 1_000:  # grow to the size in paragraphs, then type and delete in the middle
            op = ClientOp("insert", length, content=piece(n) if piece else paragraph[: size - length] or "x")
        elif n % 2:
            op = ClientOp("insert", length // 2, content="typed ")
        else:
            op = ClientOp("delete", length // 2, length=6)
        editor.submit(prd_id, who, Submission(ops=[op], clock={AUTHOR: n}))
        length = len(editor.load(prd_id, catch_up=False).document.content)
    entries = list(memory.since(prd_id, 0))
    snapshots = {}
    # SnapshotEvery 500, the newest three kept; the compaction due at 2,000 has not run yet (it is
    # asynchronous), so a cold load replays 500 entries: the most it ever does.
    for seq in (500, 1_000, 1_500):
        snapshots[seq] = Document.from_updates(e.update for e in entries[:seq]).state()
        gateway.snapshots.save(Snapshot(prd_id, seq, {AUTHOR: seq}, snapshots[seq]))
        gateway.documents.note_snapshot(prd_id, seq)  # as the compactor does
    for entry in entries[500:]:
        gateway.log.append(entry)
    return snapshots[1_500], [e.update for e in entries[1_500:]]


def _bare_load(snapshot: bytes, updates: list[bytes]) -> float:
    start = time.perf_counter()
    doc = pycrdt.Doc()
    text = doc.get("content", type=pycrdt.Text)
    doc.apply_update(snapshot)
    for update in updates:
        doc.apply_update(update)
    str(text)
    return (time.perf_counter() - start) * 1000


def _log_read_alone(log: UpdateLog, prd_id: str, after_seq: int) -> Figure:
    """The join's read of the log since its snapshot, on its own."""
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        assert len(list(log.since(prd_id, after_seq))) == 500
        times.append((time.perf_counter() - start) * 1000)
    return figure(times)


def run() -> list[Result]:
    results = []
    for size in SIZES:
        with BenchStack() as s:
            owner = s.client("owner")
            prd_id = s.call(owner, "document:create", {"title": "Join", "content": ""})["prdId"]
            s.call(owner, "document:share", {"prdId": prd_id, "userId": "reader", "role": "editor"})
            snapshot, updates = _history(s, prd_id, size)
            gateway = s.functions("gateway").services
            reader = Writer(s, "reader", prd_id)
            times, counts, spent, ours = [], [], [], []
            for _ in range(RUNS):
                gateway.editor.forget(prd_id)  # a cold instance: nothing cached, nothing published yet
                gateway.downloads = Downloads(gateway.s3, BUCKET, gateway.clock)
                with count_aws_calls() as calls:
                    start = time.perf_counter()
                    joined = s.call(reader.connection, "document:join", {"prdId": prd_id, "mode": "edit"})
                    handled = time.perf_counter()
                    if url := joined.get("contentUrl"):  # moto answers the presigned GET in process
                        fetched = requests.get(url, timeout=30).json()
                        assert fetched["currentContent"] is not None, fetched
                    times.append((time.perf_counter() - start) * 1000)
                # What is left of the handler's time once its AWS requests are taken out.
                ours.append((handled - start - calls.seconds) * 1000)
                assert joined["ok"], joined
                counts.append(float(calls.total + (1 if url else 0)))
                spent.append(split(times[-1] / 1000, calls))
                s.fake.posts.clear()
            chars = len(gateway.editor.load(prd_id).document.content)
            ms, bare = figure(times), figure([_bare_load(snapshot, updates) for _ in range(RUNS)])
            log_read = _log_read_alone(gateway.log, prd_id, 1_500)
            floor = (bare.median + log_read.median) / bare.median
            results.append(Result(
                CASE, f"{chars:,} characters, 2,000 ops (the latest snapshot + 500 since)", ms.show("ms", 1),
                f"bare pycrdt load of the same {bare.show('ms', 1)}; ratio {ms.median / bare.median:.1f}; "
                f"AWS requests {figure(counts).median:.0f}{' (the download included)' if url else ''}; "
                f"time: {spent[len(spent) // 2]}; ours alone {figure(ours).median:.1f} ms, "
                f"{figure(ours).median / bare.median:.1f}x the bare load",
            ))  # fmt: skip
            results.append(Result(
                CASE, f"{chars:,} characters: the floor here / a bare pycrdt load", f"{floor:.1f}x",
                f"(the bare load + the log read alone, {log_read.show('ms', 1)}) / the bare load: the Query of the "
                f"500 entries since the snapshot through the update log, as the join reads them (moto, botocore, "
                f"pynamodb's items); what any join of a snapshot and the log since pays on this stack. The join is "
                f"{ms.median / bare.median / floor:.2f}x it",
            ))  # fmt: skip
    return results
