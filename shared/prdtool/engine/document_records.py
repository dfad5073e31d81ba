"""Where documents live: metadata, members, the sessions in each room, and clock-key leases.

One DynamoDB table, keyed by document (``prd_id``) and item (``meta``, ``member#<user>``,
``session#<connection>``, ``clock#<key>``, ``conflict#<id>``, ``comment#<id>``,
``chat#<platform>``, ``version#<ordinal>``, ``label#<version>``, ``approval#<id>``, ``review``,
``suggestion#<id>``, ``integration#jira``, ``jira-issue#<key>``, ``sync#jira``, ``fanout``), so everything
about a document is one Query away and no item grows with the document's history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.exceptions import PutError, TransactGetError
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactGet, TransactWrite

from prdtool.engine.positions import DEFAULT_ENCODING
from prdtool.kernel.conditions import condition_failed, delete_if, transact_retrying, update_if
from prdtool.kernel.errors import no_such_prd
from prdtool.kernel.settings import Settings
from prdtool.kernel.tables import bind

__all__ = [
    "Approval",
    "ChatLink",
    "ClockLease",
    "Comment",
    "CommentLimitReached",
    "Conflict",
    "DocumentMeta",
    "DocumentRecords",
    "FanOutClaim",
    "FanOutLease",
    "JiraIssue",
    "JiraLink",
    "JiraSync",
    "Membership",
    "ReviewLease",
    "RoomSession",
    "Suggestion",
    "ThreadGone",
    "Version",
    "VersionRaced",
    "bind_document_tables",
    "transact",
]

META = "meta"
MEMBER = "member#"
SESSION = "session#"
CLOCK = "clock#"
CONFLICT = "conflict#"
COMMENT = "comment#"
CHAT = "chat#"
VERSION = "version#"
LABEL = "label#"
APPROVAL = "approval#"
REVIEW = "review"
JIRA = "integration#jira"
JIRA_ISSUE = "jira-issue#"
JIRA_SYNC = "sync#jira"
JIRA_CREATE = "jira-create#"
DELETIONS = "deletions#"
_KEPT_DELETIONS = 50  # of one person's counted deleting edits in a document
SUGGESTION = "suggestion#"
FAN_OUT = "fanout"
# A fan-out lease's item outlives the last connection that could miss what it names: API Gateway
# closes every connection within 2 h, and a reconnecting client catches up with session:recover.
_FAN_OUT_KEPT_S = 3 * 3600


class _DocumentItem(Model):
    class Meta:
        table_name = "documents"  # replaced by bind_document_tables()
        region = "us-east-1"

    prd_id = UnicodeAttribute(hash_key=True)
    item = UnicodeAttribute(range_key=True)


class DocumentMeta(_DocumentItem):
    title = UnicodeAttribute()
    status = UnicodeAttribute(default="draft")
    owner_id = UnicodeAttribute()
    # The git history (prdtool.features.versions): its branch head, and the latest version's label,
    # moved together by one conditional write per version (see add_version).
    history_head = UnicodeAttribute(null=True)
    version = UnicodeAttribute(default="0.0.0")  # the latest version's label; "0.0.0" before the first
    version_count = NumberAttribute(default=0)
    # The latest approved version, and the SHA-256 of its text (is the live text still what was approved?).
    approved_version = UnicodeAttribute(null=True)
    approved_ordinal = NumberAttribute(null=True)
    approved_sha256 = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    # Counted in the same transaction as each comment written or removed (see add_comment).
    comment_count = NumberAttribute(default=0)  # every comment, replies and resolved ones included
    open_threads = NumberAttribute(default=0)  # root comments not resolved
    # Counted in the same transaction as each suggestion opened or closed (prdtool.features.ai).
    open_suggestions = NumberAttribute(default=0)
    # The seq of the latest snapshot written (prdtool.engine.compaction): a join on a cold instance
    # reads that snapshot straight away instead of listing the document's snapshots first.
    snapshot_seq = NumberAttribute(null=True)


class Membership(_DocumentItem):
    user_id = UnicodeAttribute()
    role = UnicodeAttribute()


class RoomSession(_DocumentItem):
    """One connection in a document's room. Never the only record: the connection's own record
    lists its sessions too, so both can be cleaned up from either side."""

    connection_id = UnicodeAttribute()
    namespace = UnicodeAttribute(default="/")
    protocol = UnicodeAttribute()
    session_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    user_name = UnicodeAttribute()
    mode = UnicodeAttribute()
    encoding = UnicodeAttribute(default=DEFAULT_ENCODING)
    clock_key = UnicodeAttribute(null=True)
    joined_at = NumberAttribute()
    expires_at = TTLAttribute(null=True)  # API Gateway closes connections within 2 h
    # Presence: one small item update per cursor move, never the update log.
    color = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="active")
    anchor_seq = NumberAttribute(null=True)  # the seq the cursor and selection positions count in
    cursor = NumberAttribute(null=True)  # code point indexes
    sel_start = NumberAttribute(null=True)
    sel_end = NumberAttribute(null=True)
    presence_at = NumberAttribute(null=True)
    broadcast_at = NumberAttribute(null=True)
    last_activity = NumberAttribute(null=True)


class Conflict(_DocumentItem):
    """A detected conflict between two concurrent ops, until it is resolved or expires (as auto)."""

    conflict_id = UnicodeAttribute()
    authors = UnicodeAttribute()  # JSON list of the two user ids, operation_1 first
    seqs = UnicodeAttribute()  # JSON list of the two entries' seqs
    operations = UnicodeAttribute()  # JSON, the conflict:detected payload's operations
    region_start = NumberAttribute()  # code points, in the text as of the later seq
    region_end = NumberAttribute()
    at_seq = NumberAttribute()
    status = UnicodeAttribute(default="open")
    resolution = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    expires_at = TTLAttribute(null=True)


class Comment(_DocumentItem):
    """One comment: a thread's root, or a reply in it (``parent_id``, ``thread_id`` the root's)."""

    comment_id = UnicodeAttribute()
    thread_id = UnicodeAttribute()
    parent_id = UnicodeAttribute(null=True)
    author_id = UnicodeAttribute()
    author_name = UnicodeAttribute()
    author_avatar = UnicodeAttribute(null=True)
    content = UnicodeAttribute()
    mentions: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, default=list)  # type: ignore[arg-type]  # pynamodb types "of" as the value
    # Yjs relative positions (prdtool.engine.anchors): the place, and the selection's two ends.
    anchor = BinaryAttribute(legacy_encoding=False)
    anchor_start = BinaryAttribute(legacy_encoding=False, null=True)
    anchor_end = BinaryAttribute(legacy_encoding=False, null=True)
    quote = UnicodeAttribute(null=True)  # the selected text when the comment was made
    resolved = BooleanAttribute(default=False)
    deleted = BooleanAttribute(default=False)  # a root removed by its author that keeps its replies
    created_at = NumberAttribute()
    updated_at = NumberAttribute(null=True)
    revision = NumberAttribute(null=True)  # moved on by every change (the "as read" checks)
    reply_count = NumberAttribute(null=True)  # on a root: its replies


class CommentLimitReached(Exception):
    """The document holds as many comments as it may."""


class ThreadGone(Exception):
    """A reply's thread was removed before the reply could be stored."""


