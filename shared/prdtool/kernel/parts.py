"""Replies too large for one WebSocket frame: fetched by URL, or sent in parts.

API Gateway refuses a post over 128 KB, and a PRD may be 2 MB. A reply whose text fields would
exceed the budget goes out as its head, those fields set to null, plus either

- ``contentUrl`` (and ``contentUrlExpiresAt``): where the client GETs them, as one JSON object,
  when the caller can publish them (``prdtool.engine.downloads``): one request whatever the size;
- or ``parts``, then ``document:part`` events carrying consecutive slices of each field, which a
  client joins in order (a client that asked for parts, or a stack without a bucket).

Small replies are sent whole, as the spec shows them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prdtool.kernel.socket_app import Caller

__all__ = ["FRAME_BUDGET", "LARGE_FIELDS", "Publish", "fits", "fitting", "send_large", "split"]

# Under API Gateway's 128 KB per post, with room for the Socket.IO framing around the payload.
FRAME_BUDGET = 100_000
# Worst case, one character costs 6 bytes of JSON (a \\u escape): slices stay under the budget.
_CHARS_PER_PART = FRAME_BUDGET // 6
# What a large document reply leaves out of its head.
LARGE_FIELDS = ("currentContent", "state")
# Stores a reply's large fields where the client can fetch them: (URL, expiry in ms since the epoch).
Publish = Callable[[dict[str, Any]], tuple[str, int]]


def fits(payload: dict[str, Any]) -> bool:
    """Whether ``payload`` goes in one frame."""
    return len(json.dumps(payload, ensure_ascii=False).encode()) <= FRAME_BUDGET


def split(payload: dict[str, Any], fields: tuple[str, ...]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(head, parts)``: the payload itself and no parts when it fits the budget."""
    if fits(payload):
        return payload, []
    big = {name: payload.get(name) or "" for name in fields}
    count = max(1, max(-(-len(text) // _CHARS_PER_PART) for text in big.values()))
    head = {**payload, **{name: None for name in fields}, "parts": count}
    parts = [
        {
            "prdId": payload.get("prdId"),
            "seq": payload.get("seq"),
            "part": i,
            "parts": count,
            **{name: text[i * _CHARS_PER_PART : (i + 1) * _CHARS_PER_PART] for name, text in big.items()},
        }
        for i in range(count)
    ]
    return head, parts


def fitting(items: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """The first of ``items`` whose JSON fits ``budget`` bytes together (at least one): a page of a
    listing that must go in one frame."""
    kept: list[dict[str, Any]] = []
    used = 0
    for item in items:
        used += len(json.dumps(item, ensure_ascii=False).encode()) + 1
        if kept and used > budget:
            break
        kept.append(item)
    return kept


def send_large(caller: Caller, event: str, payload: dict[str, Any], publish: Publish | None = None) -> dict[str, Any]:
    """Emit ``event``. When it is too large for a frame, its content and state are published
    (``publish``) and the head carries their URL; without ``publish`` they follow as
    ``document:part`` events. Returns what the ack carries (the head, when it is too large)."""
    if publish is not None and not fits(payload):
        url, expires_at = publish({name: payload.get(name) for name in LARGE_FIELDS})
        head = {**payload, **dict.fromkeys(LARGE_FIELDS), "contentUrl": url, "contentUrlExpiresAt": expires_at}
        caller.emit(event, head)
        return head
    head, parts = split(payload, LARGE_FIELDS)
    caller.emit(event, head)
    for part in parts:
        caller.emit("document:part", part)
    return head
