"""The edit pipeline against moto: random concurrent clients converge, racing Lambdas lose
nothing, retries apply once, and a real editing trace replays exactly."""

from __future__ import annotations

import gzip
import json
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prdtool.engine.crdt import ClientOp, Document
from prdtool.engine.editor import Author, Editor, Submission
from prdtool.engine.update_log import LogEntry, UpdateLog, bind_update_log
from prdtool.kernel.errors import AppError
from prdtool.kernel.settings import Settings
from tests.concurrent_authors import Author as ConcurrentAuthor
from tests.concurrent_authors import converged_text, trace_patches

DAY_MS = 86_400_000
TRACE = Path(__file__).resolve().parents[1] / "data" / "automerge-paper.json.gz"


@pytest.fixture
def log(settings: Settings) -> UpdateLog:
    bind_update_log(settings)
    return UpdateLog()


def editor(log: UpdateLog) -> Editor:
    return Editor(log, clock=lambda: 0, max_document_bytes=2_000_000, sleep=lambda s: None)


def splice(text: str, entry: LogEntry) -> str:
    """What a plain client does with operation:applied (code point positions)."""
    for op in entry.ops:
        if op.type == "insert":
            text = text[: op.position32] + (op.content or "") + text[op.position32 :]
        elif op.type == "delete":
            text = text[: op.position32] + text[op.position32 + op.length32 :]
    return text


@dataclass
class PlainClient:
    """A client that sends one op at a time against the last seq it has applied."""

    key: str
    text: str = ""
    seq: int = 0
    clock: dict[str, int] = field(default_factory=dict)
    sent: int = 0

    def receive(self, entries: list[LogEntry], upto: int) -> None:
        for entry in entries:
            if self.seq < entry.seq <= upto:
                self.text = splice(self.text, entry)
                self.seq = entry.seq
                self.clock[entry.clock_key] = max(self.clock.get(entry.clock_key, 0), entry.counter)

    def make_op(self, rng: random.Random) -> tuple[ClientOp, dict[str, int]]:
        n = len(self.text)
        kind = rng.choice(["insert", "insert", "delete", "format"] if n else ["insert"])
        pos = rng.randint(0, n)
        if kind == "insert":
            op = ClientOp("insert", pos, content=rng.choice(["a", "é", "😀", "中文", "x\u0301", " "]))
        elif kind == "delete":
            pos = min(pos, n - 1)
            op = ClientOp("delete", pos, length=rng.randint(1, n - pos))
        else:
            pos = min(pos, n - 1)
            op = ClientOp("format", pos, length=rng.randint(1, n - pos), attributes={"bold": rng.random() < 0.5})
        self.sent += 1
        return op, {**self.clock, self.key: self.sent}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_random_clients_on_stale_views_converge_and_nothing_is_lost(log: UpdateLog, seed: int) -> None:
    rng = random.Random(seed)
    prd = f"prd_prop_{seed}"
    lambdas = [editor(log), editor(log)]  # two warm instances with their own caches
    clients = [PlainClient(f"user_{i}") for i in range(3)]
    submitted: list[tuple[PlainClient, Submission]] = []
    for _ in range(40):
        c = rng.choice(clients)
        entries = list(log.since(prd, 0))
        if rng.random() < 0.4 and entries:
            c.receive(entries, rng.randint(c.seq, entries[-1].seq))  # a partial, in-order delivery
            continue
        op, clock = c.make_op(rng)
        submission = Submission(ops=[op], clock=clock)
        applied = rng.choice(lambdas).submit(prd, Author(c.key, c.key, "utf-32"), submission)
        assert not applied.duplicate
        submitted.append((c, submission))
        if rng.random() < 0.2:  # the client retries: the same answer, nothing new in the log
            again = rng.choice(lambdas).submit(prd, Author(c.key, c.key, "utf-32"), submission)
            assert again.duplicate and again.entry.seq == applied.entry.seq
        # plain clients wait for the ack, then catch up to the op's seq
        c.receive(list(log.since(prd, c.seq)), applied.entry.seq)
    entries = list(log.since(prd, 0))
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert len(entries) == len(submitted)  # every op once, none lost, no duplicate
    server = Document.from_updates(e.update for e in entries).content
    for c in clients:
        c.receive(entries, entries[-1].seq)
        assert c.text == server
    for instance in lambdas:
        assert instance.load(prd).document.content == server


