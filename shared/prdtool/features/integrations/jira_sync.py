"""Syncing a PRD's user stories to Jira: the steps of the Jira sync state machine
(``statemachines/jira_sync.asl.json``), run by the Jira sync function.

``prepare`` reads the stories of the PRD as it is (``engine/user_stories``); a Map state then
runs ``story`` for each, a few at a time: the story's issue is edited when the PRD already names
its key (the ``[PROJ-12]`` next to it), else created, so a second sync updates and creates
nothing. A failure is one of three errors the state machine tells apart by name: Jira's 429, 5xx,
timeouts and lost connections are ``JiraRetryable`` (retried with backoff, after waiting out a
``Retry-After`` first), refused credentials are ``JiraCredentialsRefused`` (the sync stops,
``failed``), anything else is ``JiraStoryFailed`` (that story is reported, the others go on;
``story-failed`` counts it). ``finish`` writes the new keys into the PRD next to their stories,
as one server edit through the edit pipeline named by the sync (a retried finish writes them
once), and reports the stories that left the PRD, never deleting their issues.

Progress goes to the room and to whoever asked, as ``integration:sync-status``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from prdtool.engine.commits import after_commit
from prdtool.engine.context import RequestContext
from prdtool.engine.crdt import ClientOp
from prdtool.engine.editor import SERVER_KEY
from prdtool.engine.loaded_document import LoadedDocument
from prdtool.engine.rooms import broadcast
from prdtool.engine.services import Services
from prdtool.engine.user_stories import UserStory, key_marker_insert, user_stories
from prdtool.features.integrations.jira import JiraClient, JiraError, JiraSite
from prdtool.features.integrations.jira_issues import issue_fields, sync_label
from prdtool.kernel.auth import Principal
from prdtool.kernel.sender import Recipient

__all__ = ["JiraCredentialsRefused", "JiraRetryable", "JiraStoryFailed", "run_sync_step"]

RETRY_AFTER_MAX_S = 20.0  # a Retry-After up to this long is waited out in the step; longer: the backoff
JIRA_AUTHOR = "jira"  # the author of the edit that writes the keys, as clients see it


class JiraRetryable(Exception):
    """Jira throttled, failed or could not be reached: the state machine retries (its error name)."""


class JiraCredentialsRefused(Exception):
    """Jira refused the link's credentials: the whole sync stops."""


class JiraStoryFailed(Exception):
    """Jira refused this story (a field it will not take): reported, the others go on."""


def run_sync_step(services: Services, event: dict[str, Any]) -> dict[str, Any]:
    """Run one state of the Jira sync state machine."""
    step = event["step"]
    if step == "prepare":
        return _prepare(services, event["prdId"], event["syncId"])
    if step == "story":
        return _story(services, event["prdId"], event["syncId"], event["story"])
    if step == "story-failed":
        return _story_failed(services, event["prdId"], event["syncId"], event["story"], event.get("error") or {})
    if step == "finish":
        return _finish(services, event["prdId"], event["syncId"], event.get("results") or [])
    if step == "fail":
        return _fail(services, event["prdId"], event["syncId"], event.get("error") or {})
    raise ValueError(f"unknown step {step!r}")


def _prepare(services: Services, prd_id: str, sync_id: str) -> dict[str, Any]:
    stories = user_stories(services.editor.load(prd_id).document.content)
    plan = [
        {"title": s.title, "criteria": list(s.criteria), "issueKey": s.issue_key, "fingerprint": s.fingerprint}
        for s in stories
    ]
    services.documents.set_jira_sync_total(prd_id, sync_id, len(plan))
    _tell(services, prd_id, sync_id, "in_progress", 0, f"Syncing 0 of {len(plan)} user stories")
    return {"stories": plan, "total": len(plan)}


def _story(services: Services, prd_id: str, sync_id: str, story: dict[str, Any]) -> dict[str, Any]:
    link = services.documents.jira_link(prd_id)
    if link is None:
        raise JiraCredentialsRefused("The PRD is no longer linked to Jira")
    token = json.loads(services.read_secret(link.parameter))["apiToken"]
    meta = services.documents.meta(prd_id)
    told = UserStory(story["title"], tuple(story["criteria"]), story.get("issueKey"), 0, 0, 0)
    fields = issue_fields(told, link.project_key, link.issue_type, sync_label(prd_id), meta.title if meta else "", None)
    key = story.get("issueKey")
    try:
        with JiraClient(JiraSite(link.base_url, link.email, token)) as jira:
            if key:
                jira.edit_issue(key, {k: v for k, v in fields.items() if k != "project"})
            else:
                key = jira.create_issue(fields)
    except JiraError as err:
        if err.kind == "credentials_refused":
            raise JiraCredentialsRefused(f"Jira refused the credentials: {err}") from err
        if err.retryable:
            if err.retry_after_s is not None and err.retry_after_s <= RETRY_AFTER_MAX_S:
                time.sleep(err.retry_after_s)  # the state machine's retry comes after Jira's Retry-After
            raise JiraRetryable(str(err)) from err
        raise JiraStoryFailed(str(err)) from err
    outcome = "updated" if story.get("issueKey") else "created"
    services.documents.note_synced_issue(prd_id, key, told.title, story["fingerprint"], services.clock())
    _counted(services, prd_id, sync_id, outcome)
    return {"title": told.title, "issueKey": key, "fingerprint": story["fingerprint"], "outcome": outcome}


