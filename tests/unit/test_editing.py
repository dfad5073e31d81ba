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

from prdtool.crdt import ClientOp, Document
from prdtool.editing import Author, Editor, Submission
from prdtool.errors import AppError
from prdtool.settings import Settings
from prdtool.update_log import LogEntry, UpdateLog, bind_update_log

TRACE = Path(__file__).resolve().parents[3] / "shared" / "data" / "automerge-paper.json.gz"


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
