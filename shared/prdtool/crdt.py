"""The document engine: a PRD is one Yjs ``Y.Text`` named ``content``, held in a pycrdt Doc.

Pure work over bytes and values, no I/O. Client operations arrive in the client's position units
and leave as Yjs updates; updates applied to a document come back as the operations they amount
to, in both position units. Formatting is Yjs text attributes, so any Yjs editor binding can load
the state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pycrdt import Doc, Text

from prdtool.positions import PositionEncoding, byte_offset, from_index, index_of_byte, length, to_index

__all__ = [
    "TEXT_NAME",
    "AppliedOp",
    "ClientOp",
    "Document",
    "EditError",
    "client_id_for",
]

TEXT_NAME = "content"


class EditError(ValueError):
    """An operation that cannot apply to the text it names (a bad range, missing content)."""


@dataclass(frozen=True)
class ClientOp:
    """One operation as a client sends it (the spec's CRDTOperation, without its vector clock)."""

    type: Literal["insert", "delete", "retain", "format"]
    position: int
    length: int | None = None
    content: str | None = None
    attributes: dict[str, Any] | None = None


@dataclass(frozen=True)
class AppliedOp:
    """What an update did to the text, at the position it took effect, in both position units."""

    type: Literal["insert", "delete", "format"]
    position16: int
    length16: int
    position32: int
    length32: int
    content: str | None = None
    attributes: dict[str, Any] | None = None

    def as_client_op(self, encoding: PositionEncoding) -> dict[str, Any]:
        """The spec's CRDTOperation shape (without vectorClock), in the given units."""
        utf16 = encoding == "utf-16"
        op: dict[str, Any] = {"type": self.type, "position": self.position16 if utf16 else self.position32}
        if self.type == "insert":
            op["content"] = self.content
        else:
            op["length"] = self.length16 if utf16 else self.length32
        if self.attributes:
            op["attributes"] = self.attributes
        return op


def client_id_for(prd_id: str, clock_key: str) -> int:
    """The Yjs client id of one clock key in one document: stable, so concurrent inserts at one
    place always order the same way and the state vector grows with editors, not with ops."""
    digest = hashlib.blake2b(f"{prd_id}\0{clock_key}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") or 1


class Document:
    """A loaded document: its Yjs Doc and the Text inside it."""

    def __init__(self, client_id: int | None = None) -> None:
        self.doc = Doc(client_id=client_id) if client_id is not None else Doc()
        self.text: Text = self.doc.get(TEXT_NAME, type=Text)
        # The text as a str, with what identifies the Doc state it was read at (see content).
        self._known: tuple[tuple[bytes, int], str] | None = None

    @classmethod
    def from_updates(cls, updates: Iterable[bytes], client_id: int | None = None) -> Document:
        """Rebuild by applying updates one by one (never ``merge_updates`` over a long log)."""
        document = cls(client_id)
        for update in updates:
            document.doc.apply_update(update)
        return document

    @classmethod
    def with_content(cls, content: str, client_id: int) -> Document:
        document = cls(client_id)
        if content:
            document.text.insert(0, content)
        return document

    @property
    def content(self) -> str:
        """The text. Reading it from pycrdt costs O(length), so it is kept between reads, valid
        while the state vector and the byte length are unchanged: any insert grows the state
        vector, any delete shortens the text (updates applied straight to ``doc`` included)."""
        stamp = self._stamp()
        if self._known is None or self._known[0] != stamp:
            self._known = (stamp, str(self.text))
        return self._known[1]

    def _stamp(self) -> tuple[bytes, int]:
        return self.doc.get_state(), len(self.text)

    def _now_reads(self, text: str) -> None:
        """Record ``text`` as the content of the Doc as it is now (computed, not read)."""
        self._known = (self._stamp(), text)

    def state(self) -> bytes:
        """The whole document as one Yjs update."""
        return self.doc.get_update()

    def state_vector(self) -> bytes:
        return self.doc.get_state()

    def update_since(self, state_vector: bytes) -> bytes:
        return self.doc.get_update(state_vector)

    def edit(self, ops: Sequence[ClientOp], encoding: PositionEncoding) -> bytes:
        """Apply client ops in one transaction; each op's position counts in the text as the
        previous ops left it. Returns the Yjs update. Raises ``EditError`` (and changes nothing)
        when any op does not fit the text."""
        plan, after = _plan(self.content, ops, encoding)
        before = self.state_vector()
        with self.doc.transaction():
            for kind, start, stop, content, attributes in plan:
                if kind == "insert":
                    self.text.insert(start, content, attributes)
                elif kind == "delete":
                    self.text.__delitem__(slice(start, stop))
                else:
                    self.text.format(start, stop, attributes)
        self._now_reads(after)
        return self.update_since(before)

    def apply(self, update: bytes) -> list[AppliedOp]:
        """Apply a Yjs update; returns what it did to the text (empty when nothing changed)."""
        before = self.content
        deltas: list[list[dict[str, Any]]] = []
        subscription = self.text.observe(lambda event: deltas.append(list(event.delta)))
        try:
            self.doc.apply_update(update)
        finally:
            self.text.unobserve(subscription)
        # A PRD is one text: other root types or embeds would shift every position clients count.
        # The caller drops this Document when it raises (the update is already in it).
        if set(self.doc.keys()) - {TEXT_NAME}:
            raise EditError(f"only the {TEXT_NAME!r} text may be edited")
        if any("insert" in item and not isinstance(item["insert"], str) for delta in deltas for item in delta):
            raise EditError("embeds are not supported in a PRD's text")
        applied: list[AppliedOp] = []
        text = before
        for delta in deltas:
            text = _delta_to_ops(text, delta, applied)
        self._now_reads(text)
        return applied


Plan = tuple[str, int, int, str, "dict[str, Any] | None"]


def _plan(text: str, ops: Sequence[ClientOp], encoding: PositionEncoding) -> tuple[list[Plan], str]:
    """Check every op against the text as the previous ones leave it, and turn it into byte ranges,
    before anything is applied: a batch applies whole or not at all. Also returns the text after."""
    plan: list[Plan] = []
    for i, op in enumerate(ops):
        where = f"operation {i}" if len(ops) > 1 else "operation"
        try:
            start = to_index(text, op.position, encoding)
            if op.type == "insert":
                if not op.content:
                    raise EditError(f"{where}: insert needs non-empty content")
                plan.append(("insert", byte_offset(text, start), 0, op.content, op.attributes or None))
                text = text[:start] + op.content + text[start:]
                continue
            if op.length is None:
                raise EditError(f"{where}: {op.type} needs a length")
            stop = to_index(text, op.position + op.length, encoding)
        except ValueError as exc:
            raise EditError(f"{where}: {exc} (text length {length(text, encoding)})") from exc
        if stop == start:
            continue
        if op.type == "delete":
            plan.append(("delete", byte_offset(text, start), byte_offset(text, stop), "", None))
            text = text[:start] + text[stop:]
        elif op.attributes:  # format, or retain with attributes
            plan.append(("format", byte_offset(text, start), byte_offset(text, stop), "", op.attributes))
        elif op.type == "format":
            raise EditError(f"{where}: format needs attributes")
    return plan, text


def _delta_to_ops(text: str, delta: list[dict[str, Any]], out: list[AppliedOp]) -> str:
    """Turn one Quill-style delta (counts in UTF-8 bytes) into applied ops; returns the new text."""
    cursor = 0
    for item in delta:
        attributes = item.get("attributes") or None
        if "retain" in item:
            span = index_of_byte(text[cursor:], item["retain"])
            if attributes:
                out.append(_applied("format", text, cursor, span, None, attributes))
            cursor += span
        elif "insert" in item and isinstance(item["insert"], str):
            inserted = item["insert"]
            text = text[:cursor] + inserted + text[cursor:]
            out.append(_applied("insert", text, cursor, len(inserted), inserted, attributes))
            cursor += len(inserted)
        elif "delete" in item:
            span = index_of_byte(text[cursor:], item["delete"])
            out.append(_applied("delete", text, cursor, span, None, None))
            text = text[:cursor] + text[cursor + span :]
    return text


def _applied(
    kind: Literal["insert", "delete", "format"],
    text: str,
    index: int,
    span: int,
    content: str | None,
    attributes: dict[str, Any] | None,
) -> AppliedOp:
    # For an insert, ``text`` already holds the inserted span; for the others it is the text the
    # op applies to. Either way the span sits at [index, index + span).
    start16 = from_index(text, index, "utf-16")
    return AppliedOp(
        type=kind,
        position16=start16,
        length16=from_index(text, index + span, "utf-16") - start16,
        position32=index,
        length32=span,
        content=content,
        attributes=attributes,
    )
