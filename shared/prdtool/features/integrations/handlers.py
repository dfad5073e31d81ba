"""Linking a PRD to a chat channel or a Jira Cloud project. A webhook URL (its key lets anyone
post to the channel) and a Jira API token are credentials: they are kept encrypted in SSM, and
never shown again (a URL only masked)."""

from __future__ import annotations

from typing import Any

from prdtool.engine.chat import CHAT_EVENTS
from prdtool.engine.context import RequestContext
from prdtool.engine.document_records import ChatLink
from prdtool.features.integrations.events import SENT, IntegrationConfigure, IntegrationStatus, IntegrationSync
from prdtool.features.integrations.jira_link import configure_jira, jira_status, start_sync
from prdtool.features.integrations.mattermost import check_webhook_url
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.router import Router

__all__ = ["register"]


def integration_configure(ctx: RequestContext, data: IntegrationConfigure) -> dict[str, Any]:
    services = ctx.services
    services.documents.existing(data.prdId)
    services.access.require(ctx.principal, data.prdId, "owner", "Configuring integrations", fresh=True)
    if data.type == "jira":
        return configure_jira(ctx, data)
    return _configure_mattermost(ctx, data)


def _configure_mattermost(ctx: RequestContext, data: IntegrationConfigure) -> dict[str, Any]:
    services = ctx.services
    assert data.webhookUrl is not None  # the payload model requires it for this type
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
    services.store_secret(parameter, webhook.url)
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


def integration_status(ctx: RequestContext, data: IntegrationStatus) -> dict[str, Any]:
    services = ctx.services
    services.documents.existing(data.prdId)
    services.access.require(ctx.principal, data.prdId, "viewer", "Seeing the integrations")
    return jira_status(ctx, data.prdId)


def integration_sync(ctx: RequestContext, data: IntegrationSync) -> dict[str, Any]:
    services = ctx.services
    services.documents.existing(data.prdId)
    services.access.require(ctx.principal, data.prdId, "editor", "Syncing with Jira", fresh=True)
    return start_sync(ctx, data.prdId, data.resolve or {})


def register(router: Router) -> None:
    for event, model in SENT.items():
        router.sends(event, model)
    router.on("integration:configure", IntegrationConfigure)(integration_configure)
    router.on("integration:status", IntegrationStatus)(integration_status)
    router.on("integration:sync", IntegrationSync)(integration_sync)
