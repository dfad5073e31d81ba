"""Case 5: fan-out. One op broadcast to rooms of 1, 10 and 100 sessions, through the real gateway
handler on moto with a real HTTP management API: handler time and posts per op."""

from __future__ import annotations

import time

from bench.harness import Result, count_aws_calls, figure, split
from bench.stack import BenchStack, Writer

CASE = "5. Fan-out"
ROOMS = (1, 10, 100)
OPS = 12


def run() -> list[Result]:
    results, medians = [], {}
    for size in ROOMS:
        with BenchStack() as s:
            owner = s.client("owner")
            prd_id = s.call(owner, "document:create", {"title": "Fan-out", "content": "x"})["prdId"]
            s.call(owner, "document:share", {"prdId": prd_id, "userId": "member", "role": "editor"})
            writer, *_ = [Writer(s, "member", prd_id) for _ in range(size)]  # one user, one session per tab
            times, posts, spent = [], [], []
            for n in range(OPS):
                with count_aws_calls() as calls:
                    start = time.perf_counter()
                    writer.edit({"type": "insert", "position": 0, "content": f"{n % 10}"})
                    times.append((time.perf_counter() - start) * 1000)
                posts.append(calls.of("apigatewaymanagementapi"))
                spent.append((times[-1], split(times[-1] / 1000, calls)))
            ms = figure(times)
            medians[size] = ms.median
            results.append(Result(
                CASE, f"room of {size}", ms.show("ms", 2),
                f"posts per op {figure([float(p) for p in posts]).median:.0f} (the ack and {size - 1} others, "
                f"posted concurrently); {ms.median / size:.2f} ms per session; "
                f"time: {sorted(spent)[len(spent) // 2][1]}",
            ))  # fmt: skip
    ratio = medians[ROOMS[-1]] / medians[ROOMS[0]]
    results.append(Result(CASE, f"room of {ROOMS[-1]} / room of {ROOMS[0]}", f"{ratio:.1f}x", "handler time ratio"))
    return results
