"""Payload models for the client-to-server events of the API, with the spec's field names.

One model per event (``docs/events.md`` and ``websocket-api.md``). ``CLIENT_EVENTS`` maps each event
name to its model: the router validates with it, and the template test checks that every event
has a native route in ``template.yaml``. Unknown extra fields are ignored so that newer clients
keep working against an older server.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    "DocumentCreate",
    "DocumentJoin",
    "DocumentLeave",
    "DocumentShare",
    "DocumentSync",
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
    # Required on a single operation; in a batch, one vectorClock stands beside the list.
    vectorClock: dict[str, int] | None = None


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
    positionEncoding: Literal["utf-16", "utf-32"] = "utf-16"


class DocumentSync(EventModel):
    """Our extension: the operations after ``sinceSeq``, for a gap found while connected."""

    prdId: str = Id
    sinceSeq: int = Field(ge=0)


class DocumentLeave(EventModel):
    prdId: str = Id


class DocumentUpdate(EventModel):
    prdId: str = Id
    title: str | None = Field(default=None, min_length=1, max_length=500)
    status: str | None = Field(default=None, min_length=1, max_length=50)


class OperationEdit(EventModel):
    """One operation, a batch applied as one transaction, or a Yjs update (base64)."""

    prdId: str = Id
    operation: CRDTOperation | None = None
    operations: list[CRDTOperation] | None = Field(default=None, min_length=1, max_length=1000)
    update: str | None = Field(default=None, min_length=1)
    vectorClock: dict[str, int] | None = None
    opId: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_kind(self) -> OperationEdit:
        given = [name for name in ("operation", "operations", "update") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("send exactly one of operation, operations or update")
        if self.operation is not None and self.operation.vectorClock is None and self.vectorClock is None:
            raise ValueError("operation.vectorClock is required")
        if self.operations is not None and self.vectorClock is None:
            raise ValueError("a batch needs one vectorClock beside its operations")
        return self

    @property
    def clock(self) -> dict[str, int] | None:
        if self.operation is not None and self.operation.vectorClock is not None:
            return self.operation.vectorClock
        return self.vectorClock


class PresenceCursor(EventModel):
    prdId: str = Id
    cursor: Position
    selection: Selection | None = None


class PresenceStatus(EventModel):
    prdId: str = Id
    status: Literal["typing", "idle", "away"]


class AiGenerateContext(EventModel):
    previousContent: str | None = Field(default=None, max_length=100_000)
    relatedSections: list[str] = Field(default=[], max_length=20)


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
    "document:create": DocumentCreate,
    "document:share": DocumentShare,
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
    "document:sync": DocumentSync,
    "session:info": SessionInfo,
}
