"""Case 10: comments. What anchoring comments in the CRDT costs: ``document:join`` of a 100k-character
document with a long history carrying 0, 100 and 1,000 comments (each resolved where its text is
now), and ``comment:add`` beside ``operation:edit`` on the same document, through the real gateway
handler on moto."""

from __future__ import annotations

import time

from bench.harness import Result, figure
from bench.join import _history
from bench.stack import BenchStack, Writer

CASE = "10. Comments"
SIZE = 100_000
COUNTS = (0, 100, 1_000)
RUNS = 5


def _join_ms(s: BenchStack, connection: str, prd_id: str) -> float:
    start = time.perf_counter()
    joined = s.call(connection, "document:join", {"prdId": prd_id, "mode": "edit"})
    assert joined["ok"], joined
    return (time.perf_counter() - start) * 1000


def run() -> list[Result]:
    results: list[Result] = []
    with BenchStack(env={"COMMENTS_PER_PRD": "2000", "COMMENT_RATE_LIMIT": "100000/60"}) as s:
        owner = s.client("owner")
        prd_id = s.call(owner, "document:create", {"title": "Comments", "content": ""})["prdId"]
        s.call(owner, "document:share", {"prdId": prd_id, "userId": "reader", "role": "editor"})
        _history(s, prd_id, SIZE)
        reader = Writer(s, "reader", prd_id)
        lines = s.functions("gateway").services.editor.load(prd_id).document.content.split("\n")
        base: float | None = None
        added = 0
        add_ms: list[float] = []
        for count in COUNTS:
            while added < count:
                line = added % len(lines)
                start = time.perf_counter()
                selection = {"start": {"line": line, "ch": 0}, "end": {"line": line, "ch": min(10, len(lines[line]))}}
                ack = s.call(reader.connection, "comment:add", {
                    "prdId": prd_id, "content": f"comment {added}", "position": {"line": line, "ch": 0},
                    "selection": selection,
                })  # fmt: skip
                add_ms.append((time.perf_counter() - start) * 1000)
                assert ack["ok"], ack
                added += 1
            join = figure([_join_ms(s, reader.connection, prd_id) for _ in range(RUNS)])
            base = base or join.median
            results.append(Result(
                CASE, f"document:join, {SIZE:,} characters, {count:,} comments", join.show("ms", 1),
                f"ratio to no comments {join.median / base:.2f}",
            ))  # fmt: skip
        edits = figure([_edit_ms(reader) for _ in range(50)])
        adds = figure(add_ms[-50:])
        results.append(Result(
            CASE, "comment:add (with a selection), 1,000 comments there", adds.show("ms", 1),
            f"operation:edit on the same document {edits.show('ms', 1)}; ratio {adds.median / edits.median:.1f}",
        ))  # fmt: skip
    return results


def _edit_ms(writer: Writer) -> float:
    start = time.perf_counter()
    writer.edit({"type": "insert", "position": 0, "content": "x"})
    return (time.perf_counter() - start) * 1000
