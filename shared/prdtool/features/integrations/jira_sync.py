"""Syncing a PRD's user stories to Jira: the steps of the Jira sync state machine
(``statemachines/jira_sync.asl.json``), run by the Jira sync function.

``prepare`` reads the stories of the PRD as it is (``engine/user_stories``); a Map state then
runs ``story`` for each, a few at a time. A story whose key the PRD names (the ``[PROJ-12]`` next
to it) updates that issue, unless nothing changed: the sync keeps, per issue, prints of both sides
as it last left them in step, and compares. Only the PRD changed: Jira is updated. Only Jira
changed: it is left as people made it. Both: a conflict, reported, neither side written, until the
requester of a sync says which one wins (``resolve``). A story with no key creates an issue, once:
a marker kept just before the create lets a retried step find the issue a lost answer made.

A failure is one of three errors the state machine tells apart by name: Jira's 429, 5xx,
timeouts and lost connections are ``JiraRetryable`` (retried with backoff, after waiting out a
``Retry-After`` first), refused credentials are ``JiraCredentialsRefused`` (the sync stops,
``failed``), anything else is ``JiraStoryFailed`` (that story is reported, the others go on;
``story-failed`` counts it). ``finish`` writes the new keys into the PRD next to their stories,
as one server edit through the edit pipeline named by the sync (a retried finish writes them
once), and reports the stories that left the PRD, never deleting their issues.

Progress goes to the room and to whoever asked, as ``integration:sync-status``; the outcome to the
PRD's chat channel too, when it wants ``jira`` posts.
"""

from __future__ import annotations

import json
import time
from typing import Any

from prdtool.engine.chat import link_to, tell_chat
from prdtool.engine.commits import after_commit
from prdtool.engine.context import RequestContext
from prdtool.engine.crdt import ClientOp
from prdtool.engine.editor import SERVER_KEY
from prdtool.engine.loaded_document import LoadedDocument
from prdtool.engine.rooms import broadcast
from prdtool.engine.services import Services
from prdtool.engine.user_stories import UserStory, key_marker_insert, user_stories
from prdtool.features.integrations.jira import JiraClient, JiraError, JiraSite
from prdtool.features.integrations.jira_issues import edit_fields, issue_fields, sent_print, sync_label, words_print
from prdtool.kernel.auth import Principal
from prdtool.kernel.sender import Recipient

__all__ = ["JiraCredentialsRefused", "JiraRetryable", "JiraStoryFailed", "run_sync_step", "summary_message"]

RETRY_AFTER_MAX_S = 20.0  # a Retry-After up to this long is waited out in the step; longer: the backoff
JIRA_AUTHOR = "jira"  # the author of the edit that writes the keys, as clients see it
LOST_CREATE_SEARCHES = 3  # how often a retried create asks Jira's search for the issue it may have made
LOST_CREATE_PAUSE_S = 1.5  # between those searches: Jira's search lags behind a create
CONFLICT_MESSAGE = "Changed in both the PRD and Jira since the last sync: neither was overwritten"
OUTCOMES = ("created", "updated", "unchanged", "conflict", "failed")
_COUNTS = ("created", "updated", "unchanged", "conflicts", "failed")  # the counts every sync-status carries


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
    key: str | None = story.get("issueKey")
    try:
        with JiraClient(JiraSite(link.base_url, link.email, token)) as jira:
            if key:
                outcome = _update(services, jira, prd_id, sync_id, key, story["fingerprint"], fields)
            else:
                key, outcome = _create(services, jira, prd_id, sync_id, story["fingerprint"], fields), "created"
    except JiraError as err:
        if err.kind == "credentials_refused":
            raise JiraCredentialsRefused(f"Jira refused the credentials: {err}") from err
        if err.retryable:
            if err.retry_after_s is not None and err.retry_after_s <= RETRY_AFTER_MAX_S:
                time.sleep(err.retry_after_s)  # the state machine's retry comes after Jira's Retry-After
            raise JiraRetryable(str(err)) from err
        raise JiraStoryFailed(str(err)) from err
    _counted(services, prd_id, sync_id, outcome)
    result = {"title": told.title, "issueKey": key, "fingerprint": story["fingerprint"], "outcome": outcome}
    if outcome == "conflict":
        result["error"] = CONFLICT_MESSAGE
    return result


