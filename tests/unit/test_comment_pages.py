"""Pages of comment threads: each fits one WebSocket post, and together they are every thread and
every reply exactly once, in order, however the threads and replies are sized."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from prdtool.engine.comment_threads import CursorGone, page_of


def _threads(rng: random.Random, count: int) -> list[dict[str, Any]]:
    def comment(cid: str) -> dict[str, Any]:
        return {"commentId": cid, "content": "é" * rng.choice([10, 2_000, 10_000])}

    return [
        {**comment(f"t{t}"), "replies": [comment(f"t{t}r{r}") for r in range(rng.choice([0, 1, 3, 12]))]}
        for t in range(count)
    ]


def _all_pages(threads: list[dict[str, Any]], budget: int) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        page, cursor = page_of(threads, cursor, budget)
        pages.append(page)
        if cursor is None:
            return pages


@pytest.mark.parametrize("seed", range(8))
def test_pages_hold_every_thread_and_reply_once_in_order_within_the_budget(seed: int) -> None:
    rng = random.Random(seed)
    threads = _threads(rng, 30)
    budget = 90_000
    seen_roots, seen_replies = [], []
    for page in _all_pages(threads, budget):
        assert page
        one_comment = max(len(json.dumps(c, ensure_ascii=False).encode()) for t in page for c in [t, *t["replies"]])
        assert len(json.dumps(page, ensure_ascii=False).encode()) <= max(budget, 2 * one_comment + 200)
        for thread in page:
            if not thread.get("continued"):
                seen_roots.append(thread["commentId"])
            seen_replies += [r["commentId"] for r in thread["replies"]]
    assert seen_roots == [t["commentId"] for t in threads]
    assert seen_replies == [r["commentId"] for t in threads for r in t["replies"]]


def test_a_thread_larger_than_a_page_continues_on_the_next() -> None:
    thread = {
        "commentId": "root",
        "content": "x",
        "replies": [{"commentId": f"r{n}", "content": "y" * 40_000} for n in range(5)],
    }
    first, cursor = page_of([thread], None)
    second, cursor2 = page_of([thread], cursor)
    assert [r["commentId"] for r in first[0]["replies"]] == ["r0", "r1"] and "continued" not in first[0]
    assert second[0]["continued"] is True and second[0]["replies"][0]["commentId"] == "r2"
    assert cursor2 is not None


def test_a_small_list_is_one_page() -> None:
    threads = [{"commentId": "a", "replies": []}, {"commentId": "b", "replies": [{"commentId": "c"}]}]
    assert page_of(threads, None) == (threads, None)


def test_a_cursor_of_a_thread_gone_or_not_ours_is_refused() -> None:
    threads = [{"commentId": f"t{n}", "content": "z" * 50_000, "replies": []} for n in range(3)]
    _, cursor = page_of(threads, None)
    assert cursor is not None
    with pytest.raises(CursorGone):
        page_of([t for t in threads if t["commentId"] != "t1"], cursor)
    with pytest.raises(ValueError, match="not a cursor"):
        page_of(threads, "bm9wZQ==")
