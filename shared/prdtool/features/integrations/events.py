"""The payloads of the integration events."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from prdtool.engine.user_stories import ISSUE_KEY
from prdtool.kernel.payloads import EventModel, Id, SentModel

__all__ = [
    "REQUIRED_BY_TYPE",
    "SENT",
    "ChatEvent",
    "IntegrationConfigure",
    "IntegrationStatus",
    "IntegrationSync",
]

ChatEvent = Literal["comment", "mention", "document", "approval", "version", "jira"]

MAX_RESOLVE = 200  # conflicts settled by one sync
IssueKey = Annotated[str, StringConstraints(pattern=rf"^{ISSUE_KEY.pattern}$", max_length=40)]

# What each kind of integration needs (the others' fields are ignored).
REQUIRED_BY_TYPE = {
    "mattermost": ("webhookUrl",),
    "jira": ("baseUrl", "projectKey", "email", "apiToken"),
}


class IntegrationConfigure(EventModel):
    """``integration:configure``: a Mattermost channel (``webhookUrl``, ``channel``, ``events``)
    or a Jira Cloud project (``baseUrl``, ``projectKey``, ``email``, ``apiToken``, ``issueType``,
    ``webhookSecret``)."""

    prdId: str = Id
    type: Literal["mattermost", "jira"]
    webhookUrl: str | None = Field(default=None, min_length=1, max_length=2000)
    channel: str | None = Field(default=None, min_length=1, max_length=64)
    events: list[ChatEvent] | None = Field(default=None, min_length=1, max_length=6)
    baseUrl: str | None = Field(default=None, min_length=1, max_length=200)
    projectKey: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]{0,9}$")  # Jira's default key rule
    email: str | None = Field(default=None, min_length=3, max_length=254, pattern=r"^[^\s:@]+@[^\s:@]+$")
    apiToken: str | None = Field(default=None, min_length=1, max_length=1000, pattern=r"^\S+$")
    issueType: str = Field(default="Story", min_length=1, max_length=60)
    webhookSecret: str | None = Field(default=None, min_length=16, max_length=200)

    @model_validator(mode="after")
    def _has_what_its_type_needs(self) -> Self:
        missing = [name for name in REQUIRED_BY_TYPE[self.type] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"type {self.type!r} needs {', '.join(missing)}")
        return self


class IntegrationStatus(EventModel):
    """``integration:status`` (extension): a PRD's Jira link and its stories' issues."""

    prdId: str = Id
    type: Literal["jira"] = "jira"


class IntegrationSync(EventModel):
    """``integration:sync`` (extension): the PRD's user stories to its Jira project; ``resolve``
    settles conflicts a sync reported: for each issue, whose words win (``prd`` is sent to Jira,
    ``jira`` is kept as it is)."""

    prdId: str = Id
    type: Literal["jira"]
    resolve: dict[IssueKey, Literal["prd", "jira"]] | None = Field(default=None, max_length=MAX_RESOLVE)


# ---------------------------------------------------------------- sent


class StoryOutcome(SentModel):
    title: str
    issueKey: str | None
    error: str


class SyncStatus(SentModel):
    """How a Jira sync is going (``in_progress``, then ``completed``, ``conflicts`` or ``failed``)."""

    type: Literal["jira"]
    prdId: str
    status: str
    progress: int
    message: str
    syncId: str
    created: int | None = None
    updated: int | None = None
    unchanged: int | None = None
    conflicts: int | None = None
    failed: int | None = None
    errors: list[StoryOutcome] | None = None
    conflicted: list[StoryOutcome] | None = None
    removed: list[str] | None = None


class IntegrationNotification(SentModel):
    """A linked Jira issue changed in Jira."""

    type: Literal["jira"]
    prdId: str
    issueKey: str
    storyTitle: str
    change: str
    message: str


class NotificationSent(SentModel):
    """A chat post went out (or failed, with ``error``)."""

    platform: str
    channel: str | None
    message: str
    success: bool
    error: str | None = None


# What this area sends, each with its payload's model (registered with ``Router.sends``).
SENT: dict[str, type[SentModel]] = {
    "integration:sync-status": SyncStatus,
    "integration:notification": IntegrationNotification,
    "notification:sent": NotificationSent,
}
