"""The payload of ``conflict:resolve``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from prdtool.kernel.payloads import EventModel, Id, Key

__all__ = ["ConflictResolve"]


class ConflictResolve(EventModel):
    conflictId: str = Id
    resolution: Literal["manual", "auto", "ai"]
    chosenOperations: list[Key] | None = Field(default=None, max_length=2)
    mergedContent: str | None = None
