"""Anchors: places in the text carried through the edits made after them, as pure functions.

The one way a position moves with the text. Short-lived places (presence cursors and selections,
conflict regions) are carried through the log; long-lived ones (comments) are Yjs relative
positions inside the CRDT (``anchors_at`` below), which outlive any log.

A cursor is stored as a code point index in the text as of a seq, and moved through the ops
applied since (which the log records, positions as applied): an insert before it, or at it, moves
it right (it sticks to the character after it); a delete before it moves it left, and one around it
puts it at the deletion point.

Spans carry whole stretches (``spans_after``), and tell when two concurrent edits meet: two ops
conflict when one was made without seeing the other and both touch the same place: their
effects, carried to the text after both, overlap or meet (inserts at the same position,
overlapping deletes or formats, an insert inside a range the other deleted). Edits elsewhere are
not conflicts, however concurrent.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pycrdt import Assoc, Decoder, StickyIndex

from prdtool.engine.crdt import TEXT_NAME, AppliedOp, Document
from prdtool.engine.positions import byte_offset
from prdtool.kernel.errors import INTERPRETER_EXITS

__all__ = [
    "Span",
    "anchors_at",
    "indexes_of_anchors",
    "overlaps",
    "spans_after",
    "text_after",
    "touched",
    "transform",
]


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


# ---------------------------------------------------------------- anchors inside the CRDT
#
# A comment's place is a Yjs relative position (pycrdt's StickyIndex): the id of the character it
# sits before, so it follows that character through every later edit, from any client, however
# long ago the log was compacted. A place at the very end of the text is the text's own end.
#
# pycrdt 0.14 converts an index to a character id inside a block of text wrongly when the block
# holds multi-byte characters before the place (it counts UTF-8 bytes as Yjs clock units, both
# ways; y-crdt/pycrdt#382). Both directions are made exact by working on a throwaway replica in
# which the character in question starts its block: there the conversion has nothing to count.

_END_OF_TEXT = {"tname": TEXT_NAME, "assoc": 0}
# The Yjs client id of the throwaway replica's own marks: above any id a real client uses
# (client_id_for gives 32-bit ids; Yjs draws 32-bit ones too), within JavaScript's safe integers.
_MARKER_CLIENT = 2**52 + 11
_MARK = "\x01"  # one byte in UTF-8, one clock unit in Yjs


def anchors_at(document: Document, indexes: Sequence[int]) -> list[bytes]:
    """Relative positions (encoded, Yjs-compatible) of code point ``indexes`` in ``document``:
    each sticks to the character at it, or, at the end of the text, to the end."""
    text = document.content
    replica = Document.from_updates([document.state()])
    found: dict[int, bytes] = {}
    # Highest first, so a mark put in for one place never shifts a lower one.
    for index in sorted(set(indexes), reverse=True):
        if index >= len(text):
            found[index] = StickyIndex.from_json(_END_OF_TEXT, replica.text).encode()
            continue
        at = byte_offset(text, index)
        replica.text.insert(at, _MARK)  # splits the block: the character now starts one
        found[index] = replica.text.sticky_index(at + len(_MARK), Assoc.AFTER).encode()
    return [found[i] for i in indexes]


def indexes_of_anchors(document: Document, anchors: Sequence[bytes]) -> list[int | None]:
    """Where each anchor is now, as a code point index into ``document``'s text; None for one that
    names a character this document has never had (it is not its anchor)."""
    if not anchors:
        return []
    replica = Document.from_updates([document.state()], client_id=_MARKER_CLIENT)
    ids: list[tuple[int, int] | None] = []
    for anchor in anchors:
        item = StickyIndex.decode(anchor, replica.text).to_json().get("item")
        ids.append((int(item["client"]), int(item["clock"])) if item else None)
    # Only characters this document has (its state vector counts them): a mark after an unknown
    # one would wait for it (pending), and so would every later mark of the run.
    seen = _state_vector(replica.doc.get_state())
    known = [i is None or i[1] < seen.get(i[0], 0) for i in ids]
    targets = sorted({i for i, ok in zip(ids, known, strict=True) if i is not None and ok})
    replica.doc.apply_update(_marks_before(targets))
    marks = sorted(
        _resolve({"item": {"client": _MARKER_CLIENT, "clock": k}, "assoc": 0}, replica) or 0
        for k in range(len(targets))
    )
    byte_positions: list[int | None] = []
    for anchor, ok in zip(anchors, known, strict=True):
        resolved = _resolve(StickyIndex.decode(anchor, replica.text).to_json(), replica) if ok else None
        byte_positions.append(None if resolved is None else resolved - bisect.bisect_left(marks, resolved))
    return _code_points(document.content, byte_positions)


def _resolve(anchor: dict[str, object], replica: Document) -> int | None:
    try:
        return int(StickyIndex.from_json(anchor, replica.text).get_index())
    except BaseException as exc:  # an unknown character: pycrdt panics (a BaseException)
        if isinstance(exc, INTERPRETER_EXITS):
            raise
        return None


def _state_vector(state: bytes) -> dict[int, int]:
    """A Yjs state vector (lib0: a count, then client and clock pairs) as {client: clock}."""
    decoder = Decoder(state)
    pairs = (decoder.read_var_uint() for _ in range(2 * decoder.read_var_uint()))
    return dict(zip(pairs, pairs, strict=True))


def _marks_before(targets: Sequence[tuple[int, int]]) -> bytes:
    """A Yjs update (v1) inserting one mark right before each target character, by the marker
    client: origin the character's left neighbour id, right origin the character itself, so it
    lands between them and splits their block, wherever the block is."""
    out = bytearray(_uint(1 if targets else 0))
    if targets:
        out += _uint(len(targets)) + _uint(_MARKER_CLIENT) + _uint(0)
        for client, clock in targets:
            if clock > 0:  # 0x80: has origin, 0x40: has right origin, 4: string content
                out += bytes([0xC4]) + _uint(client) + _uint(clock - 1) + _uint(client) + _uint(clock)
            else:
                out += bytes([0x44]) + _uint(client) + _uint(clock)
            out += _uint(len(_MARK.encode())) + _MARK.encode()
    out += _uint(0)  # no deletions
    return bytes(out)


def _uint(n: int) -> bytes:
    """lib0's variable-length unsigned integer."""
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _code_points(text: str, offsets: Sequence[int | None]) -> list[int | None]:
    """UTF-8 byte offsets into ``text`` as code point indexes, in one pass over the text."""
    data = text.encode("utf-8")
    order = sorted((o, i) for i, o in enumerate(offsets) if o is not None)
    out: list[int | None] = [None] * len(offsets)
    done_bytes = done_points = 0
    for offset, i in order:
        offset = min(offset, len(data))
        done_points += len(data[done_bytes:offset].decode("utf-8", errors="replace"))
        done_bytes = offset
        out[i] = done_points
    return out