class ChatLink(_DocumentItem):
    """A document's link to a chat channel. The webhook URL itself is a secret, kept in SSM
    (``parameter``); this item holds only what may be shown."""

    platform = UnicodeAttribute()
    parameter = UnicodeAttribute()
    host = UnicodeAttribute()
    key_tail = UnicodeAttribute()
    channel = UnicodeAttribute(null=True)
    events: ListAttribute[str] = ListAttribute(of=UnicodeAttribute)  # type: ignore[arg-type]
    configured_by = UnicodeAttribute()
    configured_at = NumberAttribute()


class JiraLink(_DocumentItem):
    """A document's link to a Jira Cloud project. The API token (and the webhook secret) are
    credentials, kept in SSM (``parameter``); this item holds only what may be shown."""

    base_url = UnicodeAttribute()
    project_key = UnicodeAttribute()
    email = UnicodeAttribute()
    issue_type = UnicodeAttribute()
    parameter = UnicodeAttribute()
    account_id = UnicodeAttribute()
    account_name = UnicodeAttribute()
    webhook_secret = BooleanAttribute(default=False)  # whether one is stored with the token
    configured_by = UnicodeAttribute()
    configured_at = NumberAttribute()


class JiraIssue(_DocumentItem):
    """One of the document's Jira issues, item ``jira-issue#<key>``: what Jira last said of it (its
    webhooks), and what the last sync left in step on both sides: the story it read
    (``fingerprint``), the fields it would send for it (``sent_print``) and the words the issue had
    then (``jira_print``); ``conflict``: the last sync found both sides changed since."""

    issue_key = UnicodeAttribute()
    summary = UnicodeAttribute()
    status = UnicodeAttribute(null=True)
    changed_at = NumberAttribute(default=0)
    fingerprint = UnicodeAttribute(null=True)
    sent_print = UnicodeAttribute(null=True)
    jira_print = UnicodeAttribute(null=True)
    sending = UnicodeAttribute(null=True)  # the sent_print of an update under way (a crash leaves it)
    conflict = BooleanAttribute(default=False)
    synced_at = NumberAttribute(null=True)


class JiraCreate(_DocumentItem):
    """A story's issue being created (item ``jira-create#<story fingerprint>``), kept from just before
    the create request until the sync has written the key into the PRD. Found by a later try, it
    says Jira made the issue (``issue_key``), or may have though its answer was lost (no key yet),
    so the try uses or looks for that issue instead of creating another."""

    sync_id = UnicodeAttribute()
    summary = UnicodeAttribute()
    started_at = NumberAttribute()
    issue_key = UnicodeAttribute(null=True)


class JiraSync(_DocumentItem):
    """The document's Jira sync, running or last run (item ``sync#jira``): one at a time, taken by
    a conditional write; its counts grow with each story (atomic ADDs, from parallel steps)."""

    sync_id = UnicodeAttribute()
    state = UnicodeAttribute()  # running, completed, failed
    requester = UnicodeAttribute()  # JSON: the Recipient that asked (its progress goes there too)
    started_at = NumberAttribute()
    expires_at = NumberAttribute()  # ms: a sync whose execution died lets the next one run after it
    total = NumberAttribute(default=0)
    done = NumberAttribute(default=0)
    created = NumberAttribute(default=0)
    updated = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    unchanged = NumberAttribute(default=0)
    conflicts = NumberAttribute(default=0)
    resolve = UnicodeAttribute(null=True)  # JSON {issue key: "prd" | "jira"}: how the requester settled conflicts


class DeletionBurst(_DocumentItem):
    """One person's recent deleting edits in a document (item ``deletions#<user>``, see
    ``prdtool.engine.mass_deletion``): flat quads ``at, before, after, seq``, and until when a burst
    of theirs was told (one alert per burst)."""

    edits: ListAttribute[float] = ListAttribute(of=NumberAttribute, null=True)  # type: ignore[arg-type]
    alerted_until = NumberAttribute(null=True)


class Version(_DocumentItem):
    """One version: a commit of the document's text in its git history, with its label (a tag).
    ``ordinal`` counts versions from 1; labels only ever grow, so it orders them as semver does."""

    ordinal = NumberAttribute()
    version = UnicodeAttribute()
    commit_hash = UnicodeAttribute()
    tag_hash = UnicodeAttribute()
    changelog = UnicodeAttribute()
    author_id = UnicodeAttribute()
    author_name = UnicodeAttribute()
    created_at = NumberAttribute()
    seq = NumberAttribute()  # the update-log seq the text was taken at
    content_sha256 = UnicodeAttribute()
    status = UnicodeAttribute(default="draft")  # draft, in_review, approved, changes_requested
    approval_id = UnicodeAttribute(null=True)  # the latest approval requested for it
    revision = NumberAttribute(default=0)  # every change of status counts: the "as read" check


