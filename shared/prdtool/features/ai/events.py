"""The payloads of the AI events: generating a section and steering its stream, and the
suggestions the server offers as people write."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from prdtool.kernel.payloads import EventModel, Id

__all__ = [
    "DISMISS_REASONS",
    "AiGenerate",
    "AiGenerateContext",
    "AiStreamControl",
    "SuggestionApply",
    "SuggestionDismiss",
    "SuggestionList",
]

DISMISS_REASONS = ("not_relevant", "incorrect", "already_done", "other")


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


class SuggestionApply(EventModel):
    suggestionId: str = Id
    prdId: str = Id


class SuggestionDismiss(EventModel):
    """``reason`` is one of the spec's; ``note`` (extension) says more, in the user's words."""

    suggestionId: str = Id
    reason: Literal["not_relevant", "incorrect", "already_done", "other"]
    note: str = Field(default="", max_length=1000)
    prdId: str | None = Field(default=None, min_length=1, max_length=200)  # extension: checked if given


class SuggestionList(EventModel):
    prdId: str = Id
