"""The payloads the engine builds for the areas to send, as models: the contract of what goes out
(``Router.sends``, declared by the area each event belongs to) and what the tests check every sent
payload against. Models several events share (a comment, a version, a presence) are here too.
"""

from __future__ import annotations

from typing import Any, Literal

from prdtool.kernel.payloads import Actor, Position, Selection, SentModel

__all__ = [
    "AppliedOperation",
    "CommentPayload",
    "CommentThread",
    "ConflictDetected",
    "ConflictResolved",
    "LargeContentHead",
    "OperationApplied",
    "OperationConflict",
    "PresenceUpdated",
    "VersionCreated",
]

Mode = Literal["view", "comment", "edit"]


class AppliedOperation(SentModel):
    """An op as it took effect: the spec's CRDTOperation (positions in the session's encoding),
    with who made it; ``seq`` when several entries come at once."""

    type: Literal["insert", "delete", "retain", "format"]
    position: int
    content: str | None = None
    length: int | None = None
    attributes: dict[str, Any] | None = None
    userId: str | None = None
    seq: int | None = None
    vectorClock: dict[str, int] | None = None


class LargeContentHead(SentModel):
    """The fields of an answer that carries the whole document: its text and Yjs ``state``, null
    when too large for a frame, then at ``contentUrl`` or in ``parts`` ``document:part`` events."""

    currentContent: str | None = None
    state: str | None = None
    contentUrl: str | None = None
    contentUrlExpiresAt: int | None = None
    parts: int | None = None


class OperationApplied(SentModel):
    """An entry of the log (or, in a large room, every entry of a window after ``fromSeq``):
    ``operation`` or ``operations``, and the Yjs ``update``; ``resync`` when too large for a frame."""

    prdId: str
    seq: int
    newVectorClock: dict[str, int]
    fromSeq: int | None = None
    operation: AppliedOperation | None = None
    operations: list[AppliedOperation] | None = None
    update: str | None = None
    resync: bool | None = None


class PresenceUpdated(SentModel):
    """Where someone is in the text and what they are doing (``offline``: gone, cursor null)."""

    prdId: str
    userId: str
    userName: str
    sessionId: str
    mode: Mode
    status: Literal["active", "typing", "idle", "away", "offline"]
    color: str
    cursor: Position | None
    selection: Selection | None
    lastActivity: str


class ConflictOperation(SentModel):
    userId: str
    operationId: str
    operation: AppliedOperation


class ConflictDetected(SentModel):
    """Two authors' concurrent ops at one place: resolve with ``conflict:resolve``."""

    prdId: str
    conflictId: str
    operations: list[ConflictOperation]
    resolutionOptions: list[Literal["manual", "auto", "ai"]]


class OperationConflict(SentModel):
    """Your op at ``seq`` is one side of ``conflictId``."""

    prdId: str
    conflictId: str
    seq: int


class ConflictResolved(SentModel):
    prdId: str
    conflictId: str
    resolution: Literal["manual", "auto", "ai"]
    seq: int | None = None
    resolvedBy: Actor | None = None


class CommentAuthor(Actor):
    avatar: str | None


class CommentPayload(SentModel):
    """A comment where its text is now (``anchor: orphaned`` once that text is gone)."""

    commentId: str
    prdId: str
    author: CommentAuthor
    content: str
    position: Position
    selection: Selection | None
    mentions: list[str]
    createdAt: str
    parentId: str | None
    threadId: str
    resolved: bool
    anchor: Literal["attached", "orphaned"]
    quote: str | None
    updatedAt: str | None = None
    deleted: bool | None = None


class CommentThread(CommentPayload):
    """A thread's root with its replies, oldest first (``continued``: the page before cut it)."""

    replies: list[CommentPayload]
    continued: bool | None = None


class VersionCreated(SentModel):
    prdId: str
    version: str
    changelog: str
    author: Actor
    commitHash: str
    createdAt: str
    status: str
    seq: int
