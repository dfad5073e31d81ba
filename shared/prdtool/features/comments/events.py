"""The payloads of the comment events. Lengths and counts that a deployment configures (content
size, mentions per comment) are checked by the handlers against its settings."""

from __future__ import annotations

from pydantic import Field

from prdtool.engine.events import CommentPayload
from prdtool.kernel.payloads import Actor, EventModel, Id, Key, Position, Selection, SentModel

__all__ = ["SENT", "CommentAdd", "CommentEdit", "CommentList", "CommentRef"]


class CommentAdd(EventModel):
    prdId: str = Id
    content: str
    position: Position
    selection: Selection | None = None
    mentions: list[Key] = Field(default_factory=list, max_length=1000)  # the configured limit is lower
    parentId: str | None = Field(default=None, min_length=1, max_length=200)


class CommentRef(EventModel):
    """One comment: ``comment:delete``, ``comment:resolve``, ``comment:reopen``. ``prdId`` is
    optional: without it the comment is looked for in the documents the session has joined."""

    commentId: str = Id
    prdId: str | None = Field(default=None, min_length=1, max_length=200)


class CommentEdit(CommentRef):
    content: str


class CommentList(EventModel):
    prdId: str = Id
    includeResolved: bool = False
    cursor: str | None = Field(default=None, min_length=1, max_length=1000)


# ---------------------------------------------------------------- sent


class CommentUpdated(SentModel):
    """What changed of a comment (its content, resolved, deleted), when and by whom."""

    commentId: str
    prdId: str
    updatedAt: str
    by: Actor
    content: str | None = None
    resolved: bool | None = None
    deleted: bool | None = None


# What this area sends, each with its payload's model (registered with ``Router.sends``).
SENT: dict[str, type[SentModel]] = {
    "comment:added": CommentPayload,
    "comment:updated": CommentUpdated,
}
