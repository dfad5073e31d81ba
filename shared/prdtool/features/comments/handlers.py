"""Comments: adding, replying, editing, deleting, resolving and listing, with mentions.

A comment's place and selection are anchors in the CRDT (``prdtool.engine.anchors``), so every
answer reports them where their text is now. A selection whose text has been deleted entirely
leaves its comment ``anchor: "orphaned"``, listed with the text it quoted: nothing is lost with
the text. Mentions become inbox items in the same transaction as the comment.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from pynamodb.expressions.update import Action

from prdtool.engine.anchors import anchors_at
from prdtool.engine.chat import excerpt, link_to, tell_chat
from prdtool.engine.comment_threads import CursorGone, Place, comment_payload, iso, page_of, threads_of
from prdtool.engine.context import RequestContext
from prdtool.engine.document_records import Comment, CommentLimitReached, DocumentMeta, ThreadGone
from prdtool.engine.inbox import InboxItem, new_notification_id
from prdtool.engine.positions import PositionEncoding, PositionError, line_ch_to_index
from prdtool.engine.rooms import broadcast, encoding_of, joined_room
from prdtool.features.comments.events import SENT, CommentAdd, CommentEdit, CommentList, CommentRef
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.payloads import Position
from prdtool.kernel.rate_limits import enforce_rate_limit
from prdtool.kernel.router import Router

__all__ = ["register"]

COMMENTING_MODES = ("comment", "edit")
QUOTE_CHARS = 1000
# Control characters (but tab and newline) have no place in a comment, and cost 6 bytes each in JSON.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# A comment changed by someone else between our read and our write is read again this often.
_CHANGE_TRIES = 3


# ---------------------------------------------------------------- events


def comment_add(ctx: RequestContext, data: CommentAdd) -> dict[str, Any]:
    services, s, user = ctx.services, ctx.services.settings, ctx.principal
    meta = services.documents.existing(data.prdId)
    room = _commenting_session(ctx, data.prdId)
    content = _content(ctx, data.content)
    mentions = list(dict.fromkeys(data.mentions))
    if len(mentions) > s.comment_max_mentions:
        raise _invalid("mentions", f"at most {s.comment_max_mentions} mentions per comment")
    thread_id = None
    if data.parentId is not None:
        parent = services.documents.comment(data.prdId, data.parentId)
        if parent is None:
            raise AppError(
                ErrorCode.NOT_FOUND, f"No comment {data.parentId!r} in this PRD", {"parentId": data.parentId}
            )
        thread_id = parent.thread_id
    strangers = [u for u in mentions if services.access.role_of(data.prdId, u) is None]
    if strangers:
        raise AppError(
            ErrorCode.VALIDATION_FAILED,
            f"Mentioned users cannot see this PRD: {', '.join(strangers)}",
            {"errors": [{"field": "mentions", "message": "not a member of the PRD"}], "userIds": strangers},
        )
    encoding = encoding_of(room)
    document = services.editor.load(data.prdId).document
    text = document.content
    at = _index(text, data.position, encoding, "position")
    start = end = None
    if data.selection is not None:
        a = _index(text, data.selection.start, encoding, "selection.start")
        b = _index(text, data.selection.end, encoding, "selection.end")
        start, end = min(a, b), max(a, b)
    # Counted once the request is known to be good: refused input costs no allowance.
    enforce_rate_limit(
        ctx, services.rate_limits, user.user_id, "comment:add", s.comment_rate_limit, s.rate_limit_warning
    )
    anchors = anchors_at(document, [at] + ([start, end] if start is not None and end is not None else []))
    comment_id = "comment_" + secrets.token_urlsafe(9)
    comment = Comment(
        data.prdId,
        comment_id=comment_id,
        thread_id=thread_id or comment_id,
        parent_id=data.parentId,
        author_id=user.user_id,
        author_name=user.name,
        author_avatar=user.picture,
        content=content,
        mentions=mentions,
        anchor=anchors[0],
        anchor_start=anchors[1] if len(anchors) == 3 else None,
        anchor_end=anchors[2] if len(anchors) == 3 else None,
        quote=_quoted(text[start:end]) if start is not None else None,
        created_at=ctx.now_ms,
    )
    notices = _mention_notices(ctx, comment, [u for u in mentions if u != user.user_id])
    try:
        services.documents.add_comment(comment, s.comments_per_prd, also=notices)
    except ThreadGone as exc:
        raise AppError(ErrorCode.NOT_FOUND, f"No comment {data.parentId!r} in this PRD",
                       {"parentId": data.parentId}) from exc  # fmt: skip
    except CommentLimitReached as exc:
        raise AppError(
            ErrorCode.LIMIT_EXCEEDED,
            f"This PRD already has {s.comments_per_prd} comments, the most it may hold",
            {"prdId": data.prdId, "limit": s.comments_per_prd},
        ) from exc
    place = Place(at, start, end)
    broadcast(services, ctx.sender, data.prdId, "comment:added", lambda enc: comment_payload(comment, place, text, enc))
    services.inbox.push(ctx.sender, notices)
    _tell_chat_about(ctx, meta, comment, mentions)
    return comment_payload(comment, place, text, encoding)


def comment_edit(ctx: RequestContext, data: CommentEdit) -> dict[str, Any]:
    content = _content(ctx, data.content)

    def change(comment: Comment) -> tuple[list[Action], int, dict[str, Any]]:
        _author_only(ctx, comment, "edit")
        if comment.deleted:
            raise AppError(
                ErrorCode.INVALID_STATE, "A deleted comment cannot be edited", {"commentId": comment.comment_id}
            )
        return [Comment.content.set(content)], 0, {"content": content}

    return _change(ctx, data, change)


def comment_delete(ctx: RequestContext, data: CommentRef) -> dict[str, Any]:

    def change(comment: Comment) -> tuple[list[Action], int, dict[str, Any]] | None:
        _author_only(ctx, comment, "delete")
        if comment.deleted:
            raise AppError(ErrorCode.NOT_FOUND, f"No comment {comment.comment_id!r}", {"commentId": comment.comment_id})
        replies = comment.parent_id is None and bool(comment.reply_count)
        if not replies:
            return None  # removed outright
        # A root with replies stays, as "deleted", so its thread (and every reply) is kept; the
        # thread stays open (and counted) until someone resolves it.
        return [Comment.deleted.set(True), Comment.content.set("")], 0, {"deleted": True, "content": ""}

    return _change(ctx, data, change)


def comment_resolve(ctx: RequestContext, data: CommentRef) -> dict[str, Any]:
    def change(comment: Comment) -> tuple[list[Action], int, dict[str, Any]]:
        if comment.resolved:
            raise AppError(
                ErrorCode.ALREADY_RESOLVED, "The thread is already resolved", {"commentId": comment.comment_id}
            )
        return [Comment.resolved.set(True)], -1, {"resolved": True}

    return _change(ctx, data, change, thread=True)


def comment_reopen(ctx: RequestContext, data: CommentRef) -> dict[str, Any]:
    def change(comment: Comment) -> tuple[list[Action], int, dict[str, Any]]:
        if not comment.resolved:
            raise AppError(ErrorCode.INVALID_STATE, "The thread is open", {"commentId": comment.comment_id})
        return [Comment.resolved.set(False)], 1, {"resolved": False}

    return _change(ctx, data, change, thread=True)


def comment_list(ctx: RequestContext, data: CommentList) -> dict[str, Any]:
    services = ctx.services
    services.documents.existing(data.prdId)
    services.access.require(ctx.principal, data.prdId, "viewer", "Reading comments")
    room = ctx.connection.room(data.prdId) if ctx.connection else None
    encoding = encoding_of(room)
    document = services.editor.load(data.prdId).document
    threads = threads_of(document, services.documents.comments(data.prdId), encoding, data.includeResolved)
    try:
        page, cursor = page_of(threads, data.cursor)
    except CursorGone as exc:
        raise AppError(ErrorCode.INVALID_STATE, "The thread this cursor continued is gone; list again",
                       {"commentId": str(exc)}) from exc  # fmt: skip
    except ValueError as exc:
        raise _invalid("cursor", str(exc)) from exc
    return {"prdId": data.prdId, "threads": page, "cursor": cursor}


# ---------------------------------------------------------------- the steps they share


Change = Callable[[Comment], "tuple[list[Action], int, dict[str, Any]] | None"]


def _change(ctx: RequestContext, data: CommentRef, change: Change, thread: bool = False) -> dict[str, Any]:
    """Read the comment (its thread's root with ``thread``), let ``change`` decide, write it as
    read; read again when someone else changed it in between. Broadcasts ``comment:updated``."""
    services = ctx.services
    for _ in range(_CHANGE_TRIES):
        comment = _find(ctx, data)
        if thread and comment.parent_id is not None:
            comment = services.documents.comment(comment.prd_id, comment.thread_id) or comment
        decided = change(comment)
        if decided is None:
            done = services.documents.remove_comment(comment)
            changed: dict[str, Any] = {"deleted": True}
        else:
            actions, threads, changed = decided
            done = services.documents.change_comment(
                comment, [*actions, Comment.updated_at.set(ctx.now_ms)], open_threads=threads
            )
        if done:
            updated = {
                "commentId": comment.comment_id,
                "prdId": comment.prd_id,
                **changed,
                "updatedAt": iso(ctx.now_ms),
                "by": {"id": ctx.principal.user_id, "name": ctx.principal.name},
            }
            _tell_room(ctx, comment.prd_id, updated)
            return updated
    raise AppError(ErrorCode.INVALID_STATE, "The comment keeps changing; try again", {"commentId": data.commentId})


def _tell_room(ctx: RequestContext, prd_id: str, updated: dict[str, Any]) -> None:
    broadcast(ctx.services, ctx.sender, prd_id, "comment:updated", lambda _: updated)


def _find(ctx: RequestContext, data: CommentRef) -> Comment:
    """The comment, in the named PRD or in one the session has joined, with the caller allowed to
    comment there (joined in comment or edit mode, the commenter role or above)."""
    prd_ids = [data.prdId] if data.prdId else list(ctx.connection.joined if ctx.connection else {})
    for prd_id in prd_ids:
        comment = ctx.services.documents.comment(prd_id, data.commentId)
        if comment is not None:
            _commenting_session(ctx, prd_id)
            return comment
    raise AppError(ErrorCode.NOT_FOUND, f"No comment {data.commentId!r} in a PRD you have joined",
                   {"commentId": data.commentId})  # fmt: skip


def _commenting_session(ctx: RequestContext, prd_id: str) -> dict[str, str]:
    room = joined_room(ctx, prd_id)
    if room.get("mode") not in COMMENTING_MODES:
        raise AppError(ErrorCode.FORBIDDEN, "Join the PRD in comment or edit mode to comment", {"prdId": prd_id})
    ctx.services.access.require(ctx.principal, prd_id, "commenter", "Commenting")
    return room


def _author_only(ctx: RequestContext, comment: Comment, verb: str) -> None:
    if comment.author_id != ctx.principal.user_id:
        raise AppError(ErrorCode.FORBIDDEN, f"Only its author can {verb} a comment", {"commentId": comment.comment_id})


def _content(ctx: RequestContext, content: str) -> str:
    limit = ctx.services.settings.comment_max_chars
    if not content.strip():
        raise _invalid("content", "a comment needs some text")
    if _CONTROL.search(content):
        raise _invalid("content", "control characters (other than tab and newline) are not allowed")
    if len(content) > limit:
        raise _invalid("content", f"at most {limit} characters (this one has {len(content)})")
    return content


def _index(text: str, position: Position, encoding: PositionEncoding, field: str) -> int:
    try:
        return line_ch_to_index(text, position.line, position.ch, encoding)
    except PositionError as exc:
        raise _invalid(field, str(exc)) from exc


def _quoted(selected: str) -> str:
    """What a comment keeps of its selected text (shown when the text is gone): its start."""
    return selected if len(selected) <= QUOTE_CHARS else selected[:QUOTE_CHARS] + "…"


def _invalid(field: str, message: str) -> AppError:
    return AppError(ErrorCode.VALIDATION_FAILED, f"Invalid payload: {field}: {message}",
                    {"errors": [{"field": field, "message": message}]})  # fmt: skip


def _mention_notices(ctx: RequestContext, comment: Comment, users: Sequence[str]) -> list[InboxItem]:
    """An inbox item per mentioned user, written with the comment."""
    notices = []
    for user in users:
        event = {
            "notificationId": new_notification_id(ctx.now_ms),
            "prdId": comment.prd_id,
            "commentId": comment.comment_id,
            "by": {"id": ctx.principal.user_id, "name": ctx.principal.name},
            "excerpt": excerpt(comment.content),
            "createdAt": iso(ctx.now_ms),
        }
        notices.append(ctx.services.inbox.item(user, "mention", comment.prd_id, {"commentId": comment.comment_id},
                                               event, ctx.now_ms))  # fmt: skip
    return notices


def _tell_chat_about(ctx: RequestContext, meta: DocumentMeta, comment: Comment, mentions: Sequence[str]) -> None:
    link = link_to(ctx.services, comment.prd_id, comment.comment_id)
    quoted = "> " + excerpt(comment.content)
    tail = f"\n[Open the comment]({link})" if link else ""
    who = f"**{ctx.principal.name}**"
    tell_chat(ctx.services, comment.prd_id, "comment",
              f'{who} commented on PRD "{meta.title}":\n{quoted}{tail}', ctx.client)  # fmt: skip
    if mentions:
        named = ", ".join(f"@{u}" for u in mentions)
        tell_chat(ctx.services, comment.prd_id, "mention",
                  f'{who} mentioned {named} on PRD "{meta.title}":\n{quoted}{tail}', ctx.client)  # fmt: skip


def register(router: Router) -> None:
    for event, model in SENT.items():
        router.sends(event, model)
    router.on("comment:add", CommentAdd)(comment_add)
    router.on("comment:edit", CommentEdit)(comment_edit)
    router.on("comment:delete", CommentRef)(comment_delete)
    router.on("comment:resolve", CommentRef)(comment_resolve)
    router.on("comment:reopen", CommentRef)(comment_reopen)
    router.on("comment:list", CommentList)(comment_list)
