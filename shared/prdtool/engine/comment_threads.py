"""Comments as clients see them: each where its text is now, threads in document order.

Shared by the comments area (its answers and broadcasts) and the documents area
(``document:joined``); the comments themselves are stored with the document
(``prdtool.engine.document_records.Comment``), their anchors resolved by ``prdtool.engine.anchors``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prdtool.engine.anchors import indexes_of_anchors
from prdtool.engine.crdt import Document
from prdtool.engine.document_records import Comment
from prdtool.engine.positions import PositionEncoding, index_to_line_ch

__all__ = ["PAGE_BUDGET", "CursorGone", "Place", "comment_payload", "iso", "page_of", "places_of", "threads_of"]

# Bytes of JSON in one page of threads: a page and its framing stay under API Gateway's 128 KB post
# (one comment is at most ~50 KB: 10,000 characters of content, at most 4 bytes each as no control
# characters are allowed, and a quote cut at 1,000 characters).
PAGE_BUDGET = 90_000


@dataclass(frozen=True)
class Place:
    """Where a comment is now, as code point indexes: its point, and its selection if it has one."""

    at: int
    start: int | None = None
    end: int | None = None

    @property
    def orphaned(self) -> bool:
        return self.start is not None and self.end is not None and self.start >= self.end


def threads_of(
    document: Document, comments: Sequence[Comment], encoding: PositionEncoding, include_resolved: bool
) -> list[dict[str, Any]]:
    """Every thread's root, where its text is now, in document order, each with its ``replies``
    (oldest first)."""
    roots = [c for c in comments if c.parent_id is None and (include_resolved or not c.resolved)]
    wanted = {r.comment_id for r in roots}
    replies = sorted((c for c in comments if c.parent_id is not None and c.thread_id in wanted), key=_made)
    places = places_of(document, roots + replies)
    text = document.content
    by_thread: dict[str, list[dict[str, Any]]] = {}
    for reply in replies:
        by_thread.setdefault(reply.thread_id, []).append(
            comment_payload(reply, places[reply.comment_id], text, encoding)
        )
    roots.sort(key=lambda r: (_start(places[r.comment_id]), r.created_at))
    return [
        {**comment_payload(r, places[r.comment_id], text, encoding), "replies": by_thread.get(r.comment_id, [])}
        for r in roots
    ]


class CursorGone(ValueError):
    """A cursor continuing a thread that is no longer listed (deleted or resolved since)."""


def page_of(
    threads: list[dict[str, Any]], cursor: str | None, budget: int = PAGE_BUDGET
) -> tuple[list[dict[str, Any]], str | None]:
    """The threads from ``cursor`` on that fit ``budget`` bytes, and the cursor of the rest (None:
    no more). A thread too large for what is left is cut between replies; the next page starts
    with its root again, ``continued: true``, and the replies after the cut. A page always holds
    at least one thread (or, continuing one, its root and one reply), so paging always ends."""
    start, skip = 0, 0
    if cursor is not None:
        root_id, skip = _read_cursor(cursor)
        start = next((i for i, t in enumerate(threads) if t["commentId"] == root_id), -1)
        if start < 0:
            raise CursorGone(root_id)
    page: list[dict[str, Any]] = []
    used = 0
    for i in range(start, len(threads)):
        thread = threads[i]
        replies = thread["replies"][skip:] if i == start else thread["replies"]
        head = {**thread, "replies": []}
        if i == start and skip:
            head["continued"] = True
        cost = _size(head)
        if page and used + cost > budget:
            return page, _cursor(thread["commentId"], 0)
        kept: list[dict[str, Any]] = []
        for n, reply in enumerate(replies):
            reply_cost = _size(reply) + 1
            if (page or kept) and used + cost + reply_cost > budget:
                if not kept:  # never a root cut off from all its replies: the next page has it whole
                    return page, _cursor(thread["commentId"], 0)
                page.append({**head, "replies": kept})
                return page, _cursor(thread["commentId"], (skip if i == start else 0) + n)
            kept.append(reply)
            cost += reply_cost
        page.append({**head, "replies": kept})
        used += cost
    return page, None


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


def _cursor(root_id: str, replies_done: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([root_id, replies_done]).encode()).decode()


def _read_cursor(cursor: str) -> tuple[str, int]:
    try:
        root_id, done = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if isinstance(root_id, str) and isinstance(done, int) and done >= 0:
            return root_id, done
    except (ValueError, TypeError):
        pass
    raise ValueError("not a cursor this server gave")


def places_of(document: Document, comments: Sequence[Comment]) -> dict[str, Place]:
    """Where each comment is now (all anchors resolved in one pass over the document)."""
    anchors: list[bytes] = []
    for c in comments:
        anchors.append(c.anchor)
        if c.anchor_start is not None and c.anchor_end is not None:
            anchors += [c.anchor_start, c.anchor_end]
    found = iter(indexes_of_anchors(document, anchors))
    places: dict[str, Place] = {}
    for c in comments:
        at = next(found)
        if c.anchor_start is not None and c.anchor_end is not None:
            start, end = next(found), next(found)
            places[c.comment_id] = Place(at or 0, start or 0, end or 0)
        else:
            places[c.comment_id] = Place(at or 0)
    return places


def comment_payload(comment: Comment, place: Place, text: str, encoding: PositionEncoding) -> dict[str, Any]:
    """A comment as clients see it: the spec's ``comment:added`` fields and our extensions, its
    position and selection where its text is now, in ``encoding``."""

    def where(index: int) -> dict[str, int]:
        line, ch = index_to_line_ch(text, min(index, len(text)), encoding)
        return {"line": line, "ch": ch}

    orphaned = bool(comment.quote) and place.orphaned  # its text is gone (an empty selection never had any)
    selection = None
    if place.start is not None and place.end is not None:
        start = place.start
        selection = {"start": where(start), "end": where(start if orphaned else place.end)}
    payload: dict[str, Any] = {
        "commentId": comment.comment_id,
        "prdId": comment.prd_id,
        "author": {"id": comment.author_id, "name": comment.author_name, "avatar": comment.author_avatar},
        "content": comment.content,
        "position": where(place.start if orphaned and place.start is not None else place.at),
        "selection": selection,
        "mentions": list(comment.mentions or []),
        "createdAt": iso(comment.created_at),
        "parentId": comment.parent_id,
        "threadId": comment.thread_id,
        "resolved": bool(comment.resolved),
        "anchor": "orphaned" if orphaned else "attached",
        "quote": comment.quote,
    }
    if comment.updated_at is not None:
        payload["updatedAt"] = iso(comment.updated_at)
    if comment.deleted:
        payload["deleted"] = True
    return payload


def iso(epoch_ms: float) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _made(comment: Comment) -> float:
    return float(comment.created_at)


def _start(place: Place) -> int:
    return place.start if place.start is not None else place.at