def _words_in_jira(jira: JiraClient, key: str) -> str:
    """The words issue ``key`` has in Jira now, as Jira keeps them (``words_print``)."""
    got = jira.get_issue(key, ["summary", "description"]).get("fields") or {}
    return words_print(got.get("summary"), got.get("description"))


def _update(
    services: Services, jira: JiraClient, prd_id: str, sync_id: str, key: str, fingerprint: str, fields: dict[str, Any]
) -> str:
    """Bring issue ``key`` in step with its story, unless it changed in Jira too since the last sync
    (a conflict: neither side is written, unless the requester said which one wins)."""
    documents, sent = services.documents, sent_print(fields)
    known = documents.jira_issue(prd_id, key)
    if known is not None and known.sent_print and known.jira_print and known.sending != sent:
        theirs = _words_in_jira(jira, key)
        if sent == known.sent_print:  # the PRD did not change: nothing to send; Jira's own edits stay
            if known.conflict:
                documents.note_jira_conflict(prd_id, key, False)
            return "unchanged"
        if theirs != known.jira_print:  # both changed
            choice = _resolutions(services, prd_id, sync_id).get(key)
            if choice == "jira":
                # The requester keeps Jira's words: both sides as they are now are the new baseline.
                documents.note_synced_issue(
                    prd_id, key, fields["summary"], (fingerprint, sent, theirs), services.clock()
                )
                return "unchanged"
            if choice != "prd":
                documents.note_jira_conflict(prd_id, key, True)
                return "conflict"
    elif known is not None and not known.sent_print and known.fingerprint == fingerprint:
        # Synced before both sides were kept, and the story has not changed since: take Jira's
        # words as they are for the baseline rather than overwrite what people wrote there.
        theirs = _words_in_jira(jira, key)
        documents.note_synced_issue(prd_id, key, fields["summary"], (fingerprint, sent, theirs), services.clock())
        return "unchanged"
    # Only the PRD changed, or the requester chose its words, or this PRD never synced the issue
    # (a key typed by hand), or a retry of an update that was under way: the story goes to Jira.
    documents.note_jira_sending(prd_id, key, sent)  # before the write: a retry after a crash knows it
    jira.edit_issue(key, edit_fields(fields), add_labels=fields["labels"])
    theirs = _words_in_jira(jira, key)  # as Jira keeps them, which may not be word for word as sent
    documents.note_synced_issue(prd_id, key, fields["summary"], (fingerprint, sent, theirs), services.clock())
    return "updated"


def _create(
    services: Services, jira: JiraClient, prd_id: str, sync_id: str, fingerprint: str, fields: dict[str, Any]
) -> str:
    """Create the story's issue, once. A marker is kept from before the request until ``finish``
    has written the key into the PRD: a later try finds the key on it, or, when the answer was lost,
    looks for the issue Jira made (its label and summary, linked to no story) instead of making
    another."""
    documents = services.documents
    marker = documents.jira_create(prd_id, fingerprint)
    key = marker.issue_key if marker is not None else None
    if marker is None:
        documents.begin_jira_create(prd_id, fingerprint, fields["summary"], sync_id, services.clock())
    elif key is None:
        key = _made_before(services, jira, prd_id, fields)
    if key is None:
        try:
            key = jira.create_issue(fields)
        except JiraError as err:
            if not err.retryable:  # refused: Jira made nothing, a later try need not look for it
                documents.end_jira_create(prd_id, fingerprint)
            raise
    documents.note_jira_created(prd_id, fingerprint, key)
    theirs = _words_in_jira(jira, key)
    documents.note_synced_issue(
        prd_id, key, fields["summary"], (fingerprint, sent_print(fields), theirs), services.clock()
    )
    return key


def _made_before(services: Services, jira: JiraClient, prd_id: str, fields: dict[str, Any]) -> str | None:
    """The key of an issue an earlier try made for these fields, if Jira's search shows one. The
    search lags behind creates, so it is asked a few times before the answer counts as none."""
    linked = {key for key, issue in services.documents.jira_issues(prd_id).items() if issue.synced_at}
    for attempt in range(LOST_CREATE_SEARCHES):
        if attempt:
            time.sleep(LOST_CREATE_PAUSE_S)
        found = jira.search_by_label(fields["project"]["key"], fields["labels"][0], ["summary"])
        for issue in found:
            key = issue.get("key")
            if key and key not in linked and (issue.get("fields") or {}).get("summary") == fields["summary"]:
                return str(key)
    return None


