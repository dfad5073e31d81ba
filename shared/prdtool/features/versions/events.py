"""The payloads of the version and approval events (spec sections 4.2 and 5.1, and our extensions)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from prdtool.engine.events import VersionCreated
from prdtool.kernel.payloads import Actor, EventModel, Id, SentModel, UserIds

__all__ = [
    "SENT",
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


def _no_nul(text: str) -> str:
    # Git keeps messages as C strings: a NUL would cut them.
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


def _within_bytes(limit: int) -> AfterValidator:
    def check(text: str) -> str:
        if len(text.encode()) > limit:
            raise ValueError(f"must be at most {limit} bytes of UTF-8")
        return text

    return AfterValidator(check)


MAX_CHANGELOG = 5000
MAX_MESSAGE = 2000
# A decision's note, in UTF-8 bytes: an approval of 50 approvers, each with one, still fits a frame.
MAX_NOTE_BYTES = 1000


class VersionCreate(EventModel):
    """Extension: commit the current text as a new version."""

    prdId: str = Id
    changelog: Annotated[str, Field(min_length=1, max_length=MAX_CHANGELOG), AfterValidator(_no_nul)]
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
    comment: Annotated[str, _within_bytes(MAX_NOTE_BYTES)] | None = None


class ApprovalReject(EventModel):
    """Extension: a named approver asks for changes."""

    approvalId: str = Id
    reason: Annotated[str, Field(min_length=1), _within_bytes(MAX_NOTE_BYTES)]


class ApprovalList(EventModel):
    prdId: str = Id
    cursor: str | None = Field(default=None, max_length=300)


# ---------------------------------------------------------------- sent


class VersionUpdated(SentModel):
    """A version's status changed (in review, approved, changes requested)."""

    prdId: str
    version: str
    status: str
    commitHash: str
    updatedBy: Actor
    updatedAt: str
    approvalId: str | None = None


class ApprovalNotice(SentModel):
    """What every approval event names; pushed from the inbox, it also carries the item's id."""

    approvalId: str
    prdId: str
    version: str
    notificationId: str | None = None
    createdAt: str | None = None


class ApprovalRequested(ApprovalNotice):
    """You are asked to approve a version (also an item of your inbox)."""

    commitHash: str
    requester: Actor
    message: str
    title: str | None = None


class ApprovalGranted(ApprovalNotice):
    approver: Actor
    remaining: int  # approvals still missing
    comment: str | None = None


class ApprovalRejected(ApprovalNotice):
    approver: Actor
    reason: str


# What this area sends, each with its payload's model (registered with ``Router.sends``).
SENT: dict[str, type[SentModel]] = {
    "version:created": VersionCreated,
    "version:updated": VersionUpdated,
    "approval:requested": ApprovalRequested,
    "approval:granted": ApprovalGranted,
    "approval:rejected": ApprovalRejected,
}
