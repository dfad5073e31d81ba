"""Case 13: rooms where everyone types, simulated. Rooms of 10, 50 and 200 sessions, each typing
at ``RATE`` edits a second (a fast typist, one edit per keystroke), through the real gateway
function on moto and the fake ``@connections`` API: posts per session per second, total posts,
DynamoDB requests per edit, and the latency the windows add, with the fan-out coalescing (the
deployed default) and, for comparison, one post per entry.

Time is simulated, so that 200 people typing need not run in real time on 2 cores: the stack's
clock moves only between edits and inside a fan-out holder's wait (``services.wait``), where the
edits that come meanwhile are run on the other gateway instances, as Lambda would run them. The
counts are the stack's own; the posts' times are the simulated clock's when they were made.
"""

from __future__ import annotations

import base64
import heapq
import json
import random
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Text

from bench.harness import Result, count_aws_calls
from bench.stack import BenchStack

CASE = "13. Rooms where everyone types (simulated)"
INTRO = [
    "Every session types at 4 edits a second, at random moments (intervals 0.5x to 1.5x the mean),",
    "sending Yjs updates as the JavaScript client does, and applies what it receives. Coalescing",
    "(from `CoalesceFromSessions` = 10, window `FanOutWindowMs` = 100) against one post per entry",
    "(`CoalesceFromSessions` set past the room). `per session per s` counts `operation:applied`",
    "posts to each session; `added latency` is from an entry's commit to its post, simulated time.",
]
ROOMS = (10, 50, 200)
RATE = 4.0  # edits per second per session
# Simulated seconds (moto reads a partition in Python, so a room of 200 costs ~0.5 s per edit here).
SECONDS = {10: 2.0, 50: 1.0, 200: 0.3}
# One post per entry is measured where it is affordable; it is (n - 1) x RATE by construction.
PER_ENTRY_SECONDS = {10: 2.0, 50: 0.5}
INSTANCES = 4  # gateway instances (Lambda containers) the edits are spread over
APPLIED = '"operation:applied"'


@dataclass
class Typist:
    connection: str
    doc: Doc
    sent: list[int] = field(default_factory=list)  # seqs of its own entries


@dataclass
class Tally:
    edits: int = 0
    posts_to: Counter[str] = field(default_factory=Counter)  # operation:applied per connection
    latency_ms: list[float] = field(default_factory=list)
    received: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    committed_at: dict[int, int] = field(default_factory=dict)  # seq -> simulated ms


