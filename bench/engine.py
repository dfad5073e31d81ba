"""Case 1, engine overhead: what our edit pipeline costs on top of pycrdt, and what the full handler
costs on top of that.

A real editing trace (Kleppmann's automerge-paper, 259,778 single-character edits) is replayed three
ways: bare pycrdt, the floor this machine allows; the real ``Editor.submit`` over an in-memory log,
so everything but storage I/O is the handler's code path (position conversion, vector clocks, update
encoding, the ops as applied); and a prefix through the real gateway on moto, to see how the time of
a request splits between our code and the storage it calls. Each replay must end at the trace's text,
or the case fails: a fast wrong engine measures nothing.
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pycrdt import Doc, Text

from bench.harness import Result, count_aws_calls, figure, repeat
from bench.stack import BenchStack, MemoryLog
from prdtool.engine.crdt import ClientOp
from prdtool.engine.editor import Author, Editor, Submission

__all__ = ["MemoryLog", "run"]

CASE = "1. Engine overhead"
# Printed above this case's table in docs/benchmarks.md: the data its figures come from.
INTRO = [
    "The replays use Martin Kleppmann's automerge-paper editing trace (259,778 single-character edits,",
    "typing the LaTeX source of a paper), kept in `tests/data/`; its origin is in tests/data/README.md.",
]
TRACE = Path(__file__).resolve().parents[1] / "tests" / "data" / "automerge-paper.json.gz"
BARE_RUNS = 3
ENGINE_RUNS = 3
# The engine's cost per edit grows with the text (it reads the whole text several times per
# edit): the whole trace takes ~4 minutes on a 2-core CI machine, more than this case may take
# (~3 minutes of a `make bench` that must stay under 10). Past this budget the replay stops, and
# bare pycrdt is measured again on the same prefix so the ratio compares like with like.
ENGINE_BUDGET_S = 170.0
ESTIMATE_AFTER = 20_000  # edits replayed before the first estimate of the whole trace
HANDLER_EDITS = 5_000
HANDLER_BUDGET_S = 40.0
HANDLER_PROBE = 200  # edits timed to decide how many of HANDLER_EDITS fit the budget
# The stack's clock moves only when told: advance it as a fast typist's edits would (50 a second),
# or the per-connection burst limit (1,000 edits per 10 s) refuses the 1,001st edit.
TYPING_INTERVAL_S = 0.02
PRD = "prd_trace"

Patch = tuple[int, int, str]  # position (code points), characters deleted, text inserted


@dataclass(frozen=True)
class Trace:
    patches: list[Patch]
    end: str


@cache
def load_trace() -> Trace:
    data = json.loads(gzip.decompress(TRACE.read_bytes()))
    if data["startContent"]:
        raise ValueError("the replays start from an empty text; this trace does not")
    patches = [(int(p[0]), int(p[1]), str(p[2])) for txn in data["txns"] for p in txn["patches"]]
    return Trace(patches, data["endContent"])


def text_after(patches: list[Patch]) -> str:
    """The trace's text after ``patches``, replayed on a plain str: the reference for every check."""
    text = ""
    for position, deleted, inserted in patches:
        text = text[:position] + inserted + text[position + deleted :]
    return text


def _check(what: str, got: str, expected: str) -> None:
    if got != expected:
        at = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), None)
        where = f"at {at}" if at is not None else f"in length ({len(got)} vs {len(expected)})"
        raise AssertionError(f"{what}: the replayed text differs from the trace's {where}")


# --- bare pycrdt ---------------------------------------------------------------------------------


def _edit(doc: Doc[Text], text: Text, patch: Patch) -> None:
    """One trace patch in one transaction. The trace is ASCII: code points are UTF-8 bytes,
    pycrdt's units, with no conversion."""
    position, deleted, inserted = patch
    with doc.transaction():
        if deleted:
            del text[position : position + deleted]
        if inserted:
            text.insert(position, inserted)


def bare_replay(patches: list[Patch], expected: str) -> float:
    """Seconds to apply ``patches`` to a pycrdt Text, one transaction per edit."""
    doc = Doc()
    text = doc.get("content", type=Text)
    start = time.perf_counter()
    for patch in patches:
        _edit(doc, text, patch)
    seconds = time.perf_counter() - start
    _check("bare pycrdt", str(text), expected)
    return seconds


def design_floor_replay(patches: list[Patch], expected: str) -> float:
    """Seconds for what the engine's design asks of pycrdt per edit, and nothing else: make the
    edit on one replica (the author's view), take that transaction's Yjs update, apply it to a
    second replica (the document). The second replica is what keeps a lost race out of the
    document: a write the log refused was never applied there."""
    view, document = Doc(), Doc()
    text = view.get("content", type=Text)
    updates: list[bytes] = []
    view.observe(lambda event: updates.append(event.update))  # as Document.edit takes its update
    start = time.perf_counter()
    for patch in patches:
        _edit(view, text, patch)
        document.apply_update(updates.pop())
    seconds = time.perf_counter() - start
    _check("design floor", str(document.get("content", type=Text)), expected)
    return seconds


