"""Versions and approvals: who may do what, and the approval workflow.

The git work (committing, reading and diffing the text, restoring it) runs in the versions
function, the only one that loads pygit2 (``worker``): these handlers validate, authorize and
count the request, then wait for that function's answer. Listing versions and the whole approval
workflow need only the document's records, so they run here.

An approval is of one version's commit: its decisions are kept on it and never rewritten, and a
later request (for a later version, or for the same one after changes were requested) is a new
approval. Every decision is written "as read" (the approval's revision), so two approvers
deciding at once both count and nobody decides twice.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from typing import Any

from prdtool.engine.chat import link_to, tell_chat
from prdtool.engine.comment_threads import iso
from prdtool.engine.context import RequestContext
from prdtool.engine.document_records import Approval, DocumentMeta, Version
from prdtool.engine.inbox import InboxItem, new_notification_id
from prdtool.engine.rooms import broadcast
from prdtool.engine.versions import approved_by, decisions_of, version_payload
from prdtool.features.versions.events import (
    SENT,
    ApprovalGrant,
    ApprovalList,
    ApprovalReject,
    ApprovalRequest,
    VersionCreate,
    VersionDiff,
    VersionGet,
    VersionList,
    VersionRestore,
)
from prdtool.features.versions.requests import request_for
from prdtool.kernel.access import Role
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.parts import fitting, split
from prdtool.kernel.rate_limits import enforce_rate_limit
from prdtool.kernel.router import Router

__all__ = ["register"]

VERSIONS_PER_PAGE = 20
APPROVALS_PER_PAGE = 20
# What one listing may take of its frame (under API Gateway's 128 KB a post); the rest is a cursor away.
LIST_BUDGET = 60_000
# Decisions race (two approvers at once): each lost race reads the approval again.
_DECISION_TRIES = 8


# ---------------------------------------------------------------- versions


def version_create(ctx: RequestContext, data: VersionCreate) -> dict[str, Any]:
    _require(ctx, data.prdId, "editor", "Creating a version")
    _count(ctx)
    return _ask(ctx, "version:create", data.model_dump())


def version_restore(ctx: RequestContext, data: VersionRestore) -> dict[str, Any]:
    _require(ctx, data.prdId, "editor", "Restoring a version")
    _count(ctx)
    return _ask(ctx, "version:restore", data.model_dump())


def version_get(ctx: RequestContext, data: VersionGet) -> dict[str, Any]:
    _require(ctx, data.prdId, "viewer", "Reading a version")
    return _in_parts(ctx, _ask(ctx, "version:get", data.model_dump()), "content")


def version_diff(ctx: RequestContext, data: VersionDiff) -> dict[str, Any]:
    _require(ctx, data.prdId, "viewer", "Comparing versions")
    return _in_parts(ctx, _ask(ctx, "version:diff", data.model_dump(by_alias=True)), "diff")


def version_list(ctx: RequestContext, data: VersionList) -> dict[str, Any]:
    _require(ctx, data.prdId, "viewer", "Listing versions")
    before = _cursor(data.cursor)
    page = ctx.services.documents.versions(data.prdId, before, VERSIONS_PER_PAGE)
    approved = [v.approval_id for v in page if v.approval_id and v.status == "approved"]
    approvals = {  # one batched read, only when a version on the page was approved
        a.approval_id: decisions_of(a.decisions) for a in ctx.services.documents.approvals_named(data.prdId, approved)
    }
    versions = fitting(
        [{**version_payload(v), "approvalId": v.approval_id, "approvedBy": approved_by(v, approvals)} for v in page],
        LIST_BUDGET,
    )
    last = int(page[len(versions) - 1].ordinal) if versions else 1
    more = last > 1 and (len(versions) < len(page) or len(page) == VERSIONS_PER_PAGE)
    return {"prdId": data.prdId, "versions": versions, "cursor": str(last) if more else None}


def _ask(ctx: RequestContext, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The versions function's answer to one request; its error, as it gave it."""
    if not ctx.services.settings.versions_function:
        raise AppError(ErrorCode.NOT_AVAILABLE, "Versions are not configured on this server")
    answer = ctx.services.ask_versions(request_for(ctx, event, payload))
    if not answer.pop("ok", False):
        error = answer["error"]
        raise AppError(ErrorCode(error["code"]), error["message"], error.get("data"))
    return answer