class Simulation:
    """One room on one stack: typists, a queue of edits in simulated time, and what was posted."""

    def __init__(self, s: BenchStack, size: int, seconds: float, seed: int) -> None:
        self.s, self.size, self.tally = s, size, Tally()
        self.random = random.Random(seed)
        owner = s.client("owner")
        self.prd_id = s.call(owner, "document:create", {"title": "Workshop", "content": "Notes: "})["prdId"]
        for n in range(size):
            s.call(owner, "document:share", {"prdId": self.prd_id, "userId": f"typist{n}", "role": "editor"})
        self.instances = [s.functions("gateway")] + [s.stack.new_instance("gateway") for _ in range(INSTANCES - 1)]
        self.busy: set[int] = set()
        for instance in self.instances:
            instance.services.wait = self._wait
        self.typists = [self._join(n) for n in range(size)]
        self._drop_posts()  # the joins' presence
        start = s.stack.clock()
        self.queue: list[tuple[int, int]] = []  # (time ms, typist)
        for n in range(size):
            at = start + self.random.uniform(0, 1000 / RATE)
            while at < start + seconds * 1000:
                heapq.heappush(self.queue, (int(at), n))
                at += self.random.uniform(0.5, 1.5) * 1000 / RATE
        self.end = start + int(seconds * 1000)

    def _join(self, n: int) -> Typist:
        connection = self.s.client(f"typist{n}")
        joined = self.s.call(connection, "document:join", {"prdId": self.prd_id, "mode": "edit"})
        doc: Doc = Doc(client_id=10_000 + n)
        doc.apply_update(base64.b64decode(joined["state"]))
        return Typist(connection, doc)

    def run(self) -> Tally:
        self._run_until(self.end + 10_000)  # then the last windows go out
        return self.tally

    def _run_until(self, until: int) -> None:
        """Run every edit due before ``until``, each on a free gateway instance, in time order."""
        while self.queue and self.queue[0][0] < until and len(self.busy) < len(self.instances):
            at, n = heapq.heappop(self.queue)
            clock = self.s.stack.clock
            clock.now = max(clock.now, at)
            self._edit(self.typists[n])
        clock = self.s.stack.clock
        clock.now = max(clock.now, until)

    def _wait(self, seconds: float) -> None:
        """A fan-out holder waits out its window: the edits due meanwhile run elsewhere."""
        self._collect()
        self._run_until(self.s.stack.clock() + int(seconds * 1000))

    def _edit(self, typist: Typist) -> None:
        text = typist.doc.get("content", type=Text)
        before = typist.doc.get_state()
        text.insert(self.random.randint(0, len(text)), self.random.choice("abcdefgh "))
        update = base64.b64encode(typist.doc.get_update(before)).decode()
        index = next(i for i in range(len(self.instances)) if i not in self.busy)
        self.busy.add(index)
        frame = "421" + json.dumps(["operation:edit", {"prdId": self.prd_id, "update": update}])
        try:
            self.s.stack.send(typist.connection, frame, instance=self.instances[index])
        finally:
            self.busy.discard(index)
        self.tally.edits += 1
        self._collect()

    def _collect(self) -> None:
        """Read what was posted since the last look: posted at the clock's time now (it moves only
        between edits and in waits, and a commit's ack is posted before its invocation waits)."""
        now = self.s.stack.clock()
        frames = [(t, f) for t in self.typists for f in self.s.fake.take(t.connection)]
        for typist, frame in frames:
            if frame.startswith("431["):
                ack = json.loads(frame[3:])[0]
                assert ack["ok"], ack
                typist.sent.append(ack["seq"])
                self.tally.committed_at[ack["seq"]] = now
        for typist, frame in frames:
            if frame.startswith("42[") and APPLIED in frame[:40]:
                self._received(typist, json.loads(frame[2:])[1], now)

    def _received(self, typist: Typist, event: dict[str, Any], now: int) -> None:
        self.tally.posts_to[typist.connection] += 1
        typist.doc.apply_update(base64.b64decode(event["update"]))
        seqs = [op["seq"] for op in event["operations"]] if "operations" in event else [event["seq"]]
        for seq in seqs:
            self.tally.received[typist.connection].add(seq)
            self.tally.latency_ms.append(now - self.tally.committed_at[seq])

    def complete(self) -> bool:
        """Whether every session heard every entry it did not make, and all hold the same text."""
        services = self.s.functions("gateway").services
        seqs = {e.seq for e in services.log.since(self.prd_id, 0)} - {1}  # 1: the document's creation
        heard = all(self.tally.received[t.connection] | set(t.sent) >= seqs for t in self.typists)
        text = services.editor.load(self.prd_id).document.content
        return heard and all(str(t.doc.get("content", type=Text)) == text for t in self.typists)

    def _drop_posts(self) -> None:
        for typist in self.typists:
            self.s.fake.take(typist.connection)


def _simulate(size: int, coalescing: bool) -> tuple[Tally, Counter[str], float, bool]:
    seconds = SECONDS[size] if coalescing else PER_ENTRY_SECONDS[size]
    env = {} if coalescing else {"COALESCE_FROM": "1000000"}
    with BenchStack(env=env) as s:
        simulation = Simulation(s, size, seconds, seed=size)
        with count_aws_calls() as calls:
            tally = simulation.run()
        return tally, calls.calls, seconds, simulation.complete()


def run() -> list[Result]:
    results = []
    per_session_of: dict[tuple[int, bool], float] = {}
    for size in ROOMS:
        for coalescing in (True, False) if size in PER_ENTRY_SECONDS else (True,):
            tally, calls, seconds, complete = _simulate(size, coalescing)
            per_session = [n / seconds for n in tally.posts_to.values()] or [0.0]
            dynamodb = sum(n for k, n in calls.items() if k.startswith("dynamodb.")) / max(1, tally.edits)
            posts = sum(tally.posts_to.values())
            latency = sorted(tally.latency_ms) or [0.0]
            per_session_of[(size, coalescing)] = statistics.median(per_session)
            mode = "coalescing" if coalescing else "one post per entry"
            results.append(Result(
                CASE, f"room of {size}, {mode}",
                f"{statistics.median(per_session):.1f} per session per s (max {max(per_session):.1f})",
                f"{tally.edits} edits in {seconds:g} s; {posts / seconds:,.0f} posts/s in all "
                f"({posts / max(1, tally.edits):.1f} per edit); DynamoDB {dynamodb:.2f} requests per edit; "
                f"added latency median {statistics.median(latency):.0f} ms, max {latency[-1]:.0f} ms; "
                f"every session heard every entry and holds the server's text: {'yes' if complete else 'NO'}",
            ))  # fmt: skip
    largest = ROOMS[-1]
    results.append(Result(
        CASE, f"room of {largest}: posts per session per s, coalescing / one post per entry",
        f"{per_session_of[(largest, True)]:.1f} / {(largest - 1) * RATE:.0f}",
        "one post per entry is (n - 1) x 4 a second by construction (measured above for 10 and 50); coalescing "
        "keeps it at about 1 / window (10 a second; a short run counts its last window too) whatever the room",
    ))  # fmt: skip
    return results
