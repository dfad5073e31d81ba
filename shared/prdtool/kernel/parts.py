"""Replies too large for one WebSocket frame, sent in parts.

API Gateway refuses a post over 128 KB, and a PRD may be 2 MB. A reply whose text fields would
exceed the budget goes out as its head (those fields set to null, plus ``parts``), then as
``document:part`` events carrying consecutive slices of each field; a client joins the slices in
order. Small replies are sent whole, as the spec shows them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prdtool.kernel.socket_app import Caller

__all__ = ["FRAME_BUDGET", "fitting", "send_in_parts", "split"]

# Under API Gateway's 128 KB per post, with room for the Socket.IO framing around the payload.
FRAME_BUDGET = 100_000
# Worst case, one character costs 6 bytes of JSON (a \\u escape): slices stay under the budget.
_CHARS_PER_PART = FRAME_BUDGET // 6


def split(payload: dict[str, Any], fields: tuple[str, ...]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(head, parts)``: the payload itself and no parts when it fits the budget."""
    if len(json.dumps(payload, ensure_ascii=False).encode()) <= FRAME_BUDGET:
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


def send_in_parts(caller: Caller, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Emit ``event``; a large document's content and state follow as ``document:part`` events.
    Returns what the ack carries (the head, when in parts)."""
    head, parts = split(payload, ("currentContent", "state"))
    caller.emit(event, head)
    for part in parts:
        caller.emit("document:part", part)
    return head
