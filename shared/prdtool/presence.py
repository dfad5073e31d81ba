"""Presence, as pure functions: colors, and cursors that move with the text.

A cursor is stored as a code point index in the text as of a seq, and moved through the ops
applied since (which the log records, positions as applied): an insert before it, or at it, moves
it right (it sticks to the character after it); a delete before it moves it left, and one around it
puts it at the deletion point. pycrdt's StickyIndex would do this inside the CRDT, but in pycrdt
0.14 it mixes UTF-8 and UTF-16 offsets on non-ASCII text (see the issue note), so the log does it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from prdtool.crdt import AppliedOp

__all__ = ["PALETTE", "pick_color", "transform"]

PALETTE = (
    "#8B5CF6", "#EF4444", "#10B981", "#F59E0B", "#3B82F6", "#EC4899",
    "#14B8A6", "#F97316", "#6366F1", "#84CC16", "#06B6D4", "#A855F7",
)  # fmt: skip


def pick_color(prd_id: str, user_id: str, taken: Iterable[str]) -> str:
    """The user's color in a document: the same each time while it is free, else the next free one
    (once the palette is used up, colors repeat)."""
    start = int.from_bytes(hashlib.blake2b(f"{prd_id}\0{user_id}".encode(), digest_size=2).digest(), "big")
    used = set(taken)
    for step in range(len(PALETTE)):
        color = PALETTE[(start + step) % len(PALETTE)]
        if color not in used:
            return color
    return PALETTE[start % len(PALETTE)]


def transform(index: int, ops: Iterable[AppliedOp]) -> int:
    """Where a cursor at ``index`` (code points) is after ``ops`` were applied, in order."""
    for op in ops:
        if op.type == "insert" and op.position32 <= index:
            index += op.length32
        elif op.type == "delete" and op.position32 < index:
            index = max(op.position32, index - op.length32)
    return index
