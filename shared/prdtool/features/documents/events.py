"""The payloads of the document events: create, share, update, join and leave."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from prdtool.engine.downloads import LargeContent
from prdtool.engine.events import CommentThread, LargeContentHead, PresenceUpdated, VersionCreated
from prdtool.engine.positions import DEFAULT_ENCODING, PositionEncoding
from prdtool.kernel.payloads import Actor, EventModel, Id, SentModel

__all__ = [
    "SENT",
    "DocumentCreate",
    "DocumentJoin",
    "DocumentLeave",
    "DocumentRestore",
    "DocumentShare",
    "DocumentUpdate",
]


class DocumentCreate(EventModel):
    """Our extension: create a PRD; the creator becomes its owner."""

    title: str = Field(min_length=1, max_length=500)
    content: str = ""


class DocumentShare(EventModel):
    """Our extension: give a user a role on a PRD (owners only)."""

    prdId: str = Id
    userId: str = Id
    role: Literal["viewer", "commenter", "editor", "owner"]


class DocumentJoin(EventModel):
    prdId: str = Id
    mode: Literal["view", "edit", "comment"]
    lastKnownVersion: str | None = None
    positionEncoding: PositionEncoding = DEFAULT_ENCODING
    # Extension: replies too large for a frame by URL (one GET) or as document:part events.
    largeContent: LargeContent = "url"


class DocumentLeave(EventModel):
    prdId: str = Id


class DocumentUpdate(EventModel):
    prdId: str = Id
    title: str | None = Field(default=None, min_length=1, max_length=500)
    status: str | None = Field(default=None, min_length=1, max_length=50)


class DocumentRestore(EventModel):
    """``document:restore`` (extension; owners): put back the text a mass deletion's restore point
    kept (its id comes with the ``security:alert``)."""

    prdId: str = Id
    restorePointId: str = Field(pattern=r"^[0-9]{12}$")


# ---------------------------------------------------------------- sent


class DocumentCreated(SentModel):
    prdId: str
    title: str
    version: str
    status: str


class DocumentUpdated(SentModel):
    prdId: str
    title: str
    status: str
    version: str
    updatedBy: Actor
    updatedAt: int


class DocumentJoined(LargeContentHead):
    """The document as of ``seq``: its text and Yjs ``state`` (null when too large for a frame:
    then ``contentUrl``, or ``parts`` ``document:part`` events), who is here, comments, versions."""

    prdId: str
    currentContent: str | None  # always sent, unlike in a catch-up
    state: str | None
    version: str
    seq: int
    vectorClock: dict[str, int]
    clockKey: str | None
    sessionId: str
    positionEncoding: PositionEncoding
    color: str
    activeSessions: list[PresenceUpdated]
    commentCount: int
    comments: list[CommentThread]
    commentsCursor: str | None
    openSuggestions: int
    approvedVersion: str | None
    changedSinceApproval: bool
    versionsSince: list[VersionCreated] | None = None
    versionsSinceCursor: str | None = None


# What this area sends, each with its payload's model (registered with ``Router.sends``).
SENT: dict[str, type[SentModel]] = {
    "document:created": DocumentCreated,
    "document:updated": DocumentUpdated,
    "document:joined": DocumentJoined,
}
