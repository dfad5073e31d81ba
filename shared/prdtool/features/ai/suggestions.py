"""Suggestions as stored and as clients see them: opened by a review, closed once.

A suggestion's place (where its content goes) and its subject (the text it is about) are Yjs
relative positions (``prdtool.engine.anchors``), so both follow the text through every edit. Its
status moves one way: ``open`` to ``applied`` (through ``applying`` while its edit is written),
``dismissed`` or ``withdrawn``, each move a conditional write on the status it leaves, in the same
transaction as the document's count of open suggestions, so two closes never both win and the
count never drifts.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from prdtool.engine.anchors import anchors_at, indexes_of_anchors
from prdtool.engine.crdt import Document
from prdtool.engine.document_records import META, SUGGESTION, DocumentMeta, Suggestion, transact
from prdtool.engine.positions import PositionEncoding, from_index
from prdtool.features.ai.findings import Finding
from prdtool.features.ai.review_rules import section_text

__all__ = [
    "MAX_OPEN",
    "REVIEWER",
    "Placed",
    "SuggestionStore",
    "changed_substantially",
    "new_suggestion",
    "new_suggestion_id",
    "place_of",
    "prd_of",
    "section_sketch",
    "sketch",
    "suggestion_event",
]

REVIEWER = "review"  # who withdraws a suggestion (resolved_by)

MAX_OPEN = 20  # open suggestions per document: more would be noise nobody reads
_CLOSED_KEPT = timedelta(days=30)  # withdrawn ones, for the record
_DISMISSED_KEPT = timedelta(days=365)  # dismissed and applied ones keep their finding from coming back
_ID = re.compile(r"^sug_[0-9]{13}[0-9a-f]{8}_(?P<prd>.+)$")
_SKETCH_SIZE = 64
_SAME_SECTION = 0.5  # a dismissed finding stays dismissed while its section is at least this similar
_WORD = re.compile(r"\w+")


def new_suggestion_id(prd_id: str, now_ms: int) -> str:
    """``sug_<ms><random>_<prdId>``: ``ai:suggestion-dismiss`` names no PRD, so the id carries it."""
    return f"sug_{now_ms:013d}{secrets.token_hex(4)}_{prd_id}"


def prd_of(suggestion_id: str) -> str | None:
    """The PRD a suggestion id belongs to, or None for an id that is none of ours."""
    match = _ID.match(suggestion_id)
    return match.group("prd") if match else None


def new_suggestion(prd_id: str, finding: Finding, document: Document, seq: int, now_ms: int) -> Suggestion:
    """A suggestion for ``finding`` (positions in ``document``'s text), anchored in the CRDT."""
    places = [finding.at] + (list(finding.subject) if finding.subject else [])
    anchors = anchors_at(document, places)
    suggestion_id = new_suggestion_id(prd_id, now_ms)
    return Suggestion(
        prd_id,
        SUGGESTION + suggestion_id,
        suggestion_id=suggestion_id,
        key=finding.key,
        rule=finding.rule,
        type=finding.type,
        section=finding.section,
        title=finding.title,
        description=finding.description,
        priority=finding.priority,
        suggested_content=finding.suggested_content,
        anchor=anchors[0],
        subject_start=anchors[1] if finding.subject else None,
        subject_end=anchors[2] if finding.subject else None,
        created_at=now_ms,
        reviewed_seq=seq,
    )


def sketch(text: str) -> list[int]:
    """A bottom-k sketch of the text's word trigrams: two sketches estimate how much of the two
    texts' wording is shared (their Jaccard similarity) in 64 numbers, whatever their length."""
    words = [w.lower() for w in _WORD.findall(text)]
    grams = {" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))} if words else set()
    hashes = {int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "big") for g in grams}
    return sorted(hashes)[:_SKETCH_SIZE]


def section_sketch(text: str, section: str) -> str:
    """The sketch of one section's text, stored with a dismissal."""
    return json.dumps(sketch(section_text(text, section)))


def changed_substantially(before: str | None, now: str) -> bool:
    """Whether a section's wording changed enough since ``before`` (both ``section_sketch``es) for
    a dismissed finding about it to be worth offering again."""
    if before is None:
        return True
    a, b = set(json.loads(before)), set(json.loads(now))
    if not a and not b:
        return False  # empty then and now (a section that is still missing)
    union = sorted(a | b)[:_SKETCH_SIZE]  # the bottom-k of the union, estimated from both sketches
    shared = sum(1 for h in union if h in a and h in b)
    return shared / len(union) < _SAME_SECTION


class Placed:
    """Where a suggestion is in a document now: ``at`` (code points), and whether its subject text
    is gone (deleted entirely)."""

    __slots__ = ("at", "subject_gone")

    def __init__(self, at: int | None, subject_gone: bool) -> None:
        self.at = at
        self.subject_gone = subject_gone


def place_of(suggestions: Sequence[Suggestion], document: Document) -> list[Placed]:
    """Each suggestion's place in ``document``, resolved in one pass over the CRDT."""
    anchors: list[bytes] = []
    for s in suggestions:
        anchors.append(bytes(s.anchor))
        if s.subject_start is not None and s.subject_end is not None:
            anchors += [bytes(s.subject_start), bytes(s.subject_end)]
    indexes = iter(indexes_of_anchors(document, anchors))
    placed = []
    for s in suggestions:
        at = next(indexes)
        gone = False
        if s.subject_start is not None and s.subject_end is not None:
            start, end = next(indexes), next(indexes)
            gone = start is None or end is None or end <= start
        placed.append(Placed(at, gone))
    return placed


def suggestion_event(s: Suggestion, text: str, at: int, encoding: PositionEncoding) -> dict[str, Any]:
    """``ai:suggestion``: exactly the spec's fields, ``position`` in the session's encoding."""
    return {
        "prdId": s.prd_id,
        "suggestionId": s.suggestion_id,
        "type": s.type,
        "section": s.section,
        "title": s.title,
        "description": s.description,
        "priority": s.priority,
        "suggestedContent": s.suggested_content,
        "position": from_index(text, at, encoding),
    }


class SuggestionStore:
    """Reads and conditional writes of a document's suggestions."""

    def all(self, prd_id: str) -> list[Suggestion]:
        """Every suggestion kept for the document (open ones and the record of closed ones)."""
        return list(Suggestion.query(prd_id, Suggestion.item.startswith(SUGGESTION), consistent_read=True))

    def get(self, prd_id: str, suggestion_id: str) -> Suggestion | None:
        try:
            return Suggestion.get(prd_id, SUGGESTION + suggestion_id, consistent_read=True)
        except Suggestion.DoesNotExist:
            return None

    def open(self, prd_id: str, suggestions: Sequence[Suggestion]) -> bool:
        """Store new suggestions and count them open; False when the document is gone."""
        if not suggestions:
            return True

        def write(tx: TransactWrite) -> None:
            for s in suggestions:
                tx.save(s, condition=Suggestion.item.does_not_exist())  # a fresh random id
            # Only on a document that exists: never a meta item made up by the count.
            tx.update(
                DocumentMeta(prd_id, META),
                [DocumentMeta.open_suggestions.add(len(suggestions))],
                condition=DocumentMeta.prd_id.exists(),
            )

        return transact(write)

    def close(
        self,
        s: Suggestion,
        status: str,
        by: str,
        now_ms: int,
        *,
        from_status: str = "open",
        reason: str | None = None,
        note: str | None = None,
        sketch: str | None = None,
        applied_seq: int | None = None,
    ) -> bool:
        """Move ``s`` from ``from_status`` to ``status``; False when it had moved already (someone
        else closed it first). Leaving ``open`` takes it off the document's count."""
        actions: list[Action] = [
            Suggestion.status.set(status),
            Suggestion.resolved_by.set(by),
            Suggestion.resolved_at.set(now_ms),
        ]
        if reason is not None:
            actions.append(Suggestion.reason.set(reason))
        if note:
            actions.append(Suggestion.note.set(note))
        if sketch is not None:
            actions.append(Suggestion.section_sketch.set(sketch))
        if applied_seq is not None:
            actions.append(Suggestion.applied_seq.set(applied_seq))
        if status in ("applied", "withdrawn", "dismissed"):
            kept = _DISMISSED_KEPT if status in ("applied", "dismissed") else _CLOSED_KEPT
            actions.append(Suggestion.expires_at.set(datetime.now(UTC) + kept))

        def write(tx: TransactWrite) -> None:
            # The status it leaves is the one we read: of two closes, only the first wins.
            tx.update(Suggestion(s.prd_id, s.item), actions, condition=Suggestion.status == from_status)
            if from_status == "open":
                tx.update(
                    DocumentMeta(s.prd_id, META),
                    [DocumentMeta.open_suggestions.add(-1)],
                    condition=DocumentMeta.prd_id.exists(),
                )

        if not transact(write):
            return False
        s.status = status
        return True
