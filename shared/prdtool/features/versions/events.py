"""The payloads of the version and approval events (spec sections 4.2 and 5.1, and our extensions)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from prdtool.kernel.payloads import EventModel, Id, UserIds

__all__ = [
    "ApprovalGrant",
    "ApprovalList",
    "ApprovalReject",
    "ApprovalRequest",
    "VersionCreate",
    "VersionDiff",
    "VersionGet",
    "VersionList",
    "VersionRestore",
]

Label = Field(min_length=1, max_length=100)
MAX_CHANGELOG = 5000
MAX_MESSAGE = 2000
# A decision's note: an approval of 50 approvers, each with one, still fits a frame.
MAX_NOTE = 1000


class VersionCreate(EventModel):
    """Extension: commit the current text as a new version."""

    prdId: str = Id
    changelog: str = Field(min_length=1, max_length=MAX_CHANGELOG)
    version: str | None = Field(default=None, min_length=1, max_length=100)
    bump: Literal["major", "minor", "patch"] = "minor"


class VersionList(EventModel):
    prdId: str = Id
    cursor: str | None = Field(default=None, max_length=100)


class VersionGet(EventModel):
    prdId: str = Id
    version: str = Label


class VersionDiff(EventModel):
    prdId: str = Id
    from_: str = Field(alias="from", min_length=1, max_length=100)
    to: str | None = Field(default=None, min_length=1, max_length=100)  # None: the live text


class VersionRestore(EventModel):
    prdId: str = Id
    version: str = Label


class ApprovalRequest(EventModel):
    prdId: str = Id
    version: str = Label
    approvers: UserIds = Field(min_length=1)
    message: str = Field(default="", max_length=MAX_MESSAGE)


class ApprovalGrant(EventModel):
    """Extension: a named approver approves."""

    approvalId: str = Id
    comment: str | None = Field(default=None, max_length=MAX_NOTE)


class ApprovalReject(EventModel):
    """Extension: a named approver asks for changes."""

    approvalId: str = Id
    reason: str = Field(min_length=1, max_length=MAX_NOTE)


class ApprovalList(EventModel):
    prdId: str = Id
    cursor: str | None = Field(default=None, max_length=300)