def test_racing_lambdas_on_threads_lose_nothing(log: UpdateLog) -> None:
    prd = "prd_race"
    seed = editor(log)
    seed.submit(prd, Author("u", "server"), Submission(ops=[ClientOp("insert", 0, content="|")], clock={"server": 1}))
    errors: list[BaseException] = []

    def writer(key: str) -> None:
        instance = editor(log)
        try:
            for n in range(1, 16):
                op = ClientOp("insert", 0, content=f"<{key}{n}>")
                instance.submit(prd, Author(key, key), Submission(ops=[op], clock={"server": 1, key: n}))
        except (AppError, AssertionError) as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    entries = list(log.since(prd, 0))
    assert [e.seq for e in entries] == list(range(1, 47))
    text = Document.from_updates(e.update for e in entries).content
    assert all(f"<{k}{n}>" in text for k in "abc" for n in range(1, 16))


def test_a_prefix_of_a_real_editing_trace_replays_exactly(log: UpdateLog) -> None:
    """Martin Kleppmann's automerge-paper trace (as republished in josephg/editing-traces)."""
    trace = json.loads(gzip.decompress(TRACE.read_bytes()))
    patches = [p for txn in trace["txns"] for p in txn["patches"]][:1500]
    instance = editor(log)
    expected = trace["startContent"]
    for n, (pos, deleted, inserted) in enumerate(patches, start=1):
        ops = []
        if deleted:
            ops.append(ClientOp("delete", pos, length=deleted))
        if inserted:
            ops.append(ClientOp("insert", pos, content=inserted))
        instance.submit("prd_trace", Author("martin", "martin", "utf-32"), Submission(ops=ops, clock={"martin": n}))
        expected = expected[:pos] + inserted + expected[pos + deleted :]
    assert instance.load("prd_trace").document.content == expected
    assert Document.from_updates(e.update for e in log.since("prd_trace", 0)).content == expected


def test_an_edit_past_the_size_limit_is_refused_and_changes_nothing(log: UpdateLog) -> None:
    small = Editor(log, clock=lambda: 0, max_document_bytes=12, sleep=lambda s: None)
    small.submit(
        "prd_small", Author("a", "a"), Submission(ops=[ClientOp("insert", 0, content="hello")], clock={"a": 1})
    )
    too_much = Submission(ops=[ClientOp("insert", 5, content=" world, and more")], clock={"a": 2})
    with pytest.raises(AppError) as refused:
        small.submit("prd_small", Author("a", "a"), too_much)
    assert refused.value.code == "DOCUMENT_TOO_LARGE"
    assert [e.seq for e in log.since("prd_small", 0)] == [1]
    assert small.load("prd_small").document.content == "hello"
    fits = Submission(ops=[ClientOp("insert", 5, content="!")], clock={"a": 2})  # the counter was not used up
    assert small.submit("prd_small", Author("a", "a"), fits).entry.seq == 2


def test_a_retry_with_a_fresh_op_id_is_still_recognised_by_its_counter(log: UpdateLog) -> None:
    instance = editor(log)
    op = ClientOp("insert", 0, content="hello")
    first = instance.submit("prd_opid", Author("u", "u"), Submission(ops=[op], clock={"u": 1}, op_id="try-1"))
    again = instance.submit("prd_opid", Author("u", "u"), Submission(ops=[op], clock={"u": 1}, op_id="try-2"))
    assert again.duplicate and again.entry.seq == first.entry.seq
    assert instance.load("prd_opid").document.content == "hello"


def test_a_document_over_the_limit_can_still_shrink(log: UpdateLog) -> None:
    roomy = Editor(log, clock=lambda: 0, max_document_bytes=100, sleep=lambda s: None)
    roomy.submit(
        "prd_shrink", Author("a", "a"), Submission(ops=[ClientOp("insert", 0, content="x" * 50)], clock={"a": 1})
    )
    tight = Editor(log, clock=lambda: 0, max_document_bytes=10, sleep=lambda s: None)  # the limit lowered since
    with pytest.raises(AppError):
        tight.submit(
            "prd_shrink", Author("a", "a"), Submission(ops=[ClientOp("insert", 0, content="y")], clock={"a": 2})
        )
    cut = tight.submit(
        "prd_shrink", Author("a", "a"), Submission(ops=[ClientOp("delete", 0, length=45)], clock={"a": 2})
    )
    assert cut.entry.seq == 2 and tight.load("prd_shrink").document.content == "x" * 5


