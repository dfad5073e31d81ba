"""The events the kernel sends itself, whatever the feature: a failed request, a token refused or
about to expire, a security alert, rate limits, and the parts of a reply too large for a frame.

Their models are the contract of what the kernel sends (``Router.sends``); the areas declare
their own events beside them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from prdtool.kernel.errors import ERROR_EVENT
from prdtool.kernel.payloads import SentModel
from prdtool.kernel.router import Router

__all__ = ["register"]


# An ErrorCode, or for a failed model call (an AI resolution) one of the AI area's ``AI_*`` codes.
Code = Annotated[str, Field(description="An ErrorCode (docs/events.md), or an AI_* code (docs/ai.md)")]


class ErrorOperation(SentModel):
    """A client event failed and asked for no ack."""

    operation: str | None  # null when the frame could not be read far enough to know the event
    code: Code
    message: str
    data: dict[str, Any] | None = None


class AuthError(SentModel):
    """A token refused on an open connection: it expired (the connection is being closed), or
    ``session:refresh`` was refused."""

    code: Code
    message: str
    data: dict[str, Any]


class SessionExpiring(SentModel):
    """The connection's token expires soon: send ``session:refresh`` with a fresh one."""

    expiresAt: str
    refreshWith: Literal["session:refresh"]


class SecurityAlert(SentModel):
    """Something about this account: failed sign-ins, an ended session, a mass deletion."""

    type: str
    message: str
    action: str
    blockedUntil: str | None = None
    # A mass deletion (the owner of the PRD is told, with what restores it).
    prdId: str | None = None
    userId: str | None = None
    restorePointId: str | None = None
    deletedBytes: int | None = None
    documentBytes: int | None = None


class RateLimitWarning(SentModel):
    """Few requests of ``endpoint`` are left until ``resetAt``."""

    endpoint: str
    remaining: int
    resetAt: str


class RateLimitExceeded(SentModel):
    """A request of ``endpoint`` was refused (``RATE_LIMITED``); the next may come in ``retryAfter`` s."""

    endpoint: str
    retryAfter: int


class DocumentPart(SentModel):
    """A slice of a reply too large for one frame: join the slices of each field in ``part`` order.
    A document's (join, sync, recover) carries ``currentContent`` and ``state``; a version's
    ``content`` (``version:get``) or ``diff`` (``version:diff``)."""

    prdId: str | None
    seq: int | None
    part: int
    parts: int
    currentContent: str | None = None
    state: str | None = None
    content: str | None = None
    diff: str | None = None
    version: str | None = None
    from_: str | None = Field(default=None, alias="from")  # a Python keyword: the wire name is the alias
    to: str | None = None


def register(router: Router) -> None:
    router.sends(ERROR_EVENT, ErrorOperation)
    router.sends("error:auth", AuthError)
    router.sends("session:expiring", SessionExpiring)
    router.sends("security:alert", SecurityAlert)
    router.sends("rate_limit:warning", RateLimitWarning)
    router.sends("rate_limit:exceeded", RateLimitExceeded)
    router.sends("document:part", DocumentPart)
