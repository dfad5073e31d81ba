"""Case 9, authors typing at once: what an op costs when several people edit the same PRD, their
clocks a few entries behind, through two warm instances, as the history grows.

Two and then three authors take the automerge-paper trace's edits in turns (a random author each
time), each on its own Yjs document that sees the log up to five entries late, so most ops are
stale and the two instances keep losing the append race to each other. ``Editor.submit`` runs
for real with the log and snapshots in memory (moto's query scans a whole partition in Python,
which would measure moto); every 500 entries the compactor snapshots the document and a cold
instance takes the place of one of the two. The time per op is the engine's alone (the authors'
own documents are not timed), as medians over windows around 1,000 and 20,000 entries. The
text must end at the authors' documents merged, or the case fails.

pycrdt's own operations get dearer as a document's history grows (tombstones stay in its item
list: one ``apply_update`` of a one-character edit costs ~15x more at 20,000 entries than at
1,000 here), so the case also reports, in the same windows, what pycrdt alone pays for the same
ops (the pycrdt model: the author's edit on its own document and one replica applying it), and
how many pycrdt ``apply_update`` calls the engine makes per op: the history must not change that.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass

import pycrdt

from bench.harness import Result
from bench.stack import MemoryLog, MemorySnapshots
from prdtool.engine.compaction import compact
from prdtool.engine.editor import Author, Editor, Submission
from prdtool.engine.update_log import SeqTaken
from tests.concurrent_authors import Author as Typist
from tests.concurrent_authors import converged_text, trace_patches

CASE = "9. Authors typing at once"
ENTRIES = 20_000
WINDOWS = (1_000, 20_000)  # per-op medians over the 400 ops before each
WINDOW = 400
SNAPSHOT_EVERY = 500
LAG = 5


class _CountingLog(MemoryLog):
    """The in-memory log, counting the appends that lost the race."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = 0

    def append(self, entry) -> None:  # type: ignore[no-untyped-def]
        try:
            super().append(entry)
        except SeqTaken:
            self.lost += 1
            raise


@dataclass(frozen=True)
class Replay:
    engine_us: dict[int, float]  # per-op median at each window
    model_us: dict[int, float]  # the pycrdt model's, same ops
    applies: dict[int, float]  # pycrdt apply_update calls per op made by the engine (mean)
    lost_races: int
    stale_ops: int


class _Applies:
    """Counts pycrdt ``Doc.apply_update`` calls while ``counting`` is set."""

    def __init__(self) -> None:
        self.counting, self.calls = False, 0
        self._original = pycrdt.Doc.apply_update

    def __enter__(self) -> _Applies:
        original, counter = self._original, self

        def counted(doc: pycrdt.Doc, update: bytes) -> None:
            counter.calls += counter.counting
            original(doc, update)

        pycrdt.Doc.apply_update = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        pycrdt.Doc.apply_update = self._original  # type: ignore[method-assign]


def replay(authors: int, seed: int = 1) -> Replay:
    """Run the case for ``authors`` authors; fails unless everyone ends at the reference text."""
    with _Applies() as applies:
        return _replay(authors, seed, applies)


def _replay(authors: int, seed: int, applies: _Applies) -> Replay:
    log, snapshots, rng = _CountingLog(), MemorySnapshots(), random.Random(seed)

    def instance() -> Editor:
        return Editor(log, lambda: 0, 10**9, sleep=lambda s: None, snapshots=snapshots)  # type: ignore[arg-type]

    prd = f"prd_together_{authors}"
    instances = [instance(), instance()]
    typists = [Typist(prd, f"agent{i}") for i in range(authors)]
    received: list = []
    times: list[float] = []
    model: list[float] = []
    calls: list[int] = []
    replica = pycrdt.Doc()  # the pycrdt model's server replica
    stale = 0
    patches = trace_patches()
    for n in range(1, ENTRIES + 1):
        typist = rng.choice(typists)
        typist.receive_lagging(received, rng, LAG)
        stale += typist.seq < len(received)
        start = time.perf_counter()
        ops, clock = typist.make_op(next(patches))
        made = time.perf_counter() - start
        submission = Submission(ops=ops, clock=clock, batch=len(ops) > 1)
        editor = rng.choice(instances)
        applies.counting, applies.calls = True, 0
        start = time.perf_counter()
        applied = editor.submit(prd, Author(typist.key, typist.key, "utf-32"), submission)
        times.append(time.perf_counter() - start)
        applies.counting = False
        calls.append(applies.calls)
        start = time.perf_counter()
        replica.apply_update(applied.entry.update)
        model.append(made + time.perf_counter() - start)
        received.extend((e.seq, e.clock_key, e.counter, e.update) for e in log.since(prd, len(received)))
        assert applied.entry.seq == n
        if n % SNAPSHOT_EVERY == 0:
            compact(snapshots, log, prd, n, 0, 0)  # type: ignore[arg-type]
            instances[rng.randrange(2)] = instance()
    for typist in typists:
        typist.receive(received, len(received))
    expected = converged_text(typists)
    for editor in instances:
        if editor.load(prd).document.content != expected:
            raise AssertionError(f"{authors} authors: an instance's text differs from the reference")
    if any(t.document.content != expected for t in typists):
        raise AssertionError(f"{authors} authors: an author's text differs from the reference")

    def window(values: list, at: int) -> list:
        return values[at - WINDOW : at]

    return Replay(
        {at: 1e6 * statistics.median(window(times, at)) for at in WINDOWS},
        {at: 1e6 * statistics.median(window(model, at)) for at in WINDOWS},
        {at: statistics.mean(window(calls, at)) for at in WINDOWS},
        log.lost,
        stale,
    )


def run() -> list[Result]:
    results = []
    low_at, high_at = WINDOWS
    for authors in (2, 3):
        r = replay(authors)
        engine = r.engine_us[high_at] / r.engine_us[low_at]
        model = r.model_us[high_at] / r.model_us[low_at]
        results += [
            Result(CASE, f"{authors} authors: per-op engine time at {low_at:,} / {high_at:,} entries",
                   f"{r.engine_us[low_at]:,.0f} / {r.engine_us[high_at]:,.0f} µs",
                   f"medians of the {WINDOW} ops before each; {r.stale_ops / ENTRIES:.0%} of all ops stale, "
                   f"{r.lost_races / ENTRIES:.2f} lost races per op; snapshot every {SNAPSHOT_EVERY}, a cold "
                   "instance after each; text == the reference"),
            Result(CASE, f"{authors} authors: engine time {high_at:,} / {low_at:,} entries", f"{engine:.2f}x",
                   f"the pycrdt model on the same ops: {r.model_us[low_at]:,.0f} / {r.model_us[high_at]:,.0f} µs, "
                   f"{model:.2f}x; the engine beside it: {engine / model:.2f}x"),
            Result(CASE, f"{authors} authors: pycrdt applies per op at {low_at:,} / {high_at:,} entries",
                   f"{r.applies[low_at]:.1f} / {r.applies[high_at]:.1f}",
                   "what the engine asks of pycrdt per op, whatever the history: its catch-up, the trial, the "
                   "commit (amortized snapshot loads and folds included)"),
        ]  # fmt: skip
    return results
