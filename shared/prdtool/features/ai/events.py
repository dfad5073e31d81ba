"""The payloads of the AI events: generating a section and steering its stream, and the
suggestions the server offers as people write."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from prdtool.kernel.payloads import Actor, EventModel, Id, SentModel

__all__ = [
    "DISMISS_REASONS",
    "SENT",
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


# ---------------------------------------------------------------- sent


class StreamStart(SentModel):
    streamId: str
    estimatedTokens: int
    provider: str  # openai or offline
    model: str


class StreamChunk(SentModel):
    """The next piece of the generated text; ``position`` is its offset in that text."""

    streamId: str
    chunk: str
    position: int


class StreamComplete(SentModel):
    """The whole text, and the op that would insert it at the end of its section."""

    streamId: str
    totalTokens: int
    content: str
    suggestedOperations: list[dict[str, Any]]


class StreamError(SentModel):
    """The stream ended without its text (codes in docs/ai.md)."""

    streamId: str
    code: str
    message: str


class Suggestion(SentModel):
    """An improvement the review offers: apply it with ``ai:suggestion-apply``."""

    prdId: str
    suggestionId: str
    type: str
    section: str
    title: str
    description: str
    priority: str
    suggestedContent: str
    position: int


class SuggestionApplied(SentModel):
    prdId: str
    suggestionId: str
    by: Actor
    seq: int


class SuggestionDismissed(SentModel):
    prdId: str
    suggestionId: str
    by: Actor
    reason: str


class SuggestionWithdrawn(SentModel):
    """The suggestion no longer applies: its text was deleted, or changed so it no longer fits."""

    prdId: str
    suggestionId: str
    reason: Literal["anchor_deleted", "no_longer_applies"]


# What this area sends, each with its payload's model (registered with ``Router.sends``).
SENT: dict[str, type[SentModel]] = {
    "ai:stream-start": StreamStart,
    "ai:stream-chunk": StreamChunk,
    "ai:stream-complete": StreamComplete,
    "ai:stream-error": StreamError,
    "ai:suggestion": Suggestion,
    "ai:suggestion-applied": SuggestionApplied,
    "ai:suggestion-dismissed": SuggestionDismissed,
    "ai:suggestion-withdrawn": SuggestionWithdrawn,
}