def _in_parts(ctx: RequestContext, answer: dict[str, Any], field: str) -> dict[str, Any]:
    """A text too long for one frame goes ahead of the ack as ``document:part`` events, each
    naming what it is of (``version``, or ``from`` and ``to``)."""
    head, parts = split(answer, (field,))
    names = {k: answer[k] for k in ("version", "from", "to") if k in answer}
    for part in parts:
        ctx.emit("document:part", {**part, **names})
    return head


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not (cursor.isascii() and cursor.isdigit()) or int(cursor) < 1:
        raise AppError(ErrorCode.VALIDATION_FAILED, "cursor: not a cursor of version:list", {"field": "cursor"})
    return int(cursor)


# ---------------------------------------------------------------- approvals


def approval_request(ctx: RequestContext, data: ApprovalRequest) -> dict[str, Any]:
    services, prd_id = ctx.services, data.prdId
    meta = _require(ctx, prd_id, "editor", "Requesting approval")
    version = services.documents.version(prd_id, data.version)
    if version is None:
        raise AppError(ErrorCode.NOT_FOUND, f"PRD {prd_id!r} has no version {data.version!r}", {"field": "version"})
    approvers = list(dict.fromkeys(data.approvers))
    _check_approvers(ctx, prd_id, approvers)
    _check_reviewable(version)
    approval = Approval(
        prd_id,
        approval_id=_new_approval_id(prd_id, ctx.now_ms),
        version=version.version,
        ordinal=version.ordinal,
        commit_hash=version.commit_hash,
        requester_id=ctx.principal.user_id,
        requester_name=ctx.principal.name,
        message=data.message,
        approvers=approvers,
        created_at=ctx.now_ms,
    )
    requested = {
        "prdId": prd_id,
        "version": version.version,
        "requester": {"id": ctx.principal.user_id, "name": ctx.principal.name},
        "message": data.message,
        "approvalId": approval.approval_id,
        "commitHash": version.commit_hash,
        "title": meta.title,
    }
    notices = [_notice(ctx, user, prd_id, approval.approval_id, requested) for user in approvers]
    if not services.documents.request_approval(approval, version, notices):
        # Another request (or decision) changed the version since it was read.
        _check_reviewable(services.documents.version_at(prd_id, int(version.ordinal)) or version)
        raise AppError(ErrorCode.INVALID_STATE, "The version changed meanwhile; try again", {"version": data.version})
    for user in approvers:
        _tell_user(ctx, user, "approval:requested", requested)
    _announce_status(ctx, version, "in_review", approval)
    link = link_to(services, prd_id)
    names = ", ".join(approvers)
    told = f'**{ctx.principal.name}** asked {names} to approve version {version.version} of PRD "{meta.title}"'
    tell_chat(services, prd_id, "approval", told + (f"\n[Open the PRD]({link})" if link else ""), ctx.client)
    return {**_approval_payload(approval), "status": "pending"}


def approval_grant(ctx: RequestContext, data: ApprovalGrant) -> dict[str, Any]:
    return _decide(ctx, data.approvalId, "granted", data.comment)


def approval_reject(ctx: RequestContext, data: ApprovalReject) -> dict[str, Any]:
    return _decide(ctx, data.approvalId, "rejected", data.reason)


def approval_list(ctx: RequestContext, data: ApprovalList) -> dict[str, Any]:
    _require(ctx, data.prdId, "viewer", "Listing approvals")
    found = ctx.services.documents.approvals(data.prdId, data.cursor, APPROVALS_PER_PAGE + 1)
    shown = fitting([_approval_payload(a) for a in found[:APPROVALS_PER_PAGE]], LIST_BUDGET)
    cursor = shown[-1]["approvalId"] if len(shown) < len(found) else None
    return {"prdId": data.prdId, "approvals": shown, "cursor": cursor}


