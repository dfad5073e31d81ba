"""The payloads of the editing events: operations, catching up, recovering sessions."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from prdtool.engine.crdt import MAX_ATTRIBUTES, is_state_vector
from prdtool.engine.events import AppliedOperation, LargeContentHead, OperationApplied
from prdtool.kernel.payloads import MAX_NUMBER, EventModel, Id, Key, SentModel, VectorClock

__all__ = [
    "MAX_RECOVERED_SESSIONS",
    "SENT",
    "CRDTOperation",
    "DocumentSync",
    "OperationEdit",
    "SessionRecover",
]

MAX_RECOVERED_SESSIONS = 20


def _state_vector(value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if not is_state_vector(raw):
        raise ValueError("not a Yjs state vector (Y.encodeStateVector, base64)")
    return value


# Our extension for Yjs clients: with it, a catch-up also carries ``update``, what the server holds
# that this state vector lacks, to apply with Y.applyUpdate (Yjs's own sync step 2).
StateVector = Annotated[
    str,
    Field(min_length=1, max_length=65_536, description="base64 of Y.encodeStateVector(doc)"),
    AfterValidator(_state_vector),
]


class CRDTOperation(EventModel):
    type: Literal["insert", "delete", "retain", "format"]
    position: int = Field(ge=0, le=MAX_NUMBER)
    length: int | None = Field(default=None, ge=0, le=MAX_NUMBER)
    content: str | None = None
    attributes: dict[str, Any] | None = Field(default=None, max_length=MAX_ATTRIBUTES)
    # Required on a single operation; in a batch, one vectorClock stands beside the list.
    vectorClock: VectorClock | None = None


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


class DocumentSync(EventModel):
    """Our extension: the operations after ``sinceSeq``, for a gap found while connected."""

    prdId: str = Id
    sinceSeq: int = Field(ge=0, le=MAX_NUMBER)
    stateVector: StateVector | None = None


class SessionRecover(EventModel):
    activeSessions: list[Key] = Field(max_length=MAX_RECOVERED_SESSIONS)
    lastVectorClocks: Annotated[dict[Key, VectorClock], Field(max_length=MAX_RECOVERED_SESSIONS)] = {}
    stateVectors: Annotated[dict[Key, StateVector], Field(max_length=MAX_RECOVERED_SESSIONS)] = {}


# ---------------------------------------------------------------- sent


class DocumentSynced(LargeContentHead):
    """The entries after ``fromSeq`` (and, for a Yjs client's state vector, the ``update`` it
    lacks), or with ``fullResync`` the whole document (as ``document:joined`` sends it)."""

    prdId: str
    seq: int
    vectorClock: dict[str, int]
    fromSeq: int | None = None
    operations: list[AppliedOperation] | None = None
    update: str | None = None
    fullResync: bool | None = None


class RecoveredSession(LargeContentHead):
    """One document of ``session:recovered``: what was missed since the clock sent, or a full
    resync, or ``error`` for a document that is gone."""

    prdId: str
    seq: int | None = None
    fromSeq: int | None = None
    missedOperations: list[AppliedOperation] | None = None
    currentVectorClock: dict[str, int] | None = None
    clockKey: str | None = None
    update: str | None = None
    fullResync: bool | None = None
    error: dict[str, Any] | None = None


class SessionRecovered(SentModel):
    sessions: list[RecoveredSession]


# What this area sends, each with its payload's model (registered with ``Router.sends``).
SENT: dict[str, type[SentModel]] = {
    "operation:applied": OperationApplied,
    "document:synced": DocumentSynced,
    "session:recovered": SessionRecovered,
}