class VersionLabel(_DocumentItem):
    """``label#<version>``: which version holds a label, so a label is found (and taken) once."""

    ordinal = NumberAttribute()


class Approval(_DocumentItem):
    """A request that named users approve one commit. Decisions are kept on it, never rewritten."""

    approval_id = UnicodeAttribute()
    version = UnicodeAttribute()
    ordinal = NumberAttribute()
    commit_hash = UnicodeAttribute()
    requester_id = UnicodeAttribute()
    requester_name = UnicodeAttribute()
    message = UnicodeAttribute()
    approvers: ListAttribute[str] = ListAttribute(of=UnicodeAttribute)  # type: ignore[arg-type]  # pynamodb types "of" as the value
    decisions = UnicodeAttribute(default="[]")  # JSON: [{id, name, decision, at, comment|reason}]
    status = UnicodeAttribute(default="pending")  # pending, approved, rejected
    created_at = NumberAttribute()
    revision = NumberAttribute(default=0)


class VersionRaced(Exception):
    """Another version was created since the document's history was read: read it again."""


class ReviewLease(_DocumentItem):
    """The document's one review, due or running (``prdtool.engine.reviews``): who holds it and
    until when, and the time its holder will next look at the log (``watch_until``)."""

    owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)  # ms; a holder that died lets it go at this time
    watch_until = NumberAttribute(null=True)  # ms; the holder reads the log at or after it
    nudged_at = NumberAttribute(null=True)  # ms; the latest edit that asked for a review
    reviewed_seq = NumberAttribute(default=0)
    reviewed_at = NumberAttribute(null=True)


class Suggestion(_DocumentItem):
    """A finding of a review, offered to the document's editors (``prdtool.features.ai``). Its place
    is a Yjs relative position in the CRDT, so it follows the text through every edit."""

    suggestion_id = UnicodeAttribute()
    key = UnicodeAttribute()  # "<rule>:<section>:<subject>": what makes two findings the same
    rule = UnicodeAttribute()
    type = UnicodeAttribute()
    section = UnicodeAttribute()
    title = UnicodeAttribute()
    description = UnicodeAttribute()
    priority = UnicodeAttribute()
    suggested_content = UnicodeAttribute()
    anchor = BinaryAttribute(legacy_encoding=False)  # where suggested_content goes
    subject_start = BinaryAttribute(null=True, legacy_encoding=False)  # the text it is about
    subject_end = BinaryAttribute(null=True, legacy_encoding=False)
    status = UnicodeAttribute(default="open")  # open, applied, dismissed, withdrawn
    created_at = NumberAttribute()
    reviewed_seq = NumberAttribute()
    resolved_by = UnicodeAttribute(null=True)  # a user id, or "review" for a withdrawal
    resolved_at = NumberAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    note = UnicodeAttribute(null=True)
    section_sketch = UnicodeAttribute(null=True)  # JSON: the dismissed section's sketch (see review)
    applied_seq = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class FanOutLease(_DocumentItem):
    """Who sends a large room's entries (``prdtool.engine.fan_out``), until when, and what was sent."""

    holder = UnicodeAttribute(null=True)  # None: free
    lease_until = NumberAttribute(null=True)  # ms; a holder that died lets it go at this time
    sent_seq = NumberAttribute(null=True)  # every entry up to it has been sent to the room
    sent_at = NumberAttribute(null=True)  # ms; when the room was last posted to
    expires_at = TTLAttribute(null=True)


@dataclass(frozen=True)
class FanOutClaim:
    """A claimed fan-out lease: what was sent last (None: nothing yet, or too long ago to matter)."""

    sent_seq: int | None
    sent_at: int


class ClockLease(_DocumentItem):
    """Which live editing session holds a clock key, so two tabs never share one."""

    holder = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)


_MODELS = (
    _DocumentItem, DocumentMeta, Membership, RoomSession, ClockLease, Conflict, Comment, ChatLink, JiraLink,
    JiraIssue, JiraSync,
    Version, VersionLabel, Approval, ReviewLease, Suggestion, FanOutLease,
)  # fmt: skip


def bind_document_tables(settings: Settings) -> None:
    for model in _MODELS:
        bind(model, settings.documents_table, settings)
        if model is not _DocumentItem:
            # One connection for every item kind: the subclasses inherit it, so the table costs
            # one botocore client (~60 ms at cold start), not one per kind.
            delattr(model, "_connection")
    if settings.documents_table:
        _DocumentItem._get_connection()


