"""What every event payload is built from: the base models, and the field types and limits the
areas share.

Each feature area keeps its events' models in its own ``events.py`` (with the spec's field names),
and registers each with the router: a client event's (``EventModel``) is what the server validates
with, and ignores unknown extra fields so that newer clients keep working against an older server;
a server event's (``SentModel``) says what the server sends, every field of it, and the handler
tests check every payload sent against it. Both make the published contract (``make contract``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "MAX_CLOCK_KEYS",
    "MAX_NUMBER",
    "MAX_USERS",
    "Actor",
    "Counter",
    "EventModel",
    "Id",
    "Key",
    "Position",
    "Selection",
    "SentModel",
    "UserIds",
    "VectorClock",
]

Id = Field(min_length=1, max_length=200)

# Limits on what one payload may hold, so no frame can cause unbounded work (docs/events.md lists
# them). A frame is at most 32 KB; these bound lists and numbers that a small frame can still make
# expensive (a list of 3,000 PRD ids, a counter of 10**30).
MAX_CLOCK_KEYS = 1000
MAX_NUMBER = 2**53 - 1  # JavaScript's largest safe integer: every client can count this far
MAX_USERS = 50

Key = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Counter = Annotated[int, Field(ge=0, le=MAX_NUMBER)]
VectorClock = Annotated[dict[Key, Counter], Field(max_length=MAX_CLOCK_KEYS)]
UserIds = Annotated[list[Key], Field(max_length=MAX_USERS)]


class EventModel(BaseModel):
    """Base of every client event payload."""

    # Validators are built on first use, not at import: a cold start pays only for the events it serves.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class Position(EventModel):
    """A place in the text as editors show it: zero-based line and character."""

    line: int = Field(ge=0, le=MAX_NUMBER)
    ch: int = Field(ge=0, le=MAX_NUMBER)


class Selection(EventModel):
    start: Position
    end: Position


class SentModel(BaseModel):
    """Base of every server event payload: every field it may carry is named (extra fields are
    refused), so a payload that grows without its model fails the tests, not a client."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class Actor(SentModel):
    """Who did something: a user's id and display name."""

    id: str
    name: str
