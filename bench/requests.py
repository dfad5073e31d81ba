"""Case 3: requests per edit. A long run of edits through the real gateway handler on moto, in a
room of 5, snapshots included (the compactor runs whenever the gateway asks for it): AWS requests
per edit by kind, amortized, and how many sit one after another on the critical path."""

from __future__ import annotations

import functools
import time
from collections import Counter
from dataclasses import dataclass

from bench.harness import Result, count_aws_calls, figure
from bench.stack import BenchStack, Writer, trace_ops
from prdtool.engine.crdt import ClientOp

CASE = "3. Requests per edit"
EDITS = 2_000  # four snapshots at the default SnapshotEvery (500)
ROOM = 5
READS = {"GetItem", "Query", "Scan", "BatchGetItem"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


@dataclass(frozen=True)
class EditCosts:
    """What one edit costs, amortized over the run (snapshots included)."""

    edits: int
    room: int
    handler_ms: float  # median gateway handler time for one edit (warm)
    compactor_ms: float  # compactor time per edit, amortized
    dynamodb_reads: float
    dynamodb_writes: float
    s3: float
    posts: float
    lambda_invokes: float
    sequential: float  # requests one after another on the edit's critical path (a parallel fan-out counts once)
    before_ack: float  # of them, the ones made before the author's ack was posted
    by_operation: Counter[str]
    write_units: Counter[str]  # summed over the run, by table and index (bench.capacity)
    read_units: float  # summed over the run


@functools.cache
def measure() -> EditCosts:
    """Run the workload once (the cost model reuses it)."""
    with BenchStack() as s:
        owner = s.client("owner")
        prd_id = s.call(owner, "document:create", {"title": "Requests", "content": ""})["prdId"]
        for n in range(ROOM):
            s.call(owner, "document:share", {"prdId": prd_id, "userId": f"member{n}", "role": "editor"})
        writer, *_ = [Writer(s, f"member{n}", prd_id) for n in range(ROOM)]
        total: Counter[str] = Counter()
        write_units: Counter[str] = Counter()
        read_units = 0.0
        handler_ms, compactor_s, sequential, before_ack = [], 0.0, 0, 0
        for op in trace_ops(EDITS):
            with count_aws_calls(capacity=True) as calls:
                start = time.perf_counter()
                writer.edit(_as_operation(op))
                handler_ms.append((time.perf_counter() - start - calls.accounting_seconds) * 1000)
            total += calls.calls
            write_units += calls.write_units
            read_units += calls.read_units
            sequential += calls.on_caller + (1 if calls.elsewhere else 0)
            before_ack += calls.before_post_to(writer.connection)
            for invocation in [i for i in s.fake.invocations if "compactor" in i.function]:
                s.fake.invocations.remove(invocation)
                with count_aws_calls(capacity=True) as compaction:
                    start = time.perf_counter()
                    s.stack.invoke("compactor", invocation.payload)
                    compactor_s += time.perf_counter() - start - compaction.accounting_seconds
                total += compaction.calls
                write_units += compaction.write_units
                read_units += compaction.read_units
    per = 1 / EDITS
    return EditCosts(
        edits=EDITS,
        room=ROOM,
        handler_ms=figure(handler_ms).median,
        compactor_ms=compactor_s * 1000 * per,
        dynamodb_reads=sum(n for k, n in total.items() if k.split(".")[1] in READS and k.startswith("dynamodb")) * per,
        dynamodb_writes=sum(n for k, n in total.items() if k.split(".")[1] in WRITES and k.startswith("dynamodb"))
        * per,
        s3=sum(n for k, n in total.items() if k.startswith("s3.")) * per,
        posts=sum(n for k, n in total.items() if k.startswith("apigatewaymanagementapi.")) * per,
        lambda_invokes=sum(n for k, n in total.items() if k.startswith("lambda.")) * per,
        sequential=sequential * per,
        before_ack=before_ack * per,
        by_operation=total,
        write_units=write_units,
        read_units=read_units,
    )


def _as_operation(op: ClientOp) -> dict[str, object]:
    if op.type == "insert":
        return {"type": "insert", "position": op.position, "content": op.content}
    return {"type": "delete", "position": op.position, "length": op.length}


def run() -> list[Result]:
    c = measure()
    ops = ", ".join(f"{k} {n / c.edits:.3f}" for k, n in sorted(c.by_operation.items()) if n)
    return [
        Result(CASE, f"DynamoDB reads per edit (room of {c.room}, {c.edits:,} edits)", f"{c.dynamodb_reads:.3f}"),
        Result(CASE, "DynamoDB writes per edit", f"{c.dynamodb_writes:.3f}", "snapshot expiry marks included"),
        Result(
            CASE,
            "DynamoDB write units per edit, index copies included",
            f"{sum(c.write_units.values()) / c.edits:.2f}",
            ", ".join(f"{k} {n / c.edits:.2f}" for k, n in sorted(c.write_units.items())) + "; billed as on-demand "
            "DynamoDB would (bench/capacity.py)",
        ),
        Result(
            CASE, "DynamoDB read units per edit", f"{c.read_units / c.edits:.2f}", "strongly consistent reads, per 4 KB"
        ),
        Result(CASE, "S3 requests per edit", f"{c.s3:.3f}", "snapshot writes and listings, amortized"),
        Result(CASE, "posts per edit", f"{c.posts:.3f}", f"the ack plus one per other session ({c.room - 1})"),
        Result(CASE, "Lambda invocations per edit", f"{c.lambda_invokes:.3f}", "the compactor, every SnapshotEvery"),
        Result(
            CASE,
            "requests one after another on the critical path",
            f"{c.sequential:.2f}",
            "each a network round trip on AWS; a concurrent fan-out counts once",
        ),
        Result(
            CASE,
            "requests before the author's ack, one after another",
            f"{c.before_ack:.2f}",
            "what the author waits for: reading its session and the log write; the room is told once the ack is out",
        ),
        Result(CASE, "by operation, per edit", ops),
    ]
