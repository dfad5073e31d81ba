"""Linking a PRD to a Jira Cloud project: the connection is checked once, the credentials kept.

``integration:configure {type: 'jira'}`` asks Jira who the credentials are (``myself``) and for
the project (its issue types), so a bad token, project or issue type is refused at once, with what
to fix, and nothing is stored. The API token (and the webhook secret, when given) go to one SSM
SecureString; the document's ``integration#jira`` item holds only what may be shown. Neither is
ever echoed back.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from prdtool.engine.context import RequestContext
from prdtool.engine.document_records import JiraLink, JiraSync
from prdtool.engine.user_stories import user_stories
from prdtool.features.integrations.events import IntegrationConfigure
from prdtool.features.integrations.jira import JiraClient, JiraError, JiraSite, check_site_url
from prdtool.kernel.errors import AppError, ErrorCode

__all__ = ["CHECK_TIMEOUT_S", "SYNC_LEASE_MS", "configure_jira", "jira_status", "start_sync"]

CHECK_TIMEOUT_S = 8.0  # per call; two calls fit well within the gateway's 29 s
SYNC_LEASE_MS = 15 * 60_000  # a sync whose execution died lets the next one start after this


def configure_jira(ctx: RequestContext, data: IntegrationConfigure) -> dict[str, Any]:
    """Check the site, credentials, project and issue type with Jira, then keep the link."""
    assert data.baseUrl and data.email and data.apiToken and data.projectKey  # the model requires them
    services = ctx.services
    try:
        site = JiraSite(check_site_url(data.baseUrl, allow_loopback_http=True), data.email, data.apiToken)
    except ValueError as exc:
        field = "baseUrl" if "URL" in str(exc) or "url" in str(exc) else "email" if "email" in str(exc) else "apiToken"
        raise _invalid(field, str(exc)) from exc
    asking = "myself"
    try:
        with JiraClient(site, timeout_s=CHECK_TIMEOUT_S) as jira:
            me = jira.myself()
            asking = "project"
            project = jira.project(data.projectKey)
    except JiraError as err:
        raise _refused(err, asking, data.projectKey) from err
    types = [str(t.get("name")) for t in project.get("issueTypes") or [] if isinstance(t, dict)]
    if data.issueType not in types:
        raise _invalid("issueType", f"Project {data.projectKey} has no issue type {data.issueType!r} "
                                    f"(it has {', '.join(types) or 'none'})")  # fmt: skip
    parameter = f"{services.settings.integration_parameter_prefix.rstrip('/')}/{data.prdId}/jira"
    credentials = {"apiToken": data.apiToken, "webhookSecret": data.webhookSecret}
    # The credentials first, the link after: a link never names credentials that are not stored.
    services.store_secret(parameter, json.dumps(credentials))
    account = {"accountId": str(me.get("accountId", "")), "displayName": str(me.get("displayName", ""))}
    services.documents.link_jira(
        JiraLink(
            data.prdId,
            base_url=site.base_url,
            project_key=data.projectKey,
            email=data.email,
            issue_type=data.issueType,
            parameter=parameter,
            account_id=account["accountId"],
            account_name=account["displayName"],
            webhook_secret=data.webhookSecret is not None,
            configured_by=ctx.principal.user_id,
            configured_at=ctx.now_ms,
        )
    )
    return {
        "prdId": data.prdId,
        "type": "jira",
        "baseUrl": site.base_url,
        "projectKey": data.projectKey,
        "projectName": str(project.get("name", "")),
        "email": data.email,
        "issueType": data.issueType,
        "account": account,
        "webhookSecret": data.webhookSecret is not None,  # whether one is kept, never the secret
    }


def start_sync(ctx: RequestContext, prd_id: str, resolve: Mapping[str, str]) -> dict[str, Any]:
    """Take the PRD's sync (one at a time) and start the Jira sync state machine for it;
    ``resolve`` says, per issue key, which side wins a conflict (``prd`` or ``jira``)."""
    services = ctx.services
    if not services.settings.jira_sync_state_machine_arn:
        raise AppError(ErrorCode.NOT_AVAILABLE, "Jira sync is not set up on this server")
    if services.documents.jira_link(prd_id) is None:
        raise AppError(ErrorCode.NOT_FOUND, "This PRD is not linked to Jira: integration:configure it first",
                       {"prdId": prd_id, "type": "jira"})  # fmt: skip
    sync_id = f"sync_{ctx.now_ms:013d}{secrets.token_hex(4)}"
    requester = {"connection_id": ctx.connection_id, "protocol": ctx.client.protocol, "namespace": ctx.client.namespace}
    sync = JiraSync(prd_id, sync_id=sync_id, state="running", requester=json.dumps(requester),
                    started_at=ctx.now_ms, expires_at=ctx.now_ms + SYNC_LEASE_MS,
                    resolve=json.dumps(dict(resolve)) if resolve else None)  # fmt: skip
    running = services.documents.start_jira_sync(sync, ctx.now_ms)
    if running is not None:
        message = f"A Jira sync of this PRD is running ({running.sync_id})"
        raise AppError(ErrorCode.ALREADY_EXISTS, message, {"prdId": prd_id, "syncId": running.sync_id})
    try:
        services.start_jira_sync(prd_id, sync_id)
    except Exception:
        services.documents.end_jira_sync(prd_id, sync_id, "failed")  # so the next one may start
        raise
    return {"prdId": prd_id, "type": "jira", "syncId": sync_id, "status": "in_progress"}


def jira_status(ctx: RequestContext, prd_id: str) -> dict[str, Any]:
    """The PRD's Jira link (what may be shown) and each user story with its issue key (the marker
    next to it in the text) and what Jira last said of that issue (its webhooks)."""
    services = ctx.services
    link = services.documents.jira_link(prd_id)
    issues = services.documents.jira_issues(prd_id) if link else {}
    text = services.editor.load(prd_id).document.content
    stories = []
    for story in user_stories(text):
        known = issues.get(story.issue_key) if story.issue_key else None
        stories.append({
            "title": story.title,
            "issueKey": story.issue_key,
            "status": known.status if known else None,
            "conflict": bool(known and known.conflict),
            "url": f"{link.base_url}/browse/{story.issue_key}" if link and story.issue_key else None,
        })  # fmt: skip
    answer: dict[str, Any] = {"prdId": prd_id, "type": "jira", "linked": link is not None, "stories": stories}
    if link:
        answer.update(baseUrl=link.base_url, projectKey=link.project_key, issueType=link.issue_type)
    return answer


def _refused(err: JiraError, asking: str, project_key: str) -> AppError:
    """What Jira said, as the field to fix or a failure to retry."""
    if err.kind == "credentials_refused" and asking == "myself":
        return _invalid("apiToken", f"Jira refused the credentials: check the email and API token ({err})")
    if err.kind in ("credentials_refused", "not_found") and asking == "project":
        return _invalid("projectKey", f"No project {project_key} that this account can see ({err})")
    if err.retryable:
        data: dict[str, Any] = {"retryable": True}
        if err.retry_after_s is not None:
            data["retryAfter"] = err.retry_after_s
        return AppError(ErrorCode.INTEGRATION_UNAVAILABLE, f"Jira could not be reached or failed: {err}", data)
    return _invalid("baseUrl", f"Jira refused the request: {err}")


def _invalid(field: str, message: str) -> AppError:
    return AppError(
        ErrorCode.VALIDATION_FAILED,
        f"Invalid payload: {field}: {message}",
        {"errors": [{"field": field, "message": message}]},
    )