class DocumentRecords:
    """Reads and conditional writes of document items."""

    def open(self) -> None:
        _ = _DocumentItem._get_connection().connection.client

    # ---------------------------------------------------------------- documents and members

    def create(self, meta: DocumentMeta, owner: str) -> None:
        """Create a document and its owner's membership together, or neither (``PutError``-like
        ``TransactWriteError`` when the id exists)."""
        meta.item = META
        owner_item = Membership(meta.prd_id, MEMBER + owner, user_id=owner, role="owner")
        connection = _DocumentItem._get_connection().connection
        with TransactWrite(connection=connection) as transaction:
            # A document id is created once: a clash must fail, not overwrite someone's PRD (nor
            # make its creator an owner of it). One transaction: never a PRD without its owner.
            transaction.save(meta, condition=DocumentMeta.prd_id.does_not_exist())
            transaction.save(owner_item, condition=Membership.prd_id.does_not_exist())

    def meta(self, prd_id: str) -> DocumentMeta | None:
        return _get(DocumentMeta, prd_id, META)

    def existing(self, prd_id: str) -> DocumentMeta:
        """The document's metadata; ``NOT_FOUND`` (``no_such_prd``) when there is no such document."""
        meta = self.meta(prd_id)
        if meta is None:
            raise no_such_prd(prd_id)
        return meta

    def role_of(self, prd_id: str, user_id: str) -> str | None:
        member = _get(Membership, prd_id, MEMBER + user_id)
        return member.role if member else None

    def note_snapshot(self, prd_id: str, seq: int) -> bool:
        """Name the snapshot at ``seq`` as the document's latest; False when a newer one is named
        already (or the document is gone)."""
        m = DocumentMeta
        # Only forward: two compactions that finish out of order leave the newer seq. Only on a
        # document that exists: an update must not create a half-made one.
        newer = m.snapshot_seq.does_not_exist() | (m.snapshot_seq < seq)
        return update_if(DocumentMeta(prd_id, META), [m.snapshot_seq.set(seq)], m.prd_id.exists() & newer)

    def meta_and_role(self, prd_id: str, user_id: str) -> tuple[DocumentMeta | None, str | None]:
        """The document's metadata and the user's role on it, both as they are now, in one
        request (a join needs both before anything else; two GetItems would be two round trips)."""
        try:
            with TransactGet(connection=_DocumentItem._get_connection().connection) as read:
                meta, member = read.get(DocumentMeta, prd_id, META), read.get(Membership, prd_id, MEMBER + user_id)
        except TransactGetError:  # a transaction writing either item at that moment: one at a time, then
            return self.meta(prd_id), self.role_of(prd_id, user_id)
        return _resolved(meta, DocumentMeta), (found.role if (found := _resolved(member, Membership)) else None)

    def metas_and_roles(self, prd_ids: list[str], user_id: str) -> dict[str, tuple[DocumentMeta | None, str | None]]:
        """For each document, its metadata and the user's role, in two batched reads (not two
        reads per document)."""
        metas = {m.prd_id: m for m in DocumentMeta.batch_get([(p, META) for p in prd_ids], consistent_read=True)}
        roles = {
            m.prd_id: m.role
            for m in Membership.batch_get([(p, MEMBER + user_id) for p in prd_ids], consistent_read=True)
        }
        return {p: (metas.get(p), roles.get(p)) for p in prd_ids}

    def share(self, prd_id: str, user_id: str, role: str) -> None:
        Membership(prd_id, MEMBER + user_id, user_id=user_id, role=role).save()

    def update_meta(self, prd_id: str, title: str | None, status: str | None, now: int) -> DocumentMeta:
        actions: list[Action] = [DocumentMeta.updated_at.set(now)]
        if title is not None:
            actions.append(DocumentMeta.title.set(title))
        if status is not None:
            actions.append(DocumentMeta.status.set(status))
        meta = DocumentMeta(prd_id, META)
        # Only an existing document: an update must not create a half-made one.
        meta.update(actions=actions, condition=DocumentMeta.prd_id.exists())
        return meta

    # ---------------------------------------------------------------- rooms

    def join(self, session: RoomSession, alongside: Callable[[TransactWrite], None]) -> bool:
        """Put the session in its room, in one transaction with ``alongside`` (the connection's
        own record of it): both are written, or neither is; False when a condition of
        ``alongside`` failed (the connection is gone)."""
        session.item = SESSION + session.connection_id
        session.expires_at = _in_hours(3)

        def write(transaction: TransactWrite) -> None:
            transaction.save(session)
            alongside(transaction)

        return transact(write)

    def leave(self, prd_id: str, connection_id: str) -> None:
        RoomSession(prd_id, SESSION + connection_id).delete()

    def session(self, prd_id: str, connection_id: str) -> RoomSession | None:
        return _get(RoomSession, prd_id, SESSION + connection_id)

    def room(self, prd_id: str) -> Iterator[RoomSession]:
        return RoomSession.query(prd_id, RoomSession.item.startswith(SESSION), consistent_read=True)

    def room_addresses(self, prd_id: str) -> Iterator[RoomSession]:
        """The room's sessions with only what sending to them takes (who, where, how framed, in
        which mode): a broadcast reads the room on every edit, and the rest of each session
        (presence, cursor, colour) would only be parsed to be thrown away."""
        m = RoomSession
        wanted = [m.prd_id, m.item, m.connection_id, m.protocol, m.namespace, m.encoding, m.mode, m.user_id,
                  m.clock_key]  # fmt: skip
        return RoomSession.query(
            prd_id, m.item.startswith(SESSION), consistent_read=True, attributes_to_get=[a.attr_name for a in wanted]
        )

    def claim_fan_out(self, prd_id: str, holder: str, seq: int, now: int, lease_ms: int) -> FanOutClaim | None:
        """Take the room's fan-out lease to send entries up to ``seq``; None when another live
        holder has it (it will send them) or they have been sent already."""
        lease = FanOutLease(prd_id, FAN_OUT)
        actions = [
            FanOutLease.holder.set(holder),
            FanOutLease.lease_until.set(now + lease_ms),
            FanOutLease.expires_at.set(datetime.fromtimestamp(now / 1000 + _FAN_OUT_KEPT_S, UTC)),
        ]
        # One live holder per room: the lease is free, or its holder died (its time is up). And
        # only while something up to seq is unsent, so an edit its holder already sent costs no
        # claim to act on.
        condition = (FanOutLease.holder.does_not_exist() | (FanOutLease.lease_until < now)) & (
            FanOutLease.sent_seq.does_not_exist() | (FanOutLease.sent_seq < seq)
        )
        if not update_if(lease, actions, condition):
            return None
        sent_seq = None if lease.sent_seq is None else int(lease.sent_seq)
        return FanOutClaim(sent_seq, int(lease.sent_at or 0))

    def release_fan_out(self, prd_id: str, holder: str, sent_seq: int, sent_at: int) -> bool:
        """Let the lease go, having sent every entry up to ``sent_seq`` at ``sent_at``. False: it
        was not ours any more (it ran out and another holder took it; that one sends from the
        ``sent_seq`` it found, so nothing is skipped, at worst sent twice)."""
        lease = FanOutLease(prd_id, FAN_OUT)
        actions = [
            FanOutLease.holder.remove(),
            FanOutLease.lease_until.remove(),
            FanOutLease.sent_seq.set(sent_seq),
            FanOutLease.sent_at.set(sent_at),
        ]
        # Only its own holder moves sent_seq: a holder that lost the lease must not.
        return update_if(lease, actions, FanOutLease.holder == holder)

    # ---------------------------------------------------------------- presence

    def record_presence(self, prd_id: str, connection_id: str, at: int, **fields: Any) -> bool:
        """Store a session's presence if ``at`` is newer than what is stored. False: it is not
        (a later move overtook this one) or the session has left."""
        session = RoomSession(prd_id, SESSION + connection_id)
        actions = [RoomSession.presence_at.set(at), RoomSession.last_activity.set(at)]
        actions += [getattr(RoomSession, name).set(value) for name, value in fields.items() if value is not None]
        # Only a live session, and only forward in time: moves arrive out of order, the last wins.
        condition = RoomSession.item.exists() & (
            RoomSession.presence_at.does_not_exist() | (RoomSession.presence_at < at)
        )
        return update_if(session, actions, condition)

    def claim_broadcast(self, prd_id: str, connection_id: str, at: int, gap_ms: int) -> bool:
        """Whether this presence may be sent now: at most one broadcast per session per ``gap_ms``."""
        session = RoomSession(prd_id, SESSION + connection_id)
        condition = RoomSession.item.exists() & (
            RoomSession.broadcast_at.does_not_exist() | (RoomSession.broadcast_at <= at - gap_ms)
        )
        return update_if(session, [RoomSession.broadcast_at.set(at)], condition)

    def mark_away(self, prd_id: str, connection_id: str, idle_since: int) -> bool:
        """Turn a session idle since ``idle_since`` away, unless it moved meanwhile."""
        session = RoomSession(prd_id, SESSION + connection_id)
        condition = RoomSession.item.exists() & (RoomSession.last_activity == idle_since)
        return update_if(session, [RoomSession.status.set("away")], condition)

    # ---------------------------------------------------------------- conflicts

    def add_conflict(self, conflict: Conflict) -> None:
        conflict.item = CONFLICT + conflict.conflict_id
        conflict.save()

    def conflict(self, prd_id: str, conflict_id: str) -> Conflict | None:
        return _get(Conflict, prd_id, CONFLICT + conflict_id)

    def settle_conflict(self, prd_id: str, conflict_id: str, resolution: str) -> bool:
        """Mark a conflict resolved; False when it already was (a conflict resolves once)."""
        item = Conflict(prd_id, CONFLICT + conflict_id)
        return update_if(
            item,
            [Conflict.status.set("resolved"), Conflict.resolution.set(resolution)],
            Conflict.item.exists() & (Conflict.status == "open"),
        )

    def reopen_conflict(self, prd_id: str, conflict_id: str, resolution: str) -> None:
        """Give back a conflict settled as ``resolution`` whose resolution failed: open, as before."""
        item = Conflict(prd_id, CONFLICT + conflict_id)
        # Only the settlement this resolution made: never reopen one another resolver has made since.
        condition = Conflict.item.exists() & (Conflict.status == "resolved") & (Conflict.resolution == resolution)
        update_if(item, [Conflict.status.set("open"), Conflict.resolution.remove()], condition)

    # ---------------------------------------------------------------- comments

    def add_comment(self, comment: Comment, limit: int, also: Sequence[Model] = ()) -> None:
        """Store a new comment, and ``also`` (its inbox items), counted on the document, all or
        nothing. ``CommentLimitReached`` when the document already holds ``limit`` comments;
        ``ThreadGone`` when a reply's thread was removed meanwhile."""
        comment.item = COMMENT + comment.comment_id
        counts: list[Action] = [DocumentMeta.comment_count.add(1)]
        if comment.parent_id is None:
            counts.append(DocumentMeta.open_threads.add(1))
        # The count can only pass the limit by a write that checked it: every add goes through here.
        under_limit = DocumentMeta.prd_id.exists() & (
            DocumentMeta.comment_count.does_not_exist() | (DocumentMeta.comment_count < limit)
        )

        def write(transaction: TransactWrite) -> None:
            transaction.update(DocumentMeta(comment.prd_id, META), actions=counts, condition=under_limit)
            # A comment id is new: a clash must fail, never overwrite another's comment.
            transaction.save(comment, condition=Comment.item.does_not_exist())
            if comment.parent_id is not None:
                # The thread's root must still be there, and it counts its replies with a new
                # revision: a delete that read it before this reply fails its "as read" check, so
                # a root is never removed from under a reply.
                transaction.update(
                    Comment(comment.prd_id, COMMENT + comment.thread_id),
                    actions=[Comment.reply_count.add(1), Comment.revision.add(1)],
                    condition=Comment.item.exists(),
                )
            for item in also:
                transaction.save(item)

        if not transact(write):
            meta = self.meta(comment.prd_id)
            if meta is not None and int(meta.comment_count or 0) >= limit:
                raise CommentLimitReached(limit)
            if comment.parent_id is not None and self.comment(comment.prd_id, comment.thread_id) is None:
                raise ThreadGone(comment.thread_id)
            raise RuntimeError(f"comment {comment.comment_id!r} clashed with an existing one")

    def comment(self, prd_id: str, comment_id: str) -> Comment | None:
        return _get(Comment, prd_id, COMMENT + comment_id)

    def comments(self, prd_id: str) -> list[Comment]:
        """Every comment of a document (at most the comment limit: one Query, paged)."""
        return list(Comment.query(prd_id, Comment.item.startswith(COMMENT), consistent_read=True))

    def change_comment(self, comment: Comment, actions: list[Action], open_threads: int = 0) -> bool:
        """Apply ``actions`` to a comment as it was read (its revision unchanged since), and move
        the document's open-thread count by ``open_threads`` with it. False: it changed meanwhile."""
        target = Comment(comment.prd_id, comment.item)
        changes = [*actions, Comment.revision.add(1)]
        if not open_threads:
            return update_if(target, changes, _as_read(comment))

        def write(transaction: TransactWrite) -> None:
            transaction.update(target, actions=changes, condition=_as_read(comment))
            transaction.update(
                DocumentMeta(comment.prd_id, META), actions=[DocumentMeta.open_threads.add(open_threads)]
            )

        return transact(write)

    def remove_comment(self, comment: Comment) -> bool:
        """Delete a comment as it was read, taking it off the document's counts (and a reply off
        its root's). False: it changed meanwhile."""
        counts: list[Action] = [DocumentMeta.comment_count.add(-1)]
        if comment.parent_id is None and not comment.resolved:
            counts.append(DocumentMeta.open_threads.add(-1))

        def write(transaction: TransactWrite) -> None:
            transaction.delete(Comment(comment.prd_id, comment.item), condition=_as_read(comment))
            transaction.update(DocumentMeta(comment.prd_id, META), actions=counts)
            if comment.parent_id is not None:
                root = Comment(comment.prd_id, COMMENT + comment.thread_id)
                # Only a root still there: never create a bare one by counting down.
                transaction.update(root, actions=[Comment.reply_count.add(-1)], condition=Comment.item.exists())

        return transact(write)

    # ---------------------------------------------------------------- versions

    def add_version(self, version: Version, read: DocumentMeta) -> None:
        """Record a new version whose commit has ``read.history_head`` as parent: the branch head
        and the latest label move to it, all or nothing. ``VersionRaced`` when another version
        was recorded since ``read`` was read (its commit must be re-parented, its label checked
        again)."""
        version.item = VERSION + _ordinal_key(int(version.ordinal))
        meta = DocumentMeta(version.prd_id, META)
        head = read.history_head
        # The head is as read: a commit is recorded only onto the commit it was made on, so no
        # version is ever dropped from the history, and the labels grow one after another.
        unchanged = DocumentMeta.prd_id.exists() & (
            DocumentMeta.history_head.does_not_exist() if head is None else DocumentMeta.history_head == head
        )

        def write(transaction: TransactWrite) -> None:
            transaction.update(
                meta,
                actions=[
                    DocumentMeta.history_head.set(version.commit_hash),
                    DocumentMeta.version.set(version.version),
                    DocumentMeta.version_count.set(version.ordinal),
                ],
                condition=unchanged,
            )
            # Both new: an ordinal and a label are taken once, whatever the head's condition says.
            transaction.save(version, condition=Version.item.does_not_exist())
            label = VersionLabel(version.prd_id, LABEL + version.version, ordinal=version.ordinal)
            transaction.save(label, condition=VersionLabel.item.does_not_exist())

        if not transact(write):
            raise VersionRaced(version.prd_id)

    def version(self, prd_id: str, label: str) -> Version | None:
        """The version labelled ``label`` (two reads: the label, then its version)."""
        ordinal = self.version_ordinal(prd_id, label)
        return None if ordinal is None else self.version_at(prd_id, ordinal)

    def version_ordinal(self, prd_id: str, label: str) -> int | None:
        """Where the version labelled ``label`` is in the order they were made (None: no such one)."""
        found = _get(VersionLabel, prd_id, LABEL + label)
        return None if found is None else int(found.ordinal)

    def version_at(self, prd_id: str, ordinal: int) -> Version | None:
        return _get(Version, prd_id, VERSION + _ordinal_key(ordinal))

    def versions(self, prd_id: str, before: int | None, limit: int) -> list[Version]:
        """Versions newest first, those with an ordinal below ``before`` when given."""
        condition: Any = Version.item.startswith(VERSION)
        if before is not None:
            condition = Version.item.between(VERSION, VERSION + _ordinal_key(before - 1))
        return list(Version.query(prd_id, condition, scan_index_forward=False, limit=limit, consistent_read=True))

    # ---------------------------------------------------------------- approvals

    def request_approval(self, approval: Approval, version: Version, also: Sequence[Model] = ()) -> bool:
        """Store a new approval and put its version in review, with ``also`` (the approvers' inbox
        items), all or nothing. False when the version changed since it was read."""
        approval.item = APPROVAL + approval.approval_id

        def write(transaction: TransactWrite) -> None:
            transaction.save(approval, condition=Approval.item.does_not_exist())
            transaction.update(
                Version(version.prd_id, version.item),
                actions=[
                    Version.status.set("in_review"),
                    Version.approval_id.set(approval.approval_id),
                    Version.revision.add(1),
                ],
                condition=_version_as_read(version),
            )
            for item in also:
                transaction.save(item)

        return transact(write)

    def approval(self, prd_id: str, approval_id: str) -> Approval | None:
        return _get(Approval, prd_id, APPROVAL + approval_id)

    def approvals(self, prd_id: str, before: str | None, limit: int) -> list[Approval]:
        """Approvals newest first (their ids start with the time), those before ``before`` when given."""
        condition: Any = Approval.item.startswith(APPROVAL)
        if before is not None:  # a key condition has no "below" within a prefix: up to it, then dropped
            condition = Approval.item.between(APPROVAL, APPROVAL + before)
        found = Approval.query(prd_id, condition, scan_index_forward=False, limit=limit + 1, consistent_read=True)
        return [a for a in found if before is None or a.approval_id < before][:limit]

    def approvals_named(self, prd_id: str, approval_ids: Sequence[str]) -> list[Approval]:
        """The approvals of these ids (one batched read)."""
        keys = [(prd_id, APPROVAL + a) for a in dict.fromkeys(approval_ids)]
        return list(Approval.batch_get(keys, consistent_read=True)) if keys else []

    def decide_approval(
        self,
        approval: Approval,
        decisions: str,
        status: str,
        version: Version | None = None,
        approved_over: DocumentMeta | None = None,
        sha256: str = "",
        also: Sequence[Model] = (),
    ) -> bool:
        """Record a decision on an approval as it was read. When it settles the approval,
        ``version`` (as read) takes its new status with it; with ``approved_over`` (the document's
        metadata as read) the version also becomes the document's approved one. False: something
        changed meanwhile."""
        target = Approval(approval.prd_id, approval.item)
        # As read: two approvers deciding at once never lose one of the decisions, and nobody
        # decides twice (the one who retries finds their decision there).
        as_read = Approval.item.exists() & (Approval.revision == approval.revision) & (Approval.status == "pending")
        actions: list[Action] = [
            Approval.decisions.set(decisions), Approval.status.set(status), Approval.revision.add(1)
        ]  # fmt: skip

        def write(transaction: TransactWrite) -> None:
            transaction.update(target, actions=actions, condition=as_read)
            for item in also:
                transaction.save(item)
            if version is None:
                return
            settled = "approved" if status == "approved" else "changes_requested"
            transaction.update(
                Version(version.prd_id, version.item),
                actions=[Version.status.set(settled), Version.revision.add(1)],
                condition=_version_as_read(version),
            )
            if approved_over is not None:
                meta = DocumentMeta(version.prd_id, META)
                # The approved version as read: two approvals settling at once cannot leave the
                # older one as the document's approved version (the caller re-reads and decides).
                was = approved_over.approved_ordinal
                newer = (
                    DocumentMeta.approved_ordinal.does_not_exist()
                    if was is None
                    else (DocumentMeta.approved_ordinal == was)
                )
                transaction.update(
                    meta,
                    actions=[
                        DocumentMeta.approved_version.set(version.version),
                        DocumentMeta.approved_ordinal.set(version.ordinal),
                        DocumentMeta.approved_sha256.set(sha256),
                    ],
                    condition=newer,
                )

        return transact(write)

    # ---------------------------------------------------------------- chat links

    def chat_link(self, prd_id: str, platform: str) -> ChatLink | None:
        return _get(ChatLink, prd_id, CHAT + platform)

    def link_chat(self, link: ChatLink) -> None:
        link.item = CHAT + link.platform
        link.save()

    def jira_link(self, prd_id: str) -> JiraLink | None:
        return _get(JiraLink, prd_id, JIRA)

    def link_jira(self, link: JiraLink) -> None:
        link.item = JIRA
        link.save()

    def note_jira_issue(self, prd_id: str, key: str, summary: str, status: str | None, at: int) -> bool:
        """Keep what Jira said of an issue, unless something it said later is kept already
        (webhooks may arrive out of order: False for one older than what is kept); what the sync
        keeps of it stays."""
        return update_if(
            JiraIssue(prd_id, JIRA_ISSUE + key),
            [
                JiraIssue.issue_key.set(key),
                JiraIssue.summary.set(summary),
                JiraIssue.status.set(status) if status else JiraIssue.status.remove(),
                JiraIssue.changed_at.set(at),
            ],
            JiraIssue.item.does_not_exist() | JiraIssue.changed_at.does_not_exist() | (JiraIssue.changed_at <= at),
        )

    def jira_issue(self, prd_id: str, key: str) -> JiraIssue | None:
        return _get(JiraIssue, prd_id, JIRA_ISSUE + key)

    def note_synced_issue(self, prd_id: str, key: str, summary: str, prints: tuple[str, str, str], at: int) -> None:
        """Keep both sides of an issue as a sync left them in step: ``prints`` is the story's
        fingerprint, the fields sent for it and the issue's words (what a later sync compares)."""
        fingerprint, sent, jira = prints
        JiraIssue(prd_id, JIRA_ISSUE + key).update(
            actions=[
                JiraIssue.issue_key.set(key),
                JiraIssue.summary.set(summary),
                JiraIssue.fingerprint.set(fingerprint),
                JiraIssue.sent_print.set(sent),
                JiraIssue.jira_print.set(jira),
                JiraIssue.sending.remove(),
                JiraIssue.conflict.set(False),
                JiraIssue.synced_at.set(at),
            ]
        )

    def note_jira_sending(self, prd_id: str, key: str, sent: str) -> None:
        """Before an update: what it sends (a retry after a crash knows the change is its own)."""
        JiraIssue(prd_id, JIRA_ISSUE + key).update(actions=[JiraIssue.issue_key.set(key), JiraIssue.sending.set(sent)])

    def note_jira_conflict(self, prd_id: str, key: str, conflict: bool) -> None:
        """Mark (or clear) an issue changed in both places since the last sync; the rest stays."""
        JiraIssue(prd_id, JIRA_ISSUE + key).update(
            actions=[JiraIssue.issue_key.set(key), JiraIssue.conflict.set(conflict)]
        )

    def jira_create(self, prd_id: str, fingerprint: str) -> JiraCreate | None:
        return _get(JiraCreate, prd_id, JIRA_CREATE + fingerprint)

    def begin_jira_create(self, prd_id: str, fingerprint: str, summary: str, sync_id: str, at: int) -> None:
        JiraCreate(prd_id, JIRA_CREATE + fingerprint, sync_id=sync_id, summary=summary, started_at=at).save()

    def note_jira_created(self, prd_id: str, fingerprint: str, key: str) -> None:
        JiraCreate(prd_id, JIRA_CREATE + fingerprint).update(actions=[JiraCreate.issue_key.set(key)])

    def end_jira_create(self, prd_id: str, fingerprint: str) -> None:
        JiraCreate(prd_id, JIRA_CREATE + fingerprint).delete()

    def start_jira_sync(self, sync: JiraSync, now: int) -> JiraSync | None:
        """Take the document's sync; the running one instead when there is one."""
        sync.item = JIRA_SYNC
        try:
            # One sync at a time: only over none, a finished one, or one whose execution died.
            sync.save(
                condition=JiraSync.item.does_not_exist() | (JiraSync.state != "running") | (JiraSync.expires_at < now)
            )
        except PutError as exc:
            if not condition_failed(exc):
                raise
            return _get(JiraSync, sync.prd_id, JIRA_SYNC)
        return None

    def jira_sync(self, prd_id: str) -> JiraSync | None:
        return _get(JiraSync, prd_id, JIRA_SYNC)

    def count_jira_story(self, prd_id: str, sync_id: str, outcome: str) -> JiraSync | None:
        """One story of the sync done (``created``, ``updated``, ``unchanged``, ``conflict`` or
        ``failed``): the counts after it, or None when the sync is no longer this one."""
        sync = JiraSync(prd_id, JIRA_SYNC)
        counter = {
            "created": JiraSync.created,
            "updated": JiraSync.updated,
            "unchanged": JiraSync.unchanged,
            "conflict": JiraSync.conflicts,
            "failed": JiraSync.failed,
        }[outcome]
        if not update_if(sync, [JiraSync.done.add(1), counter.add(1)], JiraSync.sync_id == sync_id):
            return None
        return sync

    def end_jira_sync(self, prd_id: str, sync_id: str, state: str) -> bool:
        return update_if(JiraSync(prd_id, JIRA_SYNC), [JiraSync.state.set(state)], JiraSync.sync_id == sync_id)

    def set_jira_sync_total(self, prd_id: str, sync_id: str, total: int) -> bool:
        return update_if(JiraSync(prd_id, JIRA_SYNC), [JiraSync.total.set(total)], JiraSync.sync_id == sync_id)

    def jira_issues(self, prd_id: str) -> dict[str, JiraIssue]:
        """What Jira last said of each of the document's issues, by key."""
        found = JiraIssue.query(prd_id, JiraIssue.item.startswith(JIRA_ISSUE), consistent_read=True)
        return {issue.issue_key: issue for issue in found}

    # ---------------------------------------------------------------- mass deletions

    def count_deletion(
        self, prd_id: str, user_id: str, at: int, size: tuple[int, int], seq: int
    ) -> list[tuple[int, int, int, int]]:
        """Count one deleting edit of ``user_id`` (sizes before and after, made on the document as of
        ``seq``); their counted edits in the document, oldest first, as ``(at, before, after, seq)``."""
        item = DeletionBurst(prd_id, DELETIONS + user_id)
        # One atomic append: two edits counted at once by two Lambdas both land.
        counted = [at, size[0], size[1], seq]
        item.update(actions=[DeletionBurst.edits.set((DeletionBurst.edits | []).append(counted))])
        flat = [int(v) for v in item.edits or ()]
        edits = [(flat[i], flat[i + 1], flat[i + 2], flat[i + 3]) for i in range(0, len(flat) - 3, 4)]
        if len(edits) > _KEPT_DELETIONS:  # only the last minute's matter: the item stays small
            keep: list[float] = [float(v) for edit in edits[-_KEPT_DELETIONS:] for v in edit]
            item.update(actions=[DeletionBurst.edits.set(keep)])
        return edits

    def take_deletion_alert(self, prd_id: str, user_id: str, now: int, quiet_ms: int) -> bool:
        """Whether a burst of ``user_id``'s is still untold; it is told from now for ``quiet_ms``."""
        # Conditional: of two edits ending one burst at once, one alerts.
        return update_if(
            DeletionBurst(prd_id, DELETIONS + user_id),
            [DeletionBurst.alerted_until.set(now + quiet_ms)],
            DeletionBurst.alerted_until.does_not_exist() | (DeletionBurst.alerted_until <= now),
        )

    # ---------------------------------------------------------------- clock keys

    def lease_clock_key(self, prd_id: str, user_id: str, connection_id: str) -> str:
        """The user's bare id if free, else the first free ``user#2``, ``user#3``, ..."""
        for n in range(1, 1000):
            key = user_id if n == 1 else f"{user_id}#{n}"
            lease = ClockLease(prd_id, CLOCK + key, holder=connection_id, expires_at=_in_hours(3))
            try:
                # Free, already ours (joining again is idempotent), or left by a session that
                # died without cleaning up (its lease has expired; TTL deletion can lag for days).
                lease.save(
                    condition=ClockLease.item.does_not_exist()
                    | (ClockLease.holder == connection_id)
                    | (ClockLease.expires_at < datetime.now(UTC))
                )
                return key
            except PutError as exc:
                if not condition_failed(exc):
                    raise
        raise RuntimeError("no free clock key")

    def release_clock_key(self, prd_id: str, key: str, connection_id: str) -> None:
        # Only the holder releases: a late release must not free a key another tab took since.
        delete_if(ClockLease(prd_id, CLOCK + key), ClockLease.holder == connection_id)


