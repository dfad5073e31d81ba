"""Anchors: places in the text carried through the edits made after them, as pure functions.

The one way a position moves with the text, for presence cursors and selections, conflict regions
and, later, comment anchors. A cursor is stored as a code point index in the text as of a seq, and moved through the ops
applied since (which the log records, positions as applied): an insert before it, or at it, moves
it right (it sticks to the character after it); a delete before it moves it left, and one around it
puts it at the deletion point. pycrdt's StickyIndex would do this inside the CRDT, but in pycrdt
0.14 it mixes UTF-8 and UTF-16 offsets on non-ASCII text (see the issue note), so the log does it.

Spans carry whole stretches (``spans_after``), and tell when two concurrent edits meet: two ops
conflict when one was made without seeing the other and both touch the same place: their
effects, carried to the text after both, overlap or meet (inserts at the same position,
overlapping deletes or formats, an insert inside a range the other deleted). Edits elsewhere are
not conflicts, however concurrent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prdtool.engine.crdt import AppliedOp

__all__ = ["Span", "overlaps", "spans_after", "text_after", "touched", "transform"]


def transform(index: int, ops: Iterable[AppliedOp]) -> int:
    """Where a cursor at ``index`` (code points) is after ``ops`` were applied, in order."""
    for op in ops:
        if op.type == "insert" and op.position32 <= index:
            index += op.length32
        elif op.type == "delete" and op.position32 < index:
            index = max(op.position32, index - op.length32)
    return index


@dataclass(frozen=True)
class Span:
    """A stretch of the text in code points, ``[start, end]``; a point when they are equal."""

    start: int
    end: int

    def meets(self, other: Span) -> bool:
        return self.start <= other.end and other.start <= self.end


def touched(ops: Sequence[AppliedOp]) -> list[Span]:
    """What an entry's ops touched, in the text right after the entry."""
    spans: list[Span] = []
    for i, op in enumerate(ops):
        span = Span(op.position32, op.position32 + (op.length32 if op.type != "delete" else 0))
        later = ops[i + 1 :]  # an entry's ops are sequential: carry each through the ones after it
        spans.append(Span(_carry(span.start, later, left=True), _carry(span.end, later, left=False)))
    return spans


def spans_after(spans: Iterable[Span], later_ops: Sequence[AppliedOp]) -> list[Span]:
    """Spans carried through the ops applied after them."""
    return [Span(_carry(s.start, later_ops, left=True), _carry(s.end, later_ops, left=False)) for s in spans]


def text_after(span: Span, later_ops: Sequence[AppliedOp]) -> Span:
    """Where the text that occupied ``span`` is after the later ops. Unlike ``spans_after`` (whose
    spans grow to cover text inserted at their edges), an insert at its start lands before it."""
    start, end = span.start, span.end
    for op in later_ops:
        if op.type == "insert":
            if op.position32 <= start:
                start, end = start + op.length32, end + op.length32
            elif op.position32 < end:
                end += op.length32
        elif op.type == "delete":
            start, end = _deleted(start, op), _deleted(end, op)
    return Span(start, end)


def _deleted(index: int, op: AppliedOp) -> int:
    if index <= op.position32:
        return index
    return max(op.position32, index - op.length32)


def overlaps(a: Iterable[Span], b: Iterable[Span]) -> bool:
    b = list(b)
    return any(x.meets(y) for x in a for y in b)


def _carry(index: int, ops: Sequence[AppliedOp], left: bool) -> int:
    # A span's start stays left of text inserted at it; its end moves right with it.
    if not left:
        return transform(index, ops)
    for op in ops:
        if op.type == "insert" and op.position32 < index:
            index += op.length32
        elif op.type == "delete" and op.position32 < index:
            index = max(op.position32, index - op.length32)
    return index
