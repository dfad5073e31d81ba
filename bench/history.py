"""Case 2: history does not slow editing. One op on a document with 0, 10k and 100k prior ops,
through the real gateway handler on moto: handler time and AWS requests, on a warm instance (the
document cached) and a cold one (nothing cached: snapshot plus log since)."""

from __future__ import annotations

import time

from bench.harness import Result, count_aws_calls, figure, split
from bench.stack import BenchStack, Writer, write_history

CASE = "2. History does not slow editing"
HISTORIES = (0, 10_000, 100_000)
WARM_OPS, COLD_OPS = 30, 5


def _one_op(writer: Writer, n: int, cold: bool) -> tuple[float, int, int, str]:
    """Milliseconds, AWS requests and sequential requests of one insert at the start."""
    if cold:
        writer.s.functions("gateway").services.editor.forget(writer.prd_id)
    with count_aws_calls() as calls:
        start = time.perf_counter()
        writer.edit({"type": "insert", "position": 0, "content": f"{n % 10}"})
        elapsed = (time.perf_counter() - start) * 1000
    return elapsed, calls.total, calls.on_caller, split(elapsed / 1000, calls)


def run() -> list[Result]:
    results, medians = [], {}
    for history in HISTORIES:
        with BenchStack() as s:
            owner = s.client("owner")
            prd_id = s.call(owner, "document:create", {"title": "History", "content": ""})["prdId"]
            s.call(owner, "document:share", {"prdId": prd_id, "userId": "writer", "role": "editor"})
            write_history(s, prd_id, history)
            writer = Writer(s, "writer", prd_id)
            for kind, cold, runs in (("warm", False, WARM_OPS), ("cold", True, COLD_OPS)):
                samples = [_one_op(writer, n, cold) for n in range(runs)]
                ms = figure([x[0] for x in samples])
                requests = figure([float(x[1]) for x in samples])
                sequential = figure([float(x[2]) for x in samples])
                medians[(kind, history)] = ms.median
                results.append(Result(
                    CASE, f"{kind}, {history:,} prior ops", ms.show("ms", 2),
                    f"AWS requests {requests.median:.0f} ({sequential.median:.0f} one after another); "
                    f"time: {sorted(samples)[len(samples) // 2][3]}",
                ))  # fmt: skip
    for kind in ("warm", "cold"):
        ratio = medians[(kind, HISTORIES[-1])] / medians[(kind, HISTORIES[0])]
        results.append(Result(CASE, f"{kind}: 100k / 0 prior ops", f"{ratio:.2f}x", "handler time ratio"))
    return results
