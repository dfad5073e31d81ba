"""The document engine: a PRD is one Yjs ``Y.Text`` named ``content``, held in a pycrdt Doc.

Pure work over bytes and values, no I/O. Client operations arrive in the client's position units
and leave as Yjs updates; updates applied to a document come back as the operations they amount
to, in both position units. Formatting is Yjs text attributes, so any Yjs editor binding can load
the state.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pycrdt import Doc, Text, TextEvent
from pycrdt import merge_updates as _merge_updates

from prdtool.engine.positions import (
    PositionEncoding,
    PositionError,
    byte_offset,
    from_index,
    index_of_byte,
    length,
    to_index,
)
from prdtool.kernel.errors import INTERPRETER_EXITS

__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_DEPTH",
    "TEXT_NAME",
    "AppliedOp",
    "ClientOp",
    "Document",
    "Edit",
    "EditError",
    "check_op",
    "client_id_for",
    "merged",
    "splice",
]

TEXT_NAME = "content"
EMPTY_UPDATE = b"\x00\x00"  # a Yjs update with no structs and no deletions
# What a format's attributes may hold: JSON values that every Yjs peer can hold and every
# client can read back. Integers beyond JavaScript's safe range (and pycrdt's i64), NaN and
# infinities, lone surrogates and deep nesting are refused before any Doc is touched.
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_DEPTH = 4
_SAFE_INTEGER = 2**53 - 1


class EditError(ValueError):
    """An operation that cannot apply to the text it names (a bad range, missing content), or an
    update that is not plain text."""


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


@dataclass(frozen=True)
class Edit:
    """What ``Document.edit`` made: the Yjs update, and what it did to the text it was made on."""

    update: bytes
    applied: list[AppliedOp]


def merged(updates: Sequence[bytes]) -> bytes:
    """A few updates as one (what a coalesced ``operation:applied`` carries). Not for a long log:
    rebuilding a document applies its updates one by one (``Document.from_updates``)."""
    return updates[0] if len(updates) == 1 else bytes(_merge_updates(*updates))


def client_id_for(prd_id: str, clock_key: str) -> int:
    """The Yjs client id of one clock key in one document: stable, so concurrent inserts at one
    place always order the same way and the state vector grows with editors, not with ops."""
    digest = hashlib.blake2b(f"{prd_id}\0{clock_key}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") or 1


class Document:
    """A loaded document: its Yjs Doc and the Text inside it. Change the Doc only through these
    methods (``edit``, ``apply``, ``apply_known``, ``apply_update``): they keep the text and its
    size known, so that reading them costs nothing (a change made straight on ``doc`` or ``text``
    would not be seen by ``content``)."""

    def __init__(self, client_id: int | None = None) -> None:
        self.doc: Doc[Text] = Doc(client_id=client_id) if client_id is not None else Doc()
        self.text: Text = self.doc.get(TEXT_NAME, type=Text)
        # The text as a str and its UTF-8 length (pycrdt's units), kept between reads: reading
        # them from pycrdt costs O(length) and a transaction. Valid because every change to the
        # Doc goes through this class, which keeps them or forgets them (None: read on demand).
        self._known: str | None = None
        self._known_bytes: int | None = None
        self._updates: list[bytes] | None = None  # the Doc's transactions' updates, once it edits

    @classmethod
    def from_updates(cls, updates: Iterable[bytes], client_id: int | None = None) -> Document:
        """Rebuild by applying updates one by one (never ``merge_updates`` over a long log)."""
        document = cls(client_id)
        for update in updates:
            document.doc.apply_update(update)
        return document

    @classmethod
    def with_content(cls, content: str, client_id: int) -> Document:
        """A new document holding ``content`` (``EditError`` when it is not valid Unicode)."""
        _check_string(content, "content")
        document = cls(client_id)
        if content:
            document.text.insert(0, content)
        document.now_reads(content)
        return document

    @property
    def content(self) -> str:
        """The text (read from pycrdt only when not known already)."""
        if self._known is None:
            self._known = str(self.text)
        return self._known

    @property
    def byte_length(self) -> int:
        """The text's length in UTF-8 bytes, as pycrdt counts it (and the document size limit)."""
        if self._known_bytes is None:
            self._known_bytes = len(self.text)
        return self._known_bytes

    def now_reads(self, text: str, byte_length: int | None = None) -> None:
        """Record ``text`` (of ``byte_length`` UTF-8 bytes, if known) as the Doc's content now."""
        self._known, self._known_bytes = text, byte_length

    def apply_update(self, update: bytes) -> None:
        """Apply a Yjs update whose effect is not known here: the text is read again when asked for."""
        self.doc.apply_update(update)
        self._known, self._known_bytes = None, None

    def state(self) -> bytes:
        """The whole document as one Yjs update."""
        return self.doc.get_update()

    def state_vector(self) -> bytes:
        return self.doc.get_state()

    def update_since(self, state_vector: bytes) -> bytes:
        """What this document holds that a peer at ``state_vector`` lacks (Yjs sync step 2)."""
        return self.doc.get_update(state_vector)

    def edit(self, ops: Sequence[ClientOp], encoding: PositionEncoding, formatted: bool = False) -> Edit:
        """Apply client ops in one transaction; each op's position counts in the text as the
        previous ops left it. Returns the Yjs update and the ops as they took effect here.

        ``formatted``: the text may hold formatting. An insert takes on the formatting of the
        text before it, so its attributes are then read from what pycrdt did (which costs a walk
        of the text); in a text known to hold none, the ops are exactly as planned.

        Raises ``EditError`` when any op does not fit the text or holds what a Yjs text cannot;
        every op is checked before the Doc is touched, so that changes nothing. Should pycrdt
        still fail half-way, the Doc holds part of the batch: the caller must drop it."""
        before_text = self.content
        self._known_bytes = self.byte_length  # known before, so known after (see _bytes_after)
        plan, applied, after = _plan(before_text, ops, encoding)
        deltas: list[list[dict[str, Any]]] = []
        subscription = self.text.observe(lambda event: deltas.append(_delta_of(event))) if formatted else None
        updates = self._own_updates()
        try:
            with self.doc.transaction():
                for kind, start, stop, content, attributes in plan:
                    if kind == "insert":
                        self.text.insert(start, content, attributes)
                    elif kind == "delete":
                        self.text.__delitem__(slice(start, stop))
                    else:
                        self.text.format(start, stop, attributes or {})
        except BaseException as exc:  # pycrdt panics are BaseExceptions (see _reraise_unless_engine)
            self._known, self._known_bytes = None, None  # part of the plan may be in the Doc
            # The plan was checked, so this is pycrdt refusing something we did not foresee. The
            # transaction keeps what ran before the failure: the caller must drop this Document.
            _reraise_unless_engine(exc)
            raise EditError("the operation cannot be applied to the text") from exc
        finally:
            if subscription is not None:
                self.text.unobserve(subscription)
        self.now_reads(after, _bytes_after(self._known_bytes, plan))
        update = updates[-1] if updates else EMPTY_UPDATE  # a transaction that changed nothing
        updates.clear()
        return Edit(update, _ops_of(before_text, deltas)[1] if formatted else applied)

    def _own_updates(self) -> list[bytes]:
        """Where the Doc's next transaction puts its own update: what it inserted and deleted,
        nothing else. An update since the state vector before would also carry every deletion
        the text ever had (Yjs sends the whole delete set), so it, and each apply of it, would
        grow with the history (209 vs 13 µs per apply at 100,000 edits of the automerge-paper
        trace). Observed from the first edit on, for good: subscribing per edit costs more than
        the edit (~18 µs)."""
        if self._updates is None:
            self._updates = []
            self.doc.observe(lambda event, into=self._updates: into.append(event.update))
        self._updates.clear()  # what applies since the last edit put there
        return self._updates

    def has_formatting(self) -> bool:
        """Whether any of the text carries attributes (reads the whole text: call it rarely)."""
        return any(attributes for _, attributes in self.text.diff())

    def apply_known(self, update: bytes, applied: Sequence[AppliedOp]) -> None:
        """Apply an update whose effect on this Doc is known to be ``applied`` (a log entry's ops,
        on a replica holding exactly the entries before it), keeping the text without reading it
        back from pycrdt: reading costs O(the history's items), splicing a str does not."""
        known, known_bytes = self._known, self._known_bytes
        self.doc.apply_update(update)
        if known is None:
            self._known_bytes = None
            return
        self.now_reads(*_spliced(known, known_bytes, applied))

    def apply(self, update: bytes) -> list[AppliedOp]:
        """Apply a Yjs update; returns what it did to the text (empty when nothing changed).
        Raises ``EditError`` when the update cannot be decoded or puts anything but text (and its
        formatting) in the document; it may already be partly in the Doc then, so the caller
        must drop this Document."""
        before = self.content
        deltas: list[list[dict[str, Any]]] = []
        subscription = self.text.observe(lambda event: deltas.append(_delta_of(event)))
        self._known, self._known_bytes = None, None  # whatever happens next, read them again
        try:
            self.doc.apply_update(update)
        except BaseException as exc:
            _reraise_unless_engine(exc)
            raise EditError("the update is not a valid Yjs update") from exc
        finally:
            self.text.unobserve(subscription)
        # A PRD is one text: other root types or embeds would shift every position clients count.
        if set(self.doc.keys()) - {TEXT_NAME}:
            raise EditError(f"only the {TEXT_NAME!r} text may be edited")
        if any("insert" in item and not isinstance(item["insert"], str) for delta in deltas for item in delta):
            raise EditError("embeds are not supported in a PRD's text")
        text, applied = _ops_of(before, deltas)
        # Items that are not text (a client that declared ``content`` as a Y.Array) show in no
        # delta and no str(), but pycrdt counts them in every position: refuse them.
        size = len(self.text)
        if size != len(text.encode("utf-8")):
            raise EditError(f"only text may be put in {TEXT_NAME!r}")
        for op in applied:  # what a Yjs peer formats with must hold for every client too
            if op.attributes:
                _check_attributes(op.attributes)
        self.now_reads(text, size)
        return applied


