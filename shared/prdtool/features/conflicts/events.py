"""The payload of ``conflict:resolve``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from prdtool.engine.events import ConflictDetected, ConflictResolved, OperationConflict
from prdtool.kernel.payloads import EventModel, Id, Key, SentModel

__all__ = ["SENT", "ConflictResolve"]


class ConflictResolve(EventModel):
    conflictId: str = Id
    resolution: Literal["manual", "auto", "ai"]
    chosenOperations: list[Key] | None = Field(default=None, max_length=2)
    mergedContent: str | None = None


# What this area sends, each with its payload's model (registered with ``Router.sends``).
SENT: dict[str, type[SentModel]] = {
    "conflict:detected": ConflictDetected,
    "operation:conflict": OperationConflict,
    "conflict:resolved": ConflictResolved,
}
