"""Payload models for the client-to-server events of the API, with the spec's field names.

One model per event (``docs/events.md`` and ``websocket-api.md``). ``CLIENT_EVENTS`` maps each event
name to its model: the router validates with it, and the template test checks that every event
has a native route in ``template.yaml``. Unknown extra fields are ignored so that newer clients
keep working against an older server.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

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

# Limits on what one payload may hold, so no frame can cause unbounded work (docs/events.md lists
# them). A frame is at most 32 KB; these bound lists and numbers that a small frame can still make
# expensive (a list of 3,000 PRD ids, a counter of 10**30).
MAX_RECOVERED_SESSIONS = 20
MAX_CLOCK_KEYS = 1000
MAX_NUMBER = 2**53 - 1  # JavaScript's largest safe integer: every client can count this far
MAX_USERS = 50
MAX_ATTRIBUTES = 32

Key = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Counter = Annotated[int, Field(ge=0, le=MAX_NUMBER)]
VectorClock = Annotated[dict[Key, Counter], Field(max_length=MAX_CLOCK_KEYS)]
UserIds = Annotated[list[Key], Field(max_length=MAX_USERS)]


class EventModel(BaseModel):
    """Base of every client event payload."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Position(EventModel):
    """A place in the text as editors show it: zero-based line and character."""

    line: int = Field(ge=0, le=MAX_NUMBER)
    ch: int = Field(ge=0, le=MAX_NUMBER)


class Selection(EventModel):
    start: Position
    end: Position


class CRDTOperation(EventModel):
    type: Literal["insert", "delete", "retain", "format"]
    position: int = Field(ge=0, le=MAX_NUMBER)
    length: int | None = Field(default=None, ge=0, le=MAX_NUMBER)
    content: str | None = None
    attributes: dict[str, Any] | None = Field(default=None, max_length=MAX_ATTRIBUTES)
    # Required on a single operation; in a batch, one vectorClock stands beside the list.
    vectorClock: VectorClock | None = None


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
    sinceSeq: int = Field(ge=0, le=MAX_NUMBER)


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
    vectorClock: VectorClock | None = None
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
    mentions: UserIds = []


class ApprovalRequest(EventModel):
    prdId: str = Id
    version: str = Id
    approvers: UserIds = Field(min_length=1)
    message: str | None = None


class ConflictResolve(EventModel):
    conflictId: str = Id
    resolution: Literal["manual", "auto", "ai"]
    chosenOperations: list[Key] | None = Field(default=None, max_length=2)
    mergedContent: str | None = None


class SessionRecover(EventModel):
    activeSessions: list[Key] = Field(max_length=MAX_RECOVERED_SESSIONS)
    lastVectorClocks: Annotated[dict[Key, VectorClock], Field(max_length=MAX_RECOVERED_SESSIONS)] = {}


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