def _reraise_unless_engine(exc: BaseException) -> None:
    """pycrdt reports some failures as Rust panics, which arrive as pyo3's PanicException: a
    BaseException, not an Exception. Everything but the interpreter's own exits is pycrdt's."""
    if isinstance(exc, INTERPRETER_EXITS):
        raise exc


def _ops_of(text: str, deltas: list[list[dict[str, Any]]]) -> tuple[str, list[AppliedOp]]:
    """The ops observed deltas amount to, in order, and the text after them."""
    applied: list[AppliedOp] = []
    for delta in deltas:
        text = _delta_to_ops(text, delta, applied)
    return text, applied


def is_state_vector(state_vector: bytes) -> bool:
    """Whether the bytes read as a Yjs state vector (``Y.encodeStateVector``): pycrdt refuses
    anything else with a ValueError, never a panic."""
    try:
        Doc().get_update(state_vector)
    except ValueError:
        return False
    return True


def check_op(op: ClientOp) -> None:
    """Refuse what no Yjs text can hold, whatever the text: content that is not valid Unicode (a
    lone surrogate), and attribute values outside JSON that every peer reads back the same."""
    if op.content is not None:
        _check_string(op.content, "content")
    if op.attributes is not None:
        _check_attributes(op.attributes)


def _check_attributes(attributes: dict[str, Any]) -> None:
    if len(attributes) > MAX_ATTRIBUTES:
        raise EditError(f"at most {MAX_ATTRIBUTES} attributes")
    for name, value in attributes.items():
        if not isinstance(name, str):
            raise EditError("attribute names must be strings")
        _check_string(name, "an attribute name")
        _check_value(value, f"attribute {name!r}", 1)