def _decide(ctx: RequestContext, approval_id: str, decision: str, note: str | None) -> dict[str, Any]:
    services, user = ctx.services, ctx.principal.user_id
    prd_id = _prd_of(approval_id)
    for _ in range(_DECISION_TRIES):
        approval = services.documents.approval(prd_id, approval_id) if prd_id else None
        if approval is None:
            raise AppError(ErrorCode.NOT_FOUND, f"No approval {approval_id!r}", {"approvalId": approval_id})
        if user not in approval.approvers:
            raise AppError(ErrorCode.FORBIDDEN, "Only a named approver can decide on this approval",
                           {"approvalId": approval_id})  # fmt: skip
        services.access.require(ctx.principal, approval.prd_id, "viewer", "Deciding on an approval", fresh=True)
        decisions = decisions_of(approval.decisions)
        mine = next((d for d in decisions if d["id"] == user), None)
        if mine is not None:
            raise AppError(ErrorCode.INVALID_STATE, f"You have already {mine['decision']} this approval",
                           {"approvalId": approval_id, "decision": mine["decision"]})  # fmt: skip
        if approval.status != "pending":
            raise AppError(ErrorCode.INVALID_STATE, f"This approval is already {approval.status}",
                           {"approvalId": approval_id, "status": approval.status})  # fmt: skip
        entry: dict[str, Any] = {"id": user, "name": ctx.principal.name, "decision": decision, "at": iso(ctx.now_ms)}
        if note:
            entry["comment" if decision == "granted" else "reason"] = note
        decisions.append(entry)
        granted = sum(1 for d in decisions if d["decision"] == "granted")
        remaining = len(approval.approvers) - granted
        status = "rejected" if decision == "rejected" else ("approved" if remaining == 0 else "pending")
        if _record(ctx, approval, decisions, status):
            _announce_decision(ctx, approval, entry, remaining, status)
            return {**_approval_payload(approval, decisions), "status": status, "remaining": remaining}
    raise AppError(ErrorCode.RATE_LIMITED, "Too many decisions at once; retry", {"retryable": True})


def _record(ctx: RequestContext, approval: Approval, decisions: list[dict[str, Any]], status: str) -> bool:
    """Write one decision as the approval was read; a settling one moves its version too."""
    documents = ctx.services.documents
    raw = json.dumps(decisions)
    if status == "pending":
        return documents.decide_approval(approval, raw, status)
    version = documents.version_at(approval.prd_id, int(approval.ordinal))
    if version is None or version.approval_id != approval.approval_id:
        # The version's review is another one now (cannot happen while this one is pending):
        # settle the approval alone, its trail intact.
        return documents.decide_approval(approval, raw, status)
    meta = documents.existing(approval.prd_id)
    newer = status == "approved" and (
        meta.approved_ordinal is None or int(meta.approved_ordinal) < int(version.ordinal)
    )
    settled = {**_approval_payload(approval, decisions), "status": status}
    notices = [_notice(ctx, approval.requester_id, approval.prd_id, approval.approval_id, settled)]
    return documents.decide_approval(
        approval, raw, status, version, meta if newer else None, version.content_sha256, also=notices
    )


def _announce_decision(
    ctx: RequestContext, approval: Approval, entry: dict[str, Any], remaining: int, status: str
) -> None:
    approver = {"id": entry["id"], "name": entry["name"]}
    common = {"approvalId": approval.approval_id, "prdId": approval.prd_id, "version": approval.version}
    if entry["decision"] == "granted":
        event, payload = "approval:granted", {**common, "approver": approver, "remaining": remaining}
        if "comment" in entry:
            payload["comment"] = entry["comment"]
    else:
        event, payload = "approval:rejected", {**common, "approver": approver, "reason": entry.get("reason", "")}
    told_room = broadcast(ctx.services, ctx.sender, approval.prd_id, event, lambda _: payload)
    reached = set(told_room.delivered) | set(told_room.gone) | set(told_room.failed)
    _tell_user(ctx, approval.requester_id, event, payload, skip=frozenset(reached))
    if status == "pending":
        return
    version = ctx.services.documents.version_at(approval.prd_id, int(approval.ordinal))
    if version is not None:
        _announce_status(ctx, version, "approved" if status == "approved" else "changes_requested", approval)
    meta = ctx.services.documents.meta(approval.prd_id)
    title = meta.title if meta else approval.prd_id
    outcome = "approved" if status == "approved" else f"sent back (changes requested by **{entry['name']}**)"
    tell_chat(ctx.services, approval.prd_id, "approval", f'Version {approval.version} of PRD "{title}" was {outcome}',
              ctx.client)  # fmt: skip


def _announce_status(ctx: RequestContext, version: Version, status: str, approval: Approval) -> None:
    updated = {
        "prdId": version.prd_id,
        "version": version.version,
        "status": status,
        "commitHash": version.commit_hash,
        "approvalId": approval.approval_id,
        "updatedBy": {"id": ctx.principal.user_id, "name": ctx.principal.name},
        "updatedAt": iso(ctx.now_ms),
    }
    broadcast(ctx.services, ctx.sender, version.prd_id, "version:updated", lambda _: updated)