# --- the engine, without storage -----------------------------------------------------------------


def _client_ops(position: int, deleted: int, inserted: str) -> list[ClientOp]:
    ops = []
    if deleted:
        ops.append(ClientOp("delete", position, length=deleted))
    if inserted:  # after the delete, at the same place: the text the patch leaves
        ops.append(ClientOp("insert", position, content=inserted))
    return ops


@dataclass(frozen=True)
class EngineRun:
    edits: int
    seconds: float


def engine_replay(patches: list[Patch], budget_s: float | None = None) -> EngineRun:
    """Replay through ``Editor.submit`` as the gateway calls it, one submission per edit, stopping
    at a multiple of 1,000 edits once ``budget_s`` is spent; checks the text it got to."""
    editor = Editor(MemoryLog(), lambda: 0, max_document_bytes=2_000_000)  # the deployed default limit
    author = Author("trace_author", "trace_author", "utf-32")  # the trace counts code points
    done, half_s = 0, 0.0
    start = time.perf_counter()
    for counter, (position, deleted, inserted) in enumerate(patches, 1):
        ops = _client_ops(position, deleted, inserted)
        editor.submit(PRD, author, Submission(ops=ops, clock={author.clock_key: counter}, batch=len(ops) > 1))
        done = counter
        if counter % 1000 or budget_s is None:
            continue
        spent = time.perf_counter() - start
        if counter == ESTIMATE_AFTER // 2:
            half_s = spent
        elif counter == ESTIMATE_AFTER:
            whole = _estimate(patches, counter, half_s, spent)
            print(f"  engine: {counter:,} edits in {spent:.1f} s; whole trace ~{whole:.0f} s", flush=True)
        if spent > budget_s:
            break
    seconds = time.perf_counter() - start
    _check("engine", editor.load(PRD).document.content, text_after(patches[:done]))
    return EngineRun(done, seconds)


def _estimate(patches: list[Patch], done: int, half_s: float, spent: float) -> float:
    """The whole trace's seconds, from the first ``done`` edits: the time per edit grows with the
    text (each edit reads all of it a few times), so fit a + b * length on the two halves. A guide
    printed for whoever tunes the budget; the budget, not this, decides where the replay stops."""
    lengths, length = [], 0
    for _, deleted, inserted in patches:
        length += len(inserted) - deleted
        lengths.append(length)
    half = done // 2
    l1, l2 = sum(lengths[:half]) / half, sum(lengths[half:done]) / (done - half)
    t1, t2 = half_s / half, (spent - half_s) / (done - half)
    b = (t2 - t1) / (l2 - l1) if l2 > l1 else 0.0
    return len(patches) * (t1 - b * l1) + b * sum(lengths)


# --- the full handler, with storage on moto ------------------------------------------------------


@dataclass(frozen=True)
class HandlerRun:
    edits: int
    seconds: float
    aws_seconds: float
    moto_seconds: float
    requests: dict[str, int]  # by service and operation
    sequential: int  # of them made one after another on the calling thread


def _edit_event(prd_id: str, clock: dict[str, int], position: int, deleted: int, inserted: str) -> dict[str, Any]:
    ops = [
        {"type": op.type, "position": op.position, **({"content": op.content} if op.content else {"length": op.length})}
        for op in _client_ops(position, deleted, inserted)
    ]
    if len(ops) == 1:
        return {"prdId": prd_id, "operation": {**ops[0], "vectorClock": clock}}
    return {"prdId": prd_id, "operations": ops, "vectorClock": clock}