def _check_string(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EditError(f"{what} is not valid Unicode text (it holds a lone surrogate)") from exc


def _check_value(value: Any, what: str, depth: int) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > _SAFE_INTEGER:
            raise EditError(f"{what}: integers must lie within ±(2**53 - 1)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise EditError(f"{what}: numbers must be finite")
    elif isinstance(value, str):
        _check_string(value, what)
    elif isinstance(value, (list, dict)):
        if depth >= MAX_ATTRIBUTE_DEPTH:
            raise EditError(f"{what}: nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            if isinstance(value, dict):
                if not isinstance(key, str):
                    raise EditError(f"{what}: keys must be strings")
                _check_string(key, what)
            _check_value(item, what, depth + 1)
    else:
        raise EditError(f"{what}: not a JSON value")


Plan = tuple[str, int, int, str, "dict[str, Any] | None"]


def _plan(text: str, ops: Sequence[ClientOp], encoding: PositionEncoding) -> tuple[list[Plan], list[AppliedOp], str]:
    """Check every op against the text as the previous ones leave it, and turn it into byte ranges,
    before anything is applied: a batch applies whole or not at all. Also returns what each does
    (``AppliedOp``, in the text as the ops before it left it) and the text after."""
    plan: list[Plan] = []
    applied: list[AppliedOp] = []
    for i, op in enumerate(ops):
        where = f"operation {i}" if len(ops) > 1 else "operation"
        try:
            check_op(op)
        except EditError as exc:
            raise EditError(f"{where}: {exc}") from exc
        try:
            start = to_index(text, op.position, encoding)
            if op.type == "insert":
                if not op.content:
                    raise EditError(f"{where}: insert needs non-empty content")
                attributes = op.attributes or None
                plan.append(("insert", byte_offset(text, start), 0, op.content, attributes))
                text = text[:start] + op.content + text[start:]
                applied.append(_applied("insert", text, start, len(op.content), op.content, attributes))
                continue
            if op.length is None:
                raise EditError(f"{where}: {op.type} needs a length")
            stop = to_index(text, op.position + op.length, encoding)
        except PositionError as exc:
            raise EditError(f"{where}: {exc} (text length {length(text, encoding)})") from exc
        if stop == start:
            continue
        if op.type == "delete":
            plan.append(("delete", byte_offset(text, start), byte_offset(text, stop), "", None))
            applied.append(_applied("delete", text, start, stop - start, None, None))
            text = text[:start] + text[stop:]
        elif op.attributes:  # format, or retain with attributes
            plan.append(("format", byte_offset(text, start), byte_offset(text, stop), "", op.attributes))
            applied.append(_applied("format", text, start, stop - start, None, op.attributes))
        elif op.type == "format":
            raise EditError(f"{where}: format needs attributes")
    return plan, applied, text


def _bytes_after(before: int | None, plan: list[Plan]) -> int | None:
    """The UTF-8 length after a plan's inserts and deletes (formats change none)."""
    if before is None:
        return None
    for kind, start, stop, content, _ in plan:
        if kind == "insert":
            before += len(content.encode("utf-8"))
        elif kind == "delete":
            before -= stop - start
    return before


def _spliced(text: str, byte_length: int | None, applied: Iterable[AppliedOp]) -> tuple[str, int | None]:
    """``splice``, keeping count of the UTF-8 length (None: not known) on the way."""
    for op in applied:
        if op.type == "insert":
            content = op.content or ""
            text = text[: op.position32] + content + text[op.position32 :]
            byte_length = None if byte_length is None else byte_length + len(content.encode("utf-8"))
        elif op.type == "delete":
            end = op.position32 + op.length32
            if byte_length is not None:
                byte_length -= len(text[op.position32 : end].encode("utf-8"))
            text = text[: op.position32] + text[end:]
    return text, byte_length


def splice(text: str, applied: Iterable[AppliedOp]) -> str:
    """The text after ``applied`` (what a plain client does with ``operation:applied``)."""
    return _spliced(text, None, applied)[0]


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


def _delta_of(event: TextEvent) -> list[dict[str, Any]]:
    """A text event's changes (pycrdt declares ``delta`` only in ``__slots__``, so a type checker
    does not see it)."""
    delta: list[dict[str, Any]] = getattr(event, "delta")  # noqa: B009
    return list(delta)
