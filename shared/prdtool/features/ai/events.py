"""The payloads of the AI events: generating a section and steering its stream."""

from __future__ import annotations

from pydantic import Field

from prdtool.kernel.payloads import EventModel, Id

__all__ = ["AiGenerate", "AiGenerateContext", "AiStreamControl"]


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