def test_a_refused_batch_leaves_nothing_behind_in_the_authors_view(log: UpdateLog) -> None:
    instance = editor(log)
    author = Author("u", "u", "utf-32")
    instance.submit("prd_phantom", author, Submission(ops=[ClientOp("insert", 0, content="abc")], clock={"u": 1}))
    for spoiler in (
        ClientOp("insert", 0, content="\ud800"),  # a lone surrogate: not text
        ClientOp("format", 0, length=1, attributes={"size": 10**30}),  # more than pycrdt holds (it panics)
        ClientOp("format", 0, length=1, attributes={"w": float("nan")}),
    ):
        batch = Submission(ops=[ClientOp("insert", 0, content="PHANTOM "), spoiler], clock={"u": 2}, batch=True)
        with pytest.raises(AppError) as refused:
            instance.submit("prd_phantom", author, batch)
        assert refused.value.code == "INVALID_OPERATION"
    # The refused counter is free: the next op takes it, and lands where its author put it.
    kept = instance.submit(
        "prd_phantom", author, Submission(ops=[ClientOp("insert", 0, content="KEEP ")], clock={"u": 2})
    )
    assert [op.content for op in kept.entry.ops] == ["KEEP "] and not kept.duplicate
    instance.submit("prd_phantom", author, Submission(ops=[ClientOp("insert", 5, content="|")], clock={"u": 3}))
    assert instance.load("prd_phantom").document.content == "KEEP |abc"
    assert Document.from_updates(e.update for e in log.since("prd_phantom", 0)).content == "KEEP |abc"


def test_an_update_putting_non_text_into_the_content_is_refused(log: UpdateLog) -> None:
    from pycrdt import Array, Doc

    instance = editor(log)
    author = Author("u", "u", "utf-32")
    instance.submit("prd_any", author, Submission(ops=[ClientOp("insert", 0, content="hello")], clock={"u": 1}))
    client = Doc()
    client.apply_update(instance.load("prd_any").document.state())
    state = client.get_state()
    client.get("content", type=Array).append(42)  # a client that declared the content as a Y.Array
    with pytest.raises(AppError) as refused:
        instance.submit("prd_any", Author("y", "y"), Submission(update=client.get_update(state)))
    assert refused.value.code == "INVALID_UPDATE"
    assert [e.seq for e in log.since("prd_any", 0)] == [1]
    applied = instance.submit("prd_any", author, Submission(ops=[ClientOp("insert", 5, content="!")], clock={"u": 2}))
    assert applied.entry.ops[0].position32 == 5 and instance.load("prd_any").document.content == "hello!"


class _CountingLog(UpdateLog):
    def __init__(self) -> None:
        self.lookups = 0

    def find(self, prd_id: str, clock_key: str, counter: int, upto_seq: int) -> LogEntry | None:
        self.lookups += 1
        return super().find(prd_id, clock_key, counter, upto_seq)

    def find_client_op(self, prd_id: str, op_id: str) -> LogEntry | None:
        self.lookups += 1
        return super().find_client_op(prd_id, op_id)


def test_waiting_for_a_predecessor_the_server_refused_fails_at_once(settings: Settings) -> None:
    bind_update_log(settings)
    log, slept = _CountingLog(), []
    instance = Editor(log, clock=lambda: 0, max_document_bytes=100, sleep=slept.append)
    author = Author("u", "u", "utf-32")
    with pytest.raises(AppError):
        instance.submit("prd_wait", author, Submission(ops=[ClientOp("delete", 0, length=5)], clock={"u": 1}))
    with pytest.raises(AppError) as refused:
        instance.submit("prd_wait", author, Submission(ops=[ClientOp("insert", 0, content="x")], clock={"u": 2}))
    assert refused.value.code == "OUT_OF_ORDER" and refused.value.data["expected"] == 1
    assert slept == [] and log.lookups == 0
    # A predecessor that may still arrive is waited for, with backoff and no index lookups.
    with pytest.raises(AppError) as waited:
        instance.submit(
            "prd_wait", Author("v", "v"), Submission(ops=[ClientOp("insert", 0, content="x")], clock={"v": 2})
        )
    assert waited.value.code == "OUT_OF_ORDER" and waited.value.data["retryable"] is True
    assert 4 <= len(slept) <= 6 and slept[:3] == [0.05, 0.1, 0.2] and sum(slept) == pytest.approx(1.0)
    assert log.lookups == 0