def _as_read(comment: Comment) -> Any:
    """The comment exists at the revision it was read at: every change moves the revision on, so
    of two writers who read the same revision only the first wins."""
    return Comment.item.exists() & (
        Comment.revision.does_not_exist() if not comment.revision else Comment.revision == comment.revision
    )


def _version_as_read(version: Version) -> Any:
    return Version.item.exists() & (Version.revision == version.revision)


def _ordinal_key(ordinal: int) -> str:
    # Zero-padded, so the sort key orders versions as their ordinals do.
    return f"{ordinal:010d}"


def transact(write: Callable[[TransactWrite], None]) -> bool:
    """Run one transaction on document items (``write`` adds its items); False when a condition
    of it failed. Another transaction on the same items at the same moment cancels it
    (TransactionConflict): it is tried again."""
    return transact_retrying(_DocumentItem._get_connection().connection, write)


def _resolved(future: Any, model: type[Any]) -> Any:
    """What a TransactGet read of ``model``, None when there was no such item."""
    try:
        return future.get()
    except model.DoesNotExist:
        return None


def _get(model: type[Any], prd_id: str, item: str) -> Any:
    try:
        return model.get(prd_id, item, consistent_read=True)
    except model.DoesNotExist:
        return None


def _in_hours(hours: int) -> timedelta:
    return timedelta(hours=hours)
