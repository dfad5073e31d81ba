"""Linking a PRD to a chat channel. The webhook URL is a credential (its key lets anyone post to
the channel): it is kept encrypted in SSM, and never shown again in full."""

from __future__ import annotations

from typing import Any

from prdtool.engine.chat import CHAT_EVENTS
from prdtool.engine.context import RequestContext
from prdtool.engine.document_records import ChatLink
from prdtool.features.integrations.events import IntegrationConfigure
from prdtool.features.integrations.mattermost import check_webhook_url
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.router import Router

__all__ = ["register"]


def integration_configure(ctx: RequestContext, data: IntegrationConfigure) -> dict[str, Any]:
    services = ctx.services
    services.documents.existing(data.prdId)
    services.access.require(ctx.principal, data.prdId, "owner", "Configuring integrations", fresh=True)
    if not services.settings.chat_queue_url:
        raise AppError(ErrorCode.NOT_AVAILABLE, "Chat notifications are not set up on this server")
    try:
        webhook = check_webhook_url(data.webhookUrl)
    except ValueError as exc:
        raise AppError(ErrorCode.VALIDATION_FAILED, f"Invalid payload: webhookUrl: {exc}",
                       {"errors": [{"field": "webhookUrl", "message": str(exc)}]}) from exc  # fmt: skip
    events = list(dict.fromkeys(data.events)) if data.events else list(CHAT_EVENTS)
    parameter = f"{services.settings.chat_parameter_prefix.rstrip('/')}/{data.prdId}/{data.type}"
    # The secret first, the link after: a link never names a webhook that is not stored. A
    # failure in between (or two owners at once) can leave the new URL under the old link's
    # description until the next configure, which writes both again.
    services.store_chat_webhook(parameter, webhook.url)
    services.documents.link_chat(
        ChatLink(
            data.prdId,
            platform=data.type,
            parameter=parameter,
            host=webhook.host,
            key_tail=webhook.key_tail,
            channel=data.channel,
            events=events,
            configured_by=ctx.principal.user_id,
            configured_at=ctx.now_ms,
        )
    )
    return {
        "prdId": data.prdId,
        "type": data.type,
        "webhookUrl": webhook.masked,
        "host": webhook.host,
        "keyLast4": webhook.key_tail,
        "channel": data.channel,
        "events": events,
    }


def register(router: Router) -> None:
    router.on("integration:configure", IntegrationConfigure)(integration_configure)
