"""Guarding documents against mass deletion: a restore point first, then the owner is told.

An edit that takes away most of a large document (a select-all delete, a bad AI merge, a restore
of an old version), or a burst of deleting edits by one person that does, is let through: it may
be meant. But before it is written, the text as it is is kept as a restore point (S3,
``restore-points/<prd>/<seq>.json``), and the document's owner gets ``security:alert {type:
'mass_deletion', ...}`` naming it; ``document:restore`` puts that text back.

Typing pays nothing: only an edit that deletes at least ``COUNTED_BYTES`` of a document of at least
``MIN_BYTES`` is looked at. Each such edit keeps a restore point (one S3 put) and is counted toward
a burst (one atomic append: ``DocumentRecords.count_deletion``), so whichever edit turns out to
complete a burst, the text from before the burst's first edit can be put back. The policy is pure
(``is_mass``, ``burst_is_mass``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "COUNTED_BYTES",
    "MIN_BYTES",
    "SHARE",
    "WINDOW_MS",
    "Counted",
    "RestorePoint",
    "RestorePoints",
    "burst_is_mass",
    "counts",
    "in_window",
    "is_mass",
    "point_id",
]

# Sizes are the text's UTF-8 bytes, as the editor measures a document (for English, characters).
MIN_BYTES = 1_000  # a document smaller than this is not "large"
SHARE = 0.5  # "most of" it
WINDOW_MS = 60_000  # a burst: one person's deleting edits within this long
COUNTED_BYTES = 100  # an edit deleting less than this is typing, never counted


def counts(before: int, after: int) -> bool:
    """Whether an edit taking a document from ``before`` to ``after`` characters is worth a look."""
    return before >= MIN_BYTES and before - after >= COUNTED_BYTES


def is_mass(before: int, after: int) -> bool:
    """One edit that deletes most of a large document."""
    return before >= MIN_BYTES and before - after >= SHARE * before


Counted = tuple[int, int, int, int]  # a counted edit: (at, size before, size after, seq before)


def in_window(edits: list[Counted], now: int) -> list[Counted]:
    """The counted edits within the window ending at ``now``, oldest first."""
    return [edit for edit in edits if edit[0] > now - WINDOW_MS]


def burst_is_mass(edits: list[Counted], now: int) -> bool:
    """Whether one person's counted edits within the window ending at ``now`` deleted most of the
    document as it was before the first of them."""
    recent = in_window(edits, now)
    if not recent:
        return False
    start = recent[0][1]
    deleted = sum(before - after for _, before, after, _ in recent)
    return start >= MIN_BYTES and deleted >= SHARE * start


@dataclass(frozen=True)
class RestorePoint:
    """A document's text just before a mass deletion."""

    prd_id: str
    point_id: str  # the seq it is the text of, as a string
    text: str
    seq: int
    at: int
    deleted_by: str

    def payload(self) -> dict[str, Any]:
        return {"restorePointId": self.point_id, "seq": self.seq, "at": self.at, "deletedBy": self.deleted_by}


class RestorePoints:
    """Restore points in S3, one object each (their text is at most ``MaxDocumentBytes``)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def save(self, point: RestorePoint) -> None:
        body = {"seq": point.seq, "at": point.at, "deletedBy": point.deleted_by, "text": point.text}
        self._s3.put_object(Bucket=self._bucket, Key=_key(point.prd_id, point.point_id), Body=json.dumps(body).encode())

    def get(self, prd_id: str, point_id: str) -> RestorePoint | None:
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=_key(prd_id, point_id))["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None
        kept = json.loads(body)
        return RestorePoint(prd_id, point_id, kept["text"], int(kept["seq"]), int(kept["at"]), kept["deletedBy"])


def point_id(seq: int) -> str:
    """The id of the restore point of a document's text as of ``seq``."""
    return f"{seq:012d}"


def _key(prd_id: str, point_id: str) -> str:
    return f"restore-points/{prd_id}/{point_id}.json"
