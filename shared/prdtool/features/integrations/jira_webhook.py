"""Jira's webhooks: a change to a PRD's issue in Jira (its status moved to Done, say), told to the
PRD's room as ``integration:notification``, and kept for ``integration:status``.

Jira Cloud signs an admin webhook saved with a secret: ``X-Hub-Signature: sha256=<hex>``, the
HMAC-SHA256 of the raw body with that secret. The PRD is named by the issue's label (the one the
sync gives its issues, ``jira_issues.sync_label``), and its link holds the secret it was
configured with: a request is accepted only when its signature is that secret's. Anything else
(no such PRD, no secret kept, a wrong or missing signature, a body that is not JSON) gets the
same 401, so a caller learns nothing, and nothing changes. An accepted update that is the sync's
own write (the link's account changing only summary, description or labels), or older than what
Jira already told, is kept quiet: the room and the chat channel hear of changes people made.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from prdtool.engine.chat import excerpt, link_to, tell_chat
from prdtool.engine.rooms import broadcast
from prdtool.engine.services import Services
from prdtool.features.integrations.jira_issues import LABEL_PREFIX
from prdtool.kernel.observability import logger

__all__ = ["describe_change", "made_by_sync", "prd_of", "receive_jira_webhook", "signature_of"]

_REFUSED = {"statusCode": 401, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"message": "Signature not accepted"})}  # fmt: skip
CHANGE_CHARS = 100  # of a field's old and new value in a change
SYNC_FIELDS = {"summary", "description", "labels"}  # what a sync writes to an issue
_DONE = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps({"ok": True})}


def signature_of(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature`` Jira sends for ``body`` with ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def prd_of(payload: dict[str, Any]) -> str | None:
    """The PRD an issue belongs to, from the sync's label on it."""
    fields = (payload.get("issue") or {}).get("fields") or {}
    labels = fields.get("labels") if isinstance(fields, dict) else None
    for label in labels if isinstance(labels, list) else []:
        if isinstance(label, str) and label.startswith(LABEL_PREFIX) and len(label) > len(LABEL_PREFIX):
            return label[len(LABEL_PREFIX) :]
    return None


def describe_change(payload: dict[str, Any]) -> dict[str, str] | None:
    """``{issueKey, storyTitle, change, message}`` for an issue update (``change``: the fields
    that changed, ``status: To Do -> Done``), or None for any other event."""
    if payload.get("webhookEvent") != "jira:issue_updated":
        return None
    issue = payload.get("issue") or {}
    key, title = str(issue.get("key", "")), str((issue.get("fields") or {}).get("summary", ""))
    items = (payload.get("changelog") or {}).get("items") or []
    changes = [
        f"{item.get('field')}: {_short(item.get('fromString'))} -> {_short(item.get('toString'))}"
        for item in items
        if isinstance(item, dict) and item.get("field")
    ]
    if not key or not changes:
        return None
    change = "; ".join(changes)
    return {"issueKey": key, "storyTitle": title, "change": change, "message": f"{key} {title}: {change}"}


def _short(value: Any) -> str:
    """A field's value as a change shows it: a description is many lines, a change is one."""
    return excerpt(str(value), CHANGE_CHARS) if value else "-"


def made_by_sync(payload: dict[str, Any], account_id: str) -> bool:
    """Whether an issue update is the sync's own write: by the link's account, touching only the
    fields a sync writes (a status moved by that account is still news)."""
    author = (payload.get("user") or {}).get("accountId")
    items = (payload.get("changelog") or {}).get("items") or []
    fields = {item.get("field") for item in items if isinstance(item, dict)}
    return author == account_id and bool(fields) and fields <= SYNC_FIELDS


def receive_jira_webhook(services: Services, event: dict[str, Any]) -> dict[str, Any]:
    """Answer one HTTP API request (payload format 2.0) for ``POST /webhooks/jira``."""
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    try:
        payload = json.loads(body)
    except ValueError:
        return _REFUSED
    prd_id = prd_of(payload) if isinstance(payload, dict) else None
    link = services.documents.jira_link(prd_id) if prd_id else None
    if prd_id is None or link is None or not link.webhook_secret:
        return _REFUSED
    secret = json.loads(services.read_secret(link.parameter)).get("webhookSecret") or ""
    # Compared in constant time: a timing difference would tell a forger how much of it was right.
    if not secret or not hmac.compare_digest(signature_of(body, secret), str(headers.get("x-hub-signature", ""))):
        logger.warning("a Jira webhook with a signature that does not verify", extra={"prdId": prd_id})
        return _REFUSED
    described = describe_change(payload)
    if described is not None and not made_by_sync(payload, link.account_id):
        fields = payload["issue"].get("fields") or {}
        status = (fields.get("status") or {}).get("name") if isinstance(fields.get("status"), dict) else None
        at = payload.get("timestamp")
        fresh = services.documents.note_jira_issue(
            prd_id,
            described["issueKey"],
            described["storyTitle"],
            str(status) if status else None,
            int(at) if isinstance(at, int) else services.clock(),
        )
        if not fresh:  # older than what Jira told us already: nothing new for the room
            return _DONE
        notification = {"type": "jira", "prdId": prd_id, **described}
        broadcast(services, services.sender(), prd_id, "integration:notification", lambda _: notification)
        link_url = link_to(services, prd_id)
        told = f"Jira: {described['message']}" + (f"\n[Open the PRD]({link_url})" if link_url else "")
        tell_chat(services, prd_id, "jira", told, None)
    return _DONE
