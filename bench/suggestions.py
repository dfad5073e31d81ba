"""Case 12: suggestions. What reviewing a PRD as people write it costs: the AWS requests an edit
pays for its review's debounce (the nudge), with reviews on and off, and a review itself (the
built-in rules, no model) beside an edit, on a 100k-character PRD, through the real gateway and
AI worker handlers on moto. The review state machine is played as it runs: each look when the
wait it asked for has passed on the stack's clock."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3

from bench.harness import Result, count_aws_calls, figure
from bench.join import _history
from bench.stack import BenchStack, Writer
from prdtool.features.ai.review import review_document

CASE = "12. Suggestions"
SIZE = 100_000
EDITS = 600  # 30 s of typing at 20 edits a second
RUNS = 7
MACHINE = "bench-ai-review"
ARN = f"arn:aws:states:us-east-1:123456789012:stateMachine:{MACHINE}"
DEMO = (Path(__file__).resolve().parents[1] / "local" / "prdtool_local" / "demo" / "prd_123.md").read_text()


def _prd() -> str:
    """A PRD of ``SIZE`` characters: the demo PRD's sections, again and again, numbered."""
    parts, n = [], 0
    while sum(map(len, parts)) < SIZE:
        n += 1
        parts.append(DEMO.replace("# ", f"# {n}. ", 1) + "\n")
    return "".join(parts)[:SIZE]


def _typing(s: BenchStack, reviews: bool) -> tuple[Counter[str], list[float], list[tuple[float, Counter[str]]]]:
    """Type ``EDITS`` characters into a fresh PRD; the gateway's AWS requests during the edits, each
    edit's ms, and each review's (ms, AWS requests) when reviews are on."""
    owner = s.client("owner")
    prd_id = s.call(owner, "document:create", {"title": "Reviews", "content": ""})["prdId"]
    text = _prd()
    _history(s, prd_id, SIZE, lambda n: text[(n - 1) * (SIZE // 1_000) : n * (SIZE // 1_000)])
    writer = Writer(s, "owner", prd_id)
    states = boto3.client("stepfunctions")
    looks: dict[str, dict[str, Any]] = {}  # holder -> {due: ms, looks: n}
    edit_calls: Counter[str] = Counter()
    edit_ms: list[float] = []
    review_runs: list[tuple[float, Counter[str]]] = []

    def play_looks() -> None:
        for e in states.list_executions(stateMachineArn=ARN)["executions"] if reviews else []:
            task = json.loads(states.describe_execution(executionArn=e["executionArn"])["input"])
            looks.setdefault(task["holder"], {"due": s.stack.clock() + task["wait"] * 1000, "looks": 0, "done": False})
        for holder, look in looks.items():
            if look["done"] or s.stack.clock() < look["due"]:
                continue
            step = {"step": "review", "prdId": prd_id, "holder": holder, "looks": look["looks"]}
            result = s.stack.invoke("ai_worker", step)
            look.update(due=s.stack.clock() + result["wait"] * 1000, looks=result["looks"], done=result["done"])

    for n in range(EDITS):
        with count_aws_calls() as calls:
            start = time.perf_counter()
            writer.edit({"type": "insert", "position": SIZE // 2 + n, "content": "x"})
            edit_ms.append((time.perf_counter() - start) * 1000)
        edit_calls.update(calls.calls)
        play_looks()
    s.stack.clock.advance(10)  # then quiet: the last review, and the lease let go
    for _ in range(4):
        play_looks()
        s.stack.clock.advance(3)
    if reviews:  # a review alone, as a look runs it: the rules, the suggestions kept, the posts
        worker = s.stack.functions["ai_worker"]
        for _ in range(RUNS):
            loaded = worker.services.editor.load(prd_id)
            with count_aws_calls() as calls:
                start = time.perf_counter()
                done = worker.services.reviews.state(prd_id).reviewed_seq
                review_document(worker.services, worker.provider, loaded, s.stack.clock(), done)
                review_runs.append(((time.perf_counter() - start) * 1000, calls.calls))
    return edit_calls, edit_ms, review_runs


def run() -> list[Result]:
    with BenchStack() as s:
        off, off_ms, _ = _typing(s, reviews=False)
    with BenchStack(env={"AI_REVIEW_STATE_MACHINE_ARN": ARN, "AI_REVIEW_DEBOUNCE_S": "3"}) as s:
        definition = (Path(__file__).resolve().parents[1] / "statemachines" / "ai_review.asl.json").read_text()
        worker = "arn:aws:lambda:us-east-1:123456789012:function:worker"
        boto3.client("stepfunctions").create_state_machine(
            name=MACHINE,
            definition=definition.replace("${AiWorkerFunctionArn}", worker),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )
        on, on_ms, reviewed = _typing(s, reviews=True)
    nudges = {k: v for k, v in on.items() if k.startswith("stepfunctions.") or on[k] != off.get(k, 0)}
    extra = sum(on.values()) - sum(off.values())
    edit = figure(on_ms)
    review = figure([ms for ms, _ in reviewed]) if reviewed else None
    review_calls = sum((c for _, c in reviewed), Counter())
    rows = [
        Result(CASE, f"AWS requests per edit, reviews off ({EDITS} edits at 20 a second)",
               f"{sum(off.values()) / EDITS:.2f}", f"edit {figure(off_ms).show('ms', 1)}"),
        Result(CASE, "AWS requests per edit, reviews on (debounce 3 s)", f"{sum(on.values()) / EDITS:.2f}",
               f"{extra / EDITS:+.3f} for the reviews' debounce: "
               + ", ".join(f"{k} {v - off.get(k, 0):+d}" for k, v in sorted(nudges.items()))),
    ]  # fmt: skip
    if review is not None:
        per_review = ", ".join(f"{k} {v / len(reviewed):g}" for k, v in sorted(review_calls.items()))
        rows.append(Result(
            CASE, f"a review by the rules ({SIZE:,} characters), in the AI worker", review.show("ms", 1),
            f"ratio to operation:edit ({edit.median:.1f} ms) {review.median / edit.median:.1f}; "
            f"requests per review: {per_review}",
        ))  # fmt: skip
    return rows