def _resolutions(services: Services, prd_id: str, sync_id: str) -> dict[str, str]:
    """How the requester of this sync settled conflicts: ``{issue key: "prd" | "jira"}``."""
    sync = services.documents.jira_sync(prd_id)
    if sync is None or sync.sync_id != sync_id or not sync.resolve:
        return {}
    return dict(json.loads(sync.resolve))


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
    for made in created:  # the PRD names their keys now: a later sync updates them
        services.documents.end_jira_create(prd_id, made["fingerprint"])
    keys = {s.issue_key for s in user_stories(services.editor.load(prd_id).document.content) if s.issue_key}
    left = sorted(k for k, issue in services.documents.jira_issues(prd_id).items() if issue.synced_at and k not in keys)
    counts = {o: sum(r.get("outcome") == o for r in results) for o in OUTCOMES}
    conflicted = [{"title": r["title"], "issueKey": r["issueKey"], "error": r["error"]} for r in results
                  if r.get("outcome") == "conflict"]  # fmt: skip
    errors = [{"title": r["title"], "issueKey": r.get("issueKey"), "error": r.get("error")} for r in results
              if r.get("outcome") == "failed"]  # fmt: skip
    message = summary_message(len(results), counts, [c["issueKey"] for c in conflicted], left)
    services.documents.end_jira_sync(prd_id, sync_id, "completed")
    _tell(services, prd_id, sync_id, "completed", 100, message, errors=errors, conflicted=conflicted, removed=left)
    _tell_chat(services, prd_id, sync_id, f"Jira sync of PRD {_title(services, prd_id)}: {message}")
    return {"status": "completed", **counts}


def summary_message(total: int, counts: dict[str, int], conflicts: list[str], removed: list[str]) -> str:
    """The sentence a finished sync ends with, e.g. ``Synced 4 user stories: 1 created, 2 updated,
    1 unchanged, 0 failed; changed in both the PRD and Jira (resolve with integration:sync
    resolve): PROJ-3``."""
    message = (f"Synced {total} user stories: {counts['created']} created, {counts['updated']} updated, "
               f"{counts['unchanged']} unchanged, {counts['failed']} failed")  # fmt: skip
    if conflicts:
        message += f"; changed in both the PRD and Jira (resolve with integration:sync resolve): {', '.join(conflicts)}"
    if removed:
        message += f"; no longer in the PRD (left in Jira): {', '.join(removed)}"
    return message


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
    cause = _cause(error)
    _tell(services, prd_id, sync_id, "failed", progress, cause)
    _tell_chat(services, prd_id, sync_id, f"Jira sync of PRD {_title(services, prd_id)} failed: {cause}")
    return {"status": "failed"}


def _title(services: Services, prd_id: str) -> str:
    meta = services.documents.meta(prd_id)
    return f'"{meta.title}"' if meta and meta.title else prd_id


def _tell_chat(services: Services, prd_id: str, sync_id: str, text: str) -> None:
    """The outcome to the PRD's chat channel, when it wants ``jira`` posts (the requester is told
    how the post went)."""
    sync = services.documents.jira_sync(prd_id)
    requester = Recipient(**json.loads(sync.requester)) if sync and sync.sync_id == sync_id else None
    link = link_to(services, prd_id)
    tell_chat(services, prd_id, "jira", text + (f"\n[Open the PRD]({link})" if link else ""), requester)


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
    counts = {k: int(getattr(sync, k) or 0) for k in _COUNTS} if sync else {}
    payload = {"type": "jira", "prdId": prd_id, "status": status, "progress": progress, "message": message,
               "syncId": sync_id, **counts, **extra}  # fmt: skip
    sender = services.sender()
    report = broadcast(services, sender, prd_id, "integration:sync-status", lambda _: payload)
    if sync and sync.sync_id == sync_id:
        requester = Recipient(**json.loads(sync.requester))
        if requester.connection_id not in report.delivered:
            sender.emit(requester, "integration:sync-status", payload)