def handler_replay(patches: list[Patch]) -> HandlerRun:
    """One client creates a PRD, joins it in edit mode and sends ``patches`` as ``operation:edit``
    through the gateway, as many as fit HANDLER_BUDGET_S."""
    with BenchStack() as s:
        connection = s.client("trace_author")
        created = s.call(connection, "document:create", {"title": "automerge-paper", "content": ""})
        prd_id = created["prdId"]
        joined = s.call(connection, "document:join", {"prdId": prd_id, "mode": "edit", "positionEncoding": "utf-32"})
        key, clock = joined["clockKey"], dict(joined["vectorClock"])

        def send(patch: Patch) -> None:
            s.stack.clock.advance(TYPING_INTERVAL_S)
            clock[key] = clock.get(key, 0) + 1
            ack = s.call(connection, "operation:edit", _edit_event(prd_id, dict(clock), *patch))
            if "error" in ack:
                raise AssertionError(f"edit {clock[key]} refused: {ack['error']}")

        with count_aws_calls() as calls:
            start = time.perf_counter()
            for patch in patches[:HANDLER_PROBE]:
                send(patch)
            # Cap the prefix by the rate the first edits went at (it slows down only a little as
            # the text grows: the storage calls, not the text, take most of an edit's time).
            per_edit = (time.perf_counter() - start) / HANDLER_PROBE
            count = max(HANDLER_PROBE, min(len(patches), int(HANDLER_BUDGET_S / per_edit) // 100 * 100))
            for patch in patches[HANDLER_PROBE:count]:
                send(patch)
            seconds = time.perf_counter() - start
        # Read back from storage with a cold editor: the log itself must hold the trace's text.
        services = s.functions("gateway").services
        cold = Editor(services.log, services.clock, services.settings.max_document_bytes, snapshots=services.snapshots)
        _check("handler", cold.load(prd_id).document.content, text_after(patches[:count]))
    return HandlerRun(
        count, seconds, calls.seconds, calls.emulated_seconds, dict(sorted(calls.calls.items())), calls.on_caller
    )


# --- the case -------------------------------------------------------------------------------------


def run() -> list[Result]:
    trace = load_trace()
    total = len(trace.patches)
    bare = repeat(BARE_RUNS, lambda: total / bare_replay(trace.patches, trace.end))

    first = engine_replay(trace.patches, ENGINE_BUDGET_S)
    prefix = trace.patches[: first.edits]
    seconds = [first.seconds]
    while len(seconds) < ENGINE_RUNS and sum(seconds) + first.seconds <= ENGINE_BUDGET_S:
        seconds.append(engine_replay(prefix).seconds)
    engine = figure([len(prefix) / s for s in seconds])
    whole = len(prefix) == total
    if whole:
        floor, span = bare, f"the whole trace ({total:,} edits); text == endContent"
    else:
        expected = text_after(prefix)
        floor = repeat(BARE_RUNS, lambda: len(prefix) / bare_replay(prefix, expected))
        span = f"the first {len(prefix):,} of {total:,} edits (where its {ENGINE_BUDGET_S:.0f} s ran out); text checked"
    print(f"  engine: {len(prefix):,} edits, {len(seconds)} run(s) in {sum(seconds):.0f} s", flush=True)
    expected = text_after(prefix)
    design = repeat(BARE_RUNS, lambda: len(prefix) / design_floor_replay(prefix, expected))

    handler = handler_replay(trace.patches[:HANDLER_EDITS])
    other_aws = handler.aws_seconds - handler.moto_seconds
    requests = ", ".join(f"{name} {n / handler.edits:.2f}" for name, n in handler.requests.items())
    requests += f"; {handler.sequential / sum(handler.requests.values()):.0%} of them one after another"
    return [
        Result(CASE, "Bare pycrdt replay", bare.show("edits/s", 0),
               f"whole trace, one transaction per edit, {BARE_RUNS} runs; text == endContent"),
        *([] if whole else [Result(CASE, "Bare pycrdt replay, engine's prefix", floor.show("edits/s", 0),
                                   f"the first {len(prefix):,} edits, {BARE_RUNS} runs")]),
        Result(CASE, "Engine replay (Editor.submit, log in memory)", engine.show("edits/s", 0),
               f"{span}; {1e6 / engine.median:,.0f} µs per edit, {len(seconds)} run(s)"),
        Result(CASE, "Engine time per edit / bare pycrdt", f"{floor.median / engine.median:.0f}x",
               "same edits, same run: position conversion, clocks, update encoding, ops as applied"),
        Result(CASE, "pycrdt work the design needs per edit / bare pycrdt",
               f"{floor.median / design.median:.1f}x",
               f"{design.show('edits/s', 0)}: made on a view, encoded, applied to the document (a second "
               "replica, so a write the log refuses never reaches it); the floor of this design"),
        Result(CASE, "Engine time per edit / that floor", f"{design.median / engine.median:.1f}x",
               "what is ours: position conversion, clocks, the ops as applied, the log entry"),
        Result(CASE, "Full handler on moto", f"{handler.edits / handler.seconds:,.0f} edits/s",
               f"first {handler.edits:,} edits as operation:edit through the gateway, one client typing "
               f"{1 / TYPING_INTERVAL_S:.0f} edits/s by the stack's clock; "
               f"{1e3 * handler.seconds / handler.edits:.1f} ms per edit; text read back from the log"),
        Result(CASE, "Handler time inside AWS calls", f"{handler.aws_seconds / handler.seconds:.0%}",
               f"moto (DynamoDB, S3) {handler.moto_seconds / handler.seconds:.0%}; botocore's own work and the "
               f"local HTTP fakes (management API, Lambda) {other_aws / handler.seconds:.0%}; the other "
               f"{1 - handler.aws_seconds / handler.seconds:.0%} is our code and the in-process Lambda plumbing"),
        Result(CASE, "AWS requests per edit", f"{sum(handler.requests.values()) / handler.edits:.2f}", requests),
    ]  # fmt: skip
