"""The payloads of the integration events."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from prdtool.kernel.payloads import EventModel, Id

__all__ = ["ChatEvent", "IntegrationConfigure"]

ChatEvent = Literal["comment", "mention", "document", "approval", "version"]


class IntegrationConfigure(EventModel):
    prdId: str = Id
    type: Literal["mattermost"]
    webhookUrl: str = Field(min_length=1, max_length=2000)
    channel: str | None = Field(default=None, min_length=1, max_length=64)
    events: list[ChatEvent] | None = Field(default=None, min_length=1, max_length=5)