def _story_failed(
    services: Services, prd_id: str, sync_id: str, story: dict[str, Any], error: dict[str, Any]
) -> dict[str, Any]:
    _counted(services, prd_id, sync_id, "failed")
    return {"title": story["title"], "issueKey": story.get("issueKey"), "outcome": "failed", "error": _cause(error)}


def _counted(services: Services, prd_id: str, sync_id: str, outcome: str) -> None:
    counts = services.documents.count_jira_story(prd_id, sync_id, outcome)
    if counts is not None:
        total, done = int(counts.total or 0), int(counts.done or 0)
        progress = 100 * done // total if total else 100
        _tell(services, prd_id, sync_id, "in_progress", progress, f"Syncing {done} of {total} user stories")


def _finish(services: Services, prd_id: str, sync_id: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    created = [r for r in results if r.get("outcome") == "created"]
    if created:
        _write_keys(services, prd_id, sync_id, created)
    keys = {s.issue_key for s in user_stories(services.editor.load(prd_id).document.content) if s.issue_key}
    left = sorted(k for k, issue in services.documents.jira_issues(prd_id).items() if issue.synced_at and k not in keys)
    counts = {o: sum(r.get("outcome") == o for r in results) for o in ("created", "updated", "failed")}
    message = (f"Synced {len(results)} user stories: {counts['created']} created, {counts['updated']} updated, "
               f"{counts['failed']} failed")  # fmt: skip
    if left:
        message += f"; no longer in the PRD (left in Jira): {', '.join(left)}"
    errors = [{"title": r["title"], "issueKey": r.get("issueKey"), "error": r.get("error")} for r in results
              if r.get("outcome") == "failed"]  # fmt: skip
    services.documents.end_jira_sync(prd_id, sync_id, "completed")
    _tell(services, prd_id, sync_id, "completed", 100, message, errors=errors, removed=left)
    return {"status": "completed", **counts}


def _write_keys(services: Services, prd_id: str, sync_id: str, created: list[dict[str, Any]]) -> None:
    """One server edit putting each new key next to its story, found by its fingerprint in the
    text as it is now (people may have typed meanwhile)."""
    by_print = {r["fingerprint"]: r["issueKey"] for r in created}

    def markers(loaded: LoadedDocument) -> list[ClientOp]:
        inserts = [
            key_marker_insert(story, by_print[story.fingerprint])
            for story in user_stories(loaded.document.content)
            if story.issue_key is None and story.fingerprint in by_print
        ]
        # Last first: each insert leaves the places before it where they were.
        return [ClientOp("insert", at, content=text) for at, text in sorted(inserts, reverse=True)]

    applied = services.editor.submit_as_server(prd_id, JIRA_AUTHOR, SERVER_KEY, f"jira-sync:{sync_id}", markers)
    if not applied.duplicate and applied.entry.ops:
        ctx = RequestContext(
            Principal(JIRA_AUTHOR, "Jira", None, ()), Recipient(""), services.sender(), services.clock(),
            services=services,
        )  # fmt: skip
        after_commit(ctx, applied.entry, applied.clock, exclude=None)


def _fail(services: Services, prd_id: str, sync_id: str, error: dict[str, Any]) -> dict[str, Any]:
    services.documents.end_jira_sync(prd_id, sync_id, "failed")
    sync = services.documents.jira_sync(prd_id)
    progress = 100 * int(sync.done or 0) // int(sync.total) if sync and sync.total else 0
    _tell(services, prd_id, sync_id, "failed", progress, _cause(error))
    return {"status": "failed"}


def _cause(error: dict[str, Any]) -> str:
    """The message of a step's error, as the state machine passes it (``Error``, ``Cause``)."""
    cause = error.get("Cause") or ""
    try:
        found = json.loads(cause).get("errorMessage")
    except (ValueError, AttributeError):
        found = None
    return str(found or cause or error.get("Error") or "The sync failed")


def _tell(
    services: Services, prd_id: str, sync_id: str, status: str, progress: int, message: str, **extra: Any
) -> None:
    """``integration:sync-status`` to the room, and to the requester when it is not in the room."""
    sync = services.documents.jira_sync(prd_id)
    counts = {k: int(getattr(sync, k) or 0) for k in ("created", "updated", "failed")} if sync else {}
    payload = {"type": "jira", "prdId": prd_id, "status": status, "progress": progress, "message": message,
               "syncId": sync_id, **counts, **extra}  # fmt: skip
    sender = services.sender()
    report = broadcast(services, sender, prd_id, "integration:sync-status", lambda _: payload)
    if sync and sync.sync_id == sync_id:
        requester = Recipient(**json.loads(sync.requester))
        if requester.connection_id not in report.delivered:
            sender.emit(requester, "integration:sync-status", payload)
