"""The payloads of the document events: create, share, update, join and leave."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from prdtool.engine.downloads import LargeContent
from prdtool.engine.positions import DEFAULT_ENCODING, PositionEncoding
from prdtool.kernel.payloads import EventModel, Id

__all__ = ["DocumentCreate", "DocumentJoin", "DocumentLeave", "DocumentRestore", "DocumentShare", "DocumentUpdate"]


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
