"""Case 11: versions. What the git history costs on a 100k-character document with a long history:
``version:create``, ``get``, ``diff``, ``list`` and ``restore`` and an approval round, beside
``operation:edit`` on the same document, through the real gateway handler on moto; the gateway
invokes the versions function (pygit2, its objects in S3) for its answer, as deployed."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from bench.harness import Result, count_aws_calls, figure
from bench.join import _history
from bench.stack import BenchStack, Writer

CASE = "11. Versions"
SIZE = 100_000
PRIOR = 10  # versions made before any is measured, each after an edit
RUNS = 7
EDITS = 20
TEXT = "The system shall keep every keystroke of every author. " * 2


def _line(n: int) -> str:
    """Requirement ``n``: a line of ``SIZE // 1,000`` characters, each one different."""
    return f"R{n}. {TEXT}"[: SIZE // 1_000 - 1] + "\n"


def _timed(s: BenchStack, connection: str, event: str, data: dict[str, Any]) -> tuple[float, Counter[str], Any]:
    """Milliseconds for one event with its ack, the S3 requests made meanwhile (by operation; the
    versions function's among them), and the ack."""
    s.stack.clock.advance(1)  # a restore's op id has the time in it: one a second, like a person
    with count_aws_calls() as calls:
        start = time.perf_counter()
        ack = s.call(connection, event, data)
        spent = (time.perf_counter() - start) * 1000
    assert ack["ok"], ack
    return spent, Counter({k.removeprefix("s3."): n for k, n in calls.calls.items() if k.startswith("s3.")}), ack


def _edit_ms(writer: Writer) -> float:
    start = time.perf_counter()
    writer.edit({"type": "insert", "position": SIZE // 2, "content": "x"})
    return (time.perf_counter() - start) * 1000


def run() -> list[Result]:
    rows: dict[str, list[tuple[float, Counter[str]]]] = {}  # what -> (ms, S3 requests) of each run
    with BenchStack(env={"VERSION_RATE_LIMIT": "100000/3600"}) as s:
        owner = s.client("owner")
        prd_id = s.call(owner, "document:create", {"title": "Versions", "content": ""})["prdId"]
        s.call(owner, "document:share", {"prdId": prd_id, "userId": "reader", "role": "editor"})
        s.call(owner, "document:share", {"prdId": prd_id, "userId": "approver", "role": "viewer"})
        # In lines of 100 characters, as a PRD is written: diffs and restores compare lines, then
        # the characters of the changed ones, and one 100k-character line would be one block.
        _history(s, prd_id, SIZE, _line)
        writer = Writer(s, "reader", prd_id)
        approver = s.client("approver")

        def timed(what: str, event: str, **fields: Any) -> Any:
            spent, s3, ack = _timed(s, writer.connection, event, {"prdId": prd_id, **fields})
            rows.setdefault(what, []).append((spent, s3))
            return ack

        def create(what: str, changelog: str, bump: str = "patch") -> str:
            return str(timed(what, "version:create", changelog=changelog, bump=bump)["version"])

        for n in range(PRIOR):  # some history first, each version after an edit
            writer.edit({"type": "insert", "position": n * 1_000, "content": f"Requirement {n}. "})
            create("setup", f"draft {n}")
        old = create("setup", "before the review", "minor")
        for n in range(EDITS):  # what the review changed, all through the document
            writer.edit({"type": "insert", "position": n * (SIZE // EDITS), "content": f"Reviewed {n}.\n"})
        new = create("setup", "after the review", "minor")
        del rows["setup"]

        edits = figure([_edit_ms(writer) for _ in range(EDITS)])
        labels: list[str] = []
        for n in range(RUNS):  # each after an edit, as people make them
            writer.edit({"type": "insert", "position": SIZE // 3, "content": f"Typed {n}. "})
            labels.append(create("version:create (bump patch), after an edit", f"measured {n}"))
        for _ in range(RUNS):
            timed(f"version:get of the latest ({SIZE:,} characters)", "version:get", version=labels[-1])
            timed(f"version:diff {old} to {new} ({EDITS} edits apart)", "version:diff", **{"from": old, "to": new})
            timed(f"version:diff {old} to the live text", "version:diff", **{"from": old})
            timed(f"version:list ({PRIOR + 2 + RUNS} versions, the first page)", "version:list")
        rounds = rows.setdefault("approval:request + approval:grant (one approver)", [])
        for label in labels:  # one round per measured version: an approved one is never asked again
            ask = {"prdId": prd_id, "version": label, "approvers": ["approver"], "message": "Please review"}
            asked_ms, asked_s3, asked = _timed(s, writer.connection, "approval:request", ask)
            granted_ms, granted_s3, granted = _timed(s, approver, "approval:grant", {"approvalId": asked["approvalId"]})
            assert granted["status"] == "approved", granted
            rounds.append((asked_ms + granted_ms, asked_s3 + granted_s3))
        for n in range(RUNS):  # between the two, so each one changes the text
            back_to = (new, old)[n % 2]
            restored = timed(f"version:restore, alternately {new} and {old}", "version:restore", version=back_to)
            assert restored["changes"], restored

    results = [Result(CASE, "operation:edit (one character)", edits.show("ms", 1), f"{SIZE:,} characters")]
    for what, runs in rows.items():
        ms = figure([spent for spent, _ in runs])
        s3 = figure([float(sum(c.values())) for _, c in runs])
        each = ", ".join(f"{op} {n / len(runs):g}" for op, n in sorted(sum((c for _, c in runs), Counter()).items()))
        results.append(Result(
            CASE, what, ms.show("ms", 1),
            f"ratio to operation:edit {ms.median / edits.median:.1f}; S3 requests {s3.show('', 0).strip()}"
            + (f" ({each})" if each else ""),
        ))  # fmt: skip
    return results
