"""Payload models for the client-to-server events of the API, with the spec's field names.

One model per event (``docs/events.md`` and ``websocket-api.md``). ``CLIENT_EVENTS`` maps each event
name to its model: the router validates with it, and the template test checks that every event
has a native route in ``template.yaml``. Unknown extra fields are ignored so that newer clients
keep working against an older server.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CLIENT_EVENTS",
    "AiGenerate",
    "AiGenerateContext",
    "AiStreamControl",
    "AiSuggestionApply",
    "AiSuggestionDismiss",
    "ApprovalRequest",
    "CRDTOperation",
    "CommentAdd",
    "ConflictResolve",
    "DocumentJoin",
    "DocumentLeave",
    "DocumentUpdate",
    "EventModel",
    "OperationEdit",
    "Position",
    "PresenceCursor",
    "PresenceStatus",
    "Selection",
    "SessionInfo",
    "SessionRecover",
]

Id = Field(min_length=1, max_length=200)


class EventModel(BaseModel):
    """Base of every client event payload."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Position(EventModel):
    """A place in the text as editors show it: zero-based line and character."""

    line: int = Field(ge=0)
    ch: int = Field(ge=0)


class Selection(EventModel):
    start: Position
    end: Position


class CRDTOperation(EventModel):
    type: Literal["insert", "delete", "retain", "format"]
    position: int = Field(ge=0)
    length: int | None = Field(default=None, ge=0)
    content: str | None = None
    attributes: dict[str, Any] | None = None
    vectorClock: dict[str, int]


class DocumentJoin(EventModel):
    prdId: str = Id
    mode: Literal["view", "edit", "comment"]
    lastKnownVersion: str | None = None


class DocumentLeave(EventModel):
    prdId: str = Id


class DocumentUpdate(EventModel):
    prdId: str = Id
    title: str | None = Field(default=None, min_length=1, max_length=500)
    status: str | None = Field(default=None, min_length=1, max_length=50)


class OperationEdit(EventModel):
    prdId: str = Id
    operation: CRDTOperation


class PresenceCursor(EventModel):
    prdId: str = Id
    cursor: Position
    selection: Selection | None = None


class PresenceStatus(EventModel):
    prdId: str = Id
    status: Literal["typing", "idle", "away"]


class AiGenerateContext(EventModel):
    previousContent: str | None = None
    relatedSections: list[str] = []


class AiGenerate(EventModel):
    prdId: str = Id
    prompt: str = Field(min_length=1, max_length=20_000)
    section: str = Id
    context: AiGenerateContext = AiGenerateContext()
    streamId: str = Id


class AiStreamControl(EventModel):
    """``ai:stream-pause``, ``ai:stream-resume`` and ``ai:stream-cancel``."""

    streamId: str = Id


class AiSuggestionApply(EventModel):
    suggestionId: str = Id
    prdId: str = Id


class AiSuggestionDismiss(EventModel):
    suggestionId: str = Id
    reason: str | None = None


class CommentAdd(EventModel):
    prdId: str = Id
    content: str = Field(min_length=1, max_length=20_000)
    position: Position
    selection: Selection | None = None
    mentions: list[str] = []


class ApprovalRequest(EventModel):
    prdId: str = Id
    version: str = Id
    approvers: list[str] = Field(min_length=1)
    message: str | None = None


class ConflictResolve(EventModel):
    conflictId: str = Id
    resolution: Literal["manual", "auto", "ai"]
    chosenOperations: list[str] | None = None
    mergedContent: str | None = None


class SessionRecover(EventModel):
    activeSessions: list[str]
    lastVectorClocks: dict[str, dict[str, int]] = {}


class SessionInfo(EventModel):
    """Our extension: ask who the server thinks this connection is."""


CLIENT_EVENTS: dict[str, type[EventModel]] = {
    "document:join": DocumentJoin,
    "document:leave": DocumentLeave,
    "document:update": DocumentUpdate,
    "operation:edit": OperationEdit,
    "presence:cursor": PresenceCursor,
    "presence:status": PresenceStatus,
    "ai:generate": AiGenerate,
    "ai:stream-pause": AiStreamControl,
    "ai:stream-resume": AiStreamControl,
    "ai:stream-cancel": AiStreamControl,
    "ai:suggestion-apply": AiSuggestionApply,
    "ai:suggestion-dismiss": AiSuggestionDismiss,
    "comment:add": CommentAdd,
    "approval:request": ApprovalRequest,
    "conflict:resolve": ConflictResolve,
    "session:recover": SessionRecover,
    "session:info": SessionInfo,
}