def _check_approvers(ctx: RequestContext, prd_id: str, approvers: Sequence[str]) -> None:
    """Every approver must be able to read the PRD, and nobody approves their own request."""
    if ctx.principal.user_id in approvers:
        raise AppError(ErrorCode.VALIDATION_FAILED, "approvers: you cannot approve your own request",
                       {"field": "approvers", "users": [ctx.principal.user_id]})  # fmt: skip
    strangers = [u for u in approvers if ctx.services.documents.role_of(prd_id, u) is None]
    if strangers:
        message = f"approvers: {', '.join(strangers)} cannot see this PRD (share it with them first)"
        raise AppError(ErrorCode.VALIDATION_FAILED, message, {"field": "approvers", "users": strangers})


def _check_reviewable(version: Version) -> None:
    if version.status == "in_review":
        raise AppError(ErrorCode.ALREADY_EXISTS, f"Version {version.version} is already in review",
                       {"version": version.version, "approvalId": version.approval_id})  # fmt: skip
    if version.status == "approved":
        raise AppError(ErrorCode.INVALID_STATE, f"Version {version.version} is already approved",
                       {"version": version.version, "status": version.status})  # fmt: skip


def _approval_payload(approval: Approval, decisions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "approvalId": approval.approval_id,
        "prdId": approval.prd_id,
        "version": approval.version,
        "commitHash": approval.commit_hash,
        "requester": {"id": approval.requester_id, "name": approval.requester_name},
        "message": approval.message,
        "approvers": list(approval.approvers),
        "status": approval.status,
        "decisions": decisions if decisions is not None else decisions_of(approval.decisions),
        "createdAt": iso(int(approval.created_at)),
    }


def _notice(ctx: RequestContext, user: str, prd_id: str, approval_id: str, event: dict[str, Any]) -> InboxItem:
    with_id = {**event, "notificationId": new_notification_id(ctx.now_ms), "createdAt": iso(ctx.now_ms)}
    return ctx.services.inbox.item(user, "approval", prd_id, {"approvalId": approval_id}, with_id, ctx.now_ms)


def _tell_user(
    ctx: RequestContext, user: str, event: str, payload: dict[str, Any], skip: frozenset[str] = frozenset()
) -> None:
    """Send ``event`` to every connection ``user`` has open (but those in ``skip``)."""
    recipients = [r for r in ctx.services.store.connections_of(user) if r.connection_id not in skip]
    if recipients:
        ctx.sender.broadcast(recipients, event, payload)


_APPROVAL_ID = re.compile(r"^apr_[0-9]{13}[0-9a-f]{8}_(.+)$")


def _new_approval_id(prd_id: str, now_ms: int) -> str:
    # Time first, so approvals sort as they were made; the PRD's id is part of it, since
    # approval:grant names only the approval.
    return f"apr_{now_ms:013d}{secrets.token_hex(4)}_{prd_id}"


def _prd_of(approval_id: str) -> str | None:
    matched = _APPROVAL_ID.match(approval_id)
    return matched.group(1) if matched else None


# ---------------------------------------------------------------- shared checks


def _require(ctx: RequestContext, prd_id: str, role: Role, action: str) -> DocumentMeta:
    meta = ctx.services.documents.existing(prd_id)
    ctx.services.access.require(ctx.principal, prd_id, role, action, fresh=True)
    return meta


def _count(ctx: RequestContext) -> None:
    """Creating and restoring versions count against one limit per user (each writes git objects)."""
    s = ctx.services.settings
    enforce_rate_limit(
        ctx, ctx.services.rate_limits, ctx.principal.user_id, "version:write", s.version_rate_limit,
        s.rate_limit_warning,
    )  # fmt: skip


def register(router: Router) -> None:
    for event, model in SENT.items():
        router.sends(event, model)
    router.on("version:create", VersionCreate)(version_create)
    router.on("version:list", VersionList)(version_list)
    router.on("version:get", VersionGet)(version_get)
    router.on("version:diff", VersionDiff)(version_diff)
    router.on("version:restore", VersionRestore)(version_restore)
    router.on("approval:request", ApprovalRequest)(approval_request)
    router.on("approval:grant", ApprovalGrant)(approval_grant)
    router.on("approval:reject", ApprovalReject)(approval_reject)
    router.on("approval:list", ApprovalList)(approval_list)
