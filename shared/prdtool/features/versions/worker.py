"""What the versions function does: the git work behind ``version:create``, ``version:get``,
``version:diff`` and ``version:restore``.

The gateway validates the payload, authorizes the caller and invokes this function for its answer
(``Services.ask_versions``); only this function loads pygit2 (``history``), so no frame of any other
event pays for it. A request names the caller, so whatever this function sends (``version:created``
to the room, a restore's ``operation:applied``) goes through the one sender like any frame's.

Creating a version, step by step, and what a crash at each point leaves:

1. the text is read, then the commit and its tag are written to S3 (content-addressed objects: a
   crash leaves unreferenced objects, which nothing ever reads);
2. one transaction moves the branch head and the latest label and records the version (nothing
   half-written: all of it or none);
3. the room is told (a crash before leaves the version in every listing, just not announced).

A writer whose transaction finds the head moved (another version was created meanwhile) makes its
commit again on the new head, with the label checked again, and retries.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from typing import Any
from weakref import WeakKeyDictionary

from pydantic import ValidationError

from prdtool.engine.chat import link_to, tell_chat
from prdtool.engine.commits import after_commit
from prdtool.engine.context import RequestContext
from prdtool.engine.document_records import DocumentMeta, Version, VersionRaced
from prdtool.engine.editor import SERVER_KEY
from prdtool.engine.rooms import broadcast
from prdtool.engine.services import Services
from prdtool.engine.text_changes import ops_between
from prdtool.engine.versions import content_sha256, history_prefix, latest_label, version_payload
from prdtool.features.versions.events import VersionCreate, VersionDiff, VersionGet, VersionRestore
from prdtool.features.versions.history import History, Signature, changed_lines
from prdtool.features.versions.labels import next_label
from prdtool.features.versions.requests import context_of
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.observability import logger

__all__ = ["serve"]

# Under Lambda's 6 MB for a synchronous answer (a diff of two 2 MB texts rewritten whole can pass it).
MAX_ANSWER_BYTES = 5_000_000
PRD_FILE = "prd.md"
META_FILE = "prd.json"
# How often a version is made again on a head that moved before giving up (BUSY-like INTERNAL).
_TRIES = 8


def serve(services: Services, request: dict[str, Any]) -> dict[str, Any]:
    """Answer one request from the gateway: ``{ok: true, ...}`` or ``{ok: false, error}``."""
    event = request.get("event")
    try:
        model, handler = _HANDLERS[str(event)]
        ctx = context_of(services, request)
        data = model.model_validate(request["payload"])
    except (KeyError, TypeError, ValidationError):
        # The gateway validated the payload: a request that does not read is a bug of ours.
        logger.exception("a malformed request reached the versions function", extra={"event": event})
        return {"ok": False, "error": AppError(ErrorCode.INTERNAL, "Internal error").to_payload()}
    try:
        result = handler(ctx, data)
        if len(json.dumps(result).encode()) > MAX_ANSWER_BYTES:
            raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, "The answer is too large; compare versions closer together")
    except AppError as err:
        return {"ok": False, "error": err.to_payload()}
    return {"ok": True, **result}


# A warm instance keeps the histories it used last, and the git objects it read (they never
# change): a version read twice is fetched from S3 once. Bounded, since a PRD's text is up to 2 MB.
_KEPT_HISTORIES = 8
_KEPT_BYTES = 64 * 1024 * 1024
# Per function instance (its services): what one instance kept never stands for another's bucket.
_kept: WeakKeyDictionary[Services, OrderedDict[str, History]] = WeakKeyDictionary()


def history_of(services: Services, prd_id: str) -> History:
    """A document's git history: its objects under its own prefix of the history bucket."""
    _histories = _kept.setdefault(services, OrderedDict())
    history = _histories.pop(prd_id, None)
    if history is None:
        history = History(services.s3, services.settings.history_bucket, history_prefix(prd_id))
    history.trim(_KEPT_BYTES // _KEPT_HISTORIES)
    _histories[prd_id] = history
    while len(_histories) > _KEPT_HISTORIES:
        _histories.popitem(last=False)
    return history


# ---------------------------------------------------------------- version:create


def create_version(ctx: RequestContext, data: VersionCreate) -> dict[str, Any]:
    services, prd_id = ctx.services, data.prdId
    meta = services.documents.existing(prd_id)
    loaded = services.editor.load(prd_id)
    text, seq = loaded.document.content, loaded.seq
    files = {PRD_FILE: text.encode(), META_FILE: _metadata(meta, seq)}
    who = _signature(ctx)
    history = history_of(services, prd_id)
    commit: str | None = None
    made_on: str | None = None
    for _ in range(_TRIES):
        label = next_label(latest_label(meta), data.version, data.bump)
        parents = [meta.history_head] if meta.history_head else []
        if commit is None:
            commit = history.commit(files, parents, who, data.changelog)
        elif made_on != meta.history_head:
            commit = history.reparent(commit, parents)  # the same text, on the version made meanwhile
        made_on = meta.history_head
        tag = history.tag(f"v{label}", commit, who, data.changelog)
        version = Version(
            prd_id,
            ordinal=int(meta.version_count or 0) + 1,
            version=label,
            commit_hash=commit,
            tag_hash=tag,
            changelog=data.changelog,
            author_id=ctx.principal.user_id,
            author_name=ctx.principal.name,
            created_at=ctx.now_ms,
            seq=seq,
            content_sha256=content_sha256(text),
        )
        try:
            services.documents.add_version(version, meta)
            break
        except VersionRaced:
            meta = services.documents.existing(prd_id)
    else:
        raise AppError(
            ErrorCode.RATE_LIMITED, "Too many versions are being created at once; retry", {"retryable": True}
        )
    created = version_payload(version)
    broadcast(services, ctx.sender, prd_id, "version:created", lambda _: created)
    _tell_chat(ctx, meta, version)
    return created


def _metadata(meta: DocumentMeta, seq: int) -> bytes:
    """The small file committed beside the text: what the version is of."""
    return (json.dumps({"title": meta.title, "status": meta.status, "seq": seq}, indent=2) + "\n").encode()


def _signature(ctx: RequestContext) -> Signature:
    # Git wants an e-mail address; tokens carry none we can trust, so the user id stands in,
    # at a reserved domain (RFC 2606) that can never reach anyone. libgit2 refuses angle
    # brackets, newlines and NULs in either, and an empty name: those are left out.
    user = _git_safe(ctx.principal.user_id) or "user"
    name = _git_safe(ctx.principal.name) or user
    return Signature(name, f"{user.replace(' ', '_')}@users.prdtool.invalid", ctx.now_ms // 1000)


def _git_safe(text: str) -> str:
    return _NOT_IN_SIGNATURES.sub("", text).strip()


_NOT_IN_SIGNATURES = re.compile(r"[<>\x00-\x1f]")


def _tell_chat(ctx: RequestContext, meta: DocumentMeta, version: Version) -> None:
    link = link_to(ctx.services, version.prd_id)
    told = f'**{ctx.principal.name}** created version {version.version} of PRD "{meta.title}": {version.changelog}'
    tell_chat(ctx.services, version.prd_id, "version", told + (f"\n[Open the PRD]({link})" if link else ""), ctx.client)


# ---------------------------------------------------------------- version:get, version:diff


def get_version(ctx: RequestContext, data: VersionGet) -> dict[str, Any]:
    version = _version(ctx, data.prdId, data.version)
    content = _text_at(ctx, version)
    return {"prdId": data.prdId, "version": version.version, "commitHash": version.commit_hash, "content": content}


def diff_versions(ctx: RequestContext, data: VersionDiff) -> dict[str, Any]:
    old = _version(ctx, data.prdId, data.from_, "from")
    history = history_of(ctx.services, data.prdId)
    old_text = history.read_file(old.commit_hash, PRD_FILE) or b""
    if data.to is None:
        loaded = ctx.services.editor.load(data.prdId)
        new_text, new_name, to = loaded.document.content.encode(), f"live:{PRD_FILE}", None
    else:
        new = _version(ctx, data.prdId, data.to, "to")
        new_text, new_name, to = (
            history.read_file(new.commit_hash, PRD_FILE) or b"",
            f"v{new.version}:{PRD_FILE}",
            new.version,
        )
    diff = history.diff(old_text, new_text, f"v{old.version}:{PRD_FILE}", new_name)
    return {"prdId": data.prdId, "from": old.version, "to": to, "diff": diff}


def _version(ctx: RequestContext, prd_id: str, label: str, field: str = "version") -> Version:
    found = ctx.services.documents.version(prd_id, label)
    if found is None:
        raise AppError(ErrorCode.NOT_FOUND, f"PRD {prd_id!r} has no version {label!r}", {"field": field})
    return found


def _text_at(ctx: RequestContext, version: Version) -> str:
    raw = history_of(ctx.services, version.prd_id).read_file(version.commit_hash, PRD_FILE)
    if raw is None:  # every version commits the file: its absence is a damaged history
        raise AppError(ErrorCode.INTERNAL, "Internal error")
    return raw.decode()


# ---------------------------------------------------------------- version:restore


def restore_version(ctx: RequestContext, data: VersionRestore) -> dict[str, Any]:
    version = _version(ctx, data.prdId, data.version)
    target = _text_at(ctx, version)
    loaded = ctx.services.editor.load(data.prdId)
    if loaded.document.content == target:
        return {"prdId": data.prdId, "version": version.version, "seq": loaded.seq, "changes": 0}
    # Made against the document as it is when the edit is written (made again after a lost race):
    # only what differs from the version is touched; an edit made concurrently by a client that
    # has not seen the restore lands after it, and the CRDT merges it.
    applied = ctx.services.editor.submit_as_server(
        data.prdId,
        ctx.principal.user_id,
        SERVER_KEY,
        f"restore:{version.version}:{ctx.now_ms}",
        lambda loaded: ops_between(loaded.document.content, target, changed_lines),
    )
    if not applied.duplicate and applied.entry.ops:
        after_commit(ctx, applied.entry, applied.clock, exclude=None)
    changes = len(applied.entry.ops)
    return {"prdId": data.prdId, "version": version.version, "seq": applied.entry.seq, "changes": changes}


_HANDLERS: dict[str, tuple[Any, Any]] = {
    "version:create": (VersionCreate, create_version),
    "version:get": (VersionGet, get_version),
    "version:diff": (VersionDiff, diff_versions),
    "version:restore": (VersionRestore, restore_version),
}
