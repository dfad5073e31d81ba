"""Telling a document's chat channel what happened: the one way any area posts to chat.

A document linked to a channel (``integration:configure``) names the kinds of events it wants.
``tell_chat`` queues the post for the notifier function and returns: the frame that caused it
never waits for a chat server, and a chat server that fails never fails the frame. The notifier
reports the outcome (``notification:sent``) to the connection whose action caused the post.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prdtool.kernel.observability import logger
from prdtool.kernel.sender import Recipient

if TYPE_CHECKING:
    from prdtool.engine.services import Services

__all__ = ["CHAT_EVENTS", "CHAT_PLATFORMS", "excerpt", "link_to", "tell_chat"]

CHAT_EVENTS = ("comment", "mention", "document", "approval", "version", "jira")
CHAT_PLATFORMS = ("mattermost",)
EXCERPT_CHARS = 200


def tell_chat(services: Services, prd_id: str, kind: str, text: str, requester: Recipient | None) -> bool:
    """Queue ``text`` (markdown) for every chat channel of ``prd_id`` that wants ``kind``; True
    when one was queued. Never raises: a chat post is never worth failing the action for."""
    if not services.settings.chat_queue_url:
        return False
    queued = False
    for platform in CHAT_PLATFORMS:
        try:
            link = services.documents.chat_link(prd_id, platform)
            if link is None or kind not in (link.events or ()):
                continue
            body: dict[str, Any] = {
                "platform": platform,
                "prdId": prd_id,
                "kind": kind,
                "text": text,
                "parameter": link.parameter,
                "channel": link.channel,
                "requester": None,
            }
            if requester is not None:
                body["requester"] = {
                    "connectionId": requester.connection_id,
                    "protocol": requester.protocol,
                    "namespace": requester.namespace,
                }
            services.queue_chat_post(body)
            queued = True
        except Exception:  # noqa: BLE001 - the action succeeded; only its chat post is lost
            logger.exception("a chat post could not be queued", extra={"prdId": prd_id, "kind": kind})
    return queued


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of ``text`` on one line, cut at a word when it is long."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] or flat[:limit]
    return cut + "…"


def link_to(services: Services, prd_id: str, comment_id: str | None = None) -> str | None:
    """The web app's address of a document (or one of its comments), when the app's URL is set."""
    base = services.settings.app_url.rstrip("/")
    if not base:
        return None
    return f"{base}/prd/{prd_id}" + (f"#comment-{comment_id}" if comment_id else "")