def test_a_lagging_op_costs_what_its_author_missed_not_the_history(
    log: UpdateLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two authors take turns; one always sees the log three entries late, so each of its ops is
    stale. What the engine applies for one of them must not grow with the history."""
    import pycrdt

    instance = editor(log)
    prd = "prd_lag"
    writer, laggard = ConcurrentAuthor(prd, "w"), ConcurrentAuthor(prd, "l")
    received: list = []
    calls: list[int] = []
    original = pycrdt.Doc.apply_update

    def counted(doc: pycrdt.Doc, update: bytes) -> None:
        calls.append(1)
        original(doc, update)

    monkeypatch.setattr(pycrdt.Doc, "apply_update", counted)
    costs = {}
    for n, patch in enumerate(trace_patches(), start=1):
        for who, behind in ((writer, 0), (laggard, 3)):
            who.receive(received, len(received) - behind)
            ops, clock = who.make_op(patch if who is writer else (0, 0, "z"))
            calls.clear()
            instance.submit(prd, Author(who.key, who.key, "utf-32"), Submission(ops=ops, clock=clock))
            if who is laggard and n in (50, 500):
                costs[n] = len(calls)
            received.extend((e.seq, e.clock_key, e.counter, e.update) for e in log.since(prd, len(received)))
        if n == 500:
            break
    # The entries the laggard had not seen since its last op, the trial replica's catch-up and
    # the op itself, and the commit: a handful, at 100 entries as at 1,000.
    assert costs[500] == costs[50] <= 10, costs


@pytest.mark.parametrize("authors", [2, 3])
def test_authors_typing_at_once_through_two_instances_and_snapshots_end_at_the_reference(
    settings: Settings, authors: int
) -> None:
    """Each op is sent with the clock its author's own document has (a few entries behind the
    log), to either of two warm instances sharing the log; snapshots are taken as it goes, and a
    cold instance takes over after each. The log, every instance and every author end at the
    text of the authors' documents merged."""
    import boto3

    from prdtool.engine.compaction import compact
    from prdtool.engine.snapshots import SnapshotStore

    bind_update_log(settings)
    log = UpdateLog()
    snapshots = SnapshotStore(boto3.client("s3"), settings.snapshots_bucket)

    def instance() -> Editor:
        return Editor(log, lambda: 0, 2_000_000, sleep=lambda s: None, snapshots=snapshots)

    prd = f"prd_together_{authors}"
    rng = random.Random(authors)
    instances = [instance(), instance()]
    writers = [ConcurrentAuthor(prd, f"agent{i}") for i in range(authors)]
    received: list = []
    patches = trace_patches()
    for n in range(1, 241):
        writer = rng.choice(writers)
        writer.receive_lagging(received, rng, lag=5)
        ops, clock = writer.make_op(next(patches))
        submission = Submission(ops=ops, clock=clock, batch=len(ops) > 1)
        rng.choice(instances).submit(prd, Author(writer.key, writer.key, "utf-32"), submission)
        received.extend((e.seq, e.clock_key, e.counter, e.update) for e in log.since(prd, len(received)))
        if n % 60 == 0:
            compact(snapshots, log, prd, len(received), DAY_MS, 0)
            instances[rng.randrange(2)] = instance()  # a cold start: it loads from the new snapshot
    assert [r[0] for r in received] == list(range(1, 241))  # every op once, in one unbroken log
    for writer in writers:
        writer.receive(received, len(received))
    expected = converged_text(writers)
    assert all(w.document.content == expected for w in writers)
    assert Document.from_updates(r[3] for r in received).content == expected
    # The text each instance keeps between reads (spliced, not read back) is pycrdt's text.
    assert all(i.load(prd).document.content == str(i.load(prd).document.text) == expected for i in instances)
    assert instance().load(prd).document.content == expected


def test_an_insert_into_formatted_text_is_logged_with_the_formatting_it_takes_on(log: UpdateLog) -> None:
    instance = editor(log)
    author = Author("u", "u", "utf-32")
    instance.submit("prd_fmt", author, Submission(ops=[ClientOp("insert", 0, content="abc")], clock={"u": 1}))
    plain = instance.submit("prd_fmt", author, Submission(ops=[ClientOp("insert", 3, content="d")], clock={"u": 2}))
    assert plain.entry.ops[0].attributes is None and not instance.load("prd_fmt").formatted
    bold = ClientOp("format", 0, length=4, attributes={"bold": True})
    instance.submit("prd_fmt", author, Submission(ops=[bold], clock={"u": 3}))
    inside = instance.submit("prd_fmt", author, Submission(ops=[ClientOp("insert", 2, content="x")], clock={"u": 4}))
    assert inside.entry.ops[0].attributes == {"bold": True}  # what a rich-text client must show
    assert editor(log).load("prd_fmt").formatted  # known again from the log after a cold start
