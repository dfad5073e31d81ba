"""Reviewing a document as people write it: the review state machine's one step, and the review.

The review state machine (``statemachines/ai_review.asl.json``) waits, then runs ``review_step``,
again and again, while its execution holds the document's review lease (``prdtool.engine.reviews``
says when to look and when to let go). A review runs the built-in PRD rules (``review_rules``) and,
when a model is configured and the document's model quota allows, one model call
(``review_model``); then it opens a suggestion for each new finding, withdraws the open ones whose
subject text was deleted or that a rule no longer finds, and tells the room's editors.

A finding is new unless an open suggestion has its key, or a dismissed one has it and its section
has not changed substantially since (``suggestions.changed_substantially``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prdtool.engine.document_records import Suggestion
from prdtool.engine.loaded_document import LoadedDocument
from prdtool.engine.markdown import find_section
from prdtool.engine.positions import PositionEncoding
from prdtool.engine.reviews import next_look
from prdtool.engine.rooms import broadcast
from prdtool.engine.services import Services
from prdtool.features.ai.findings import Finding
from prdtool.features.ai.providers import Provider, ProviderError
from prdtool.features.ai.review_model import REVIEW_SCHEMA, build_review_messages, parse_review
from prdtool.features.ai.review_rules import review_text
from prdtool.features.ai.suggestions import (
    MAX_OPEN,
    REVIEWER,
    SuggestionStore,
    changed_substantially,
    new_suggestion,
    place_of,
    section_sketch,
    suggestion_event,
)
from prdtool.kernel.observability import logger
from prdtool.kernel.rate_limits import LimitExceeded, parse_limit

__all__ = ["HANDOVER_AFTER", "ReviewOutcome", "let_go", "review_document", "review_step"]

HANDOVER_AFTER = 1_000  # looks per execution
MAX_MODEL_OPEN = 5  # open model suggestions per document: the rest of the room is the rules'


@dataclass(frozen=True)
class ReviewOutcome:
    """What one review did: suggestions opened and withdrawn, and whether the model was asked."""

    opened: int
    withdrawn: int
    asked_model: bool


def review_step(services: Services, provider: Provider, event: dict[str, Any]) -> dict[str, Any]:
    """One look at the document by the execution holding its review lease: ``{wait, done: false}``
    to look again in ``wait`` seconds, or ``done: true`` once the lease is let go (or lost)."""
    prd_id, holder, looks = event["prdId"], event["holder"], int(event.get("looks") or 0) + 1
    generation = int(event.get("generation") or 0)
    logger.append_keys(prd_id=prd_id, step="review")
    wait = _look(services, provider, prd_id, holder)
    if wait is None:
        return {"wait": 0, "done": True, "looks": looks}
    if looks >= HANDOVER_AFTER:
        # A standard workflow's history holds 25,000 events (about 11 per look): a successor
        # execution goes on for the same holder, keeping its promise of the next look. Its name
        # is the same on a retry, so a retried step never starts two.
        services.start_review(prd_id, holder, wait, generation=generation + 1)
        return {"wait": 0, "done": True, "looks": looks}
    return {"wait": wait, "done": False, "looks": looks}


def let_go(services: Services, event: dict[str, Any]) -> dict[str, Any]:
    """The execution failed: let the lease go at once rather than when it runs out, so the next
    edit starts a review (a failing review is not restarted by itself: it might fail again)."""
    services.reviews.release(event["prdId"], event["holder"])
    return {"done": True}


def _look(services: Services, provider: Provider, prd_id: str, holder: str) -> int | None:
    """Review if due; the seconds until the next look, or None when this execution is done."""
    schedule, s = services.reviews, services.settings
    lease = schedule.state(prd_id)
    if lease.owner != holder:
        return None  # it expired and another review took it: that one goes on
    now = services.clock()
    if now < lease.watch_until:
        # Early (a retried step): instances skip nudges on the strength of this promised look.
        return max(1, -(-(lease.watch_until - now) // 1000))
    head_seq, head_at = _head(services, prd_id)
    look = next_look(now, head_seq, head_at, lease.reviewed_seq, s.ai_review_debounce_s, s.ai_review_every)
    if look.review:
        # The lease covers the review itself; no promise of a look meanwhile (nudges keep coming).
        if not schedule.renew(prd_id, holder, now, 0):
            return None
        loaded = services.editor.load(prd_id)
        if services.documents.meta(prd_id) is not None:
            review_document(services, provider, loaded, services.clock(), lease.reviewed_seq)
        schedule.reviewed(prd_id, holder, loaded.seq, services.clock())
    elif look.wait_s == 0:
        # Nothing new since the last review: let go. An edit that committed before the lease was
        # let go is seen by the read after it (then take it back); one after, by its own nudge.
        schedule.release(prd_id, holder)
        seq_after, _ = _head(services, prd_id)
        if seq_after <= lease.reviewed_seq or not schedule.take_back(prd_id, holder, services.clock()):
            return None
        return s.ai_review_debounce_s
    if not schedule.renew(prd_id, holder, services.clock(), look.wait_s):
        return None
    return look.wait_s


def _head(services: Services, prd_id: str) -> tuple[int, int]:
    """The latest seq and when it was written; a log compacted away counts as long quiet."""
    head = services.log.head(prd_id)
    if head is not None:
        return head
    return services.editor.load(prd_id).seq, 0


def review_document(
    services: Services, provider: Provider, loaded: LoadedDocument, now: int, reviewed_seq: int = 0
) -> ReviewOutcome:
    """Review the document as ``loaded``: open, withdraw, and tell the room's editors.

    ``reviewed_seq`` is the last review the lease recorded as done: suggestions opened by a later
    one (a review that crashed after opening them, before telling anyone) are told again, with
    their ids, so none stays unannounced (at least once: clients know them by id)."""
    prd_id, document = loaded.prd_id, loaded.document
    text = document.content
    store = SuggestionStore()
    kept = store.all(prd_id)
    open_ones = [s for s in kept if s.status == "open"]
    findings = review_text(text)
    # The model only when its answer could be offered: room for it, under the cap on its own.
    room = MAX_OPEN - len(open_ones) > 0 and sum(s.rule == "model" for s in open_ones) < MAX_MODEL_OPEN
    asked_model = room and _may_ask_model(services, provider, prd_id, now)
    if asked_model:
        findings += _model_findings(services, provider, prd_id, text, findings, kept)
    found_keys = {f.key for f in findings}
    withdrawn: list[tuple[Suggestion, str]] = []
    untold: list[tuple[Suggestion, int]] = []
    for s, placed in zip(open_ones, place_of(open_ones, document), strict=True):
        if placed.at is not None and not placed.subject_gone and s.reviewed_seq > reviewed_seq:
            untold.append((s, placed.at))  # kept unless withdrawn below
        if placed.at is None or placed.subject_gone:
            withdrawn.append((s, "anchor_deleted"))
        elif s.rule != "model" and s.key not in found_keys:
            withdrawn.append((s, "no_longer_applies"))
        elif s.rule == "model" and s.type == "missing_section" and find_section(text, s.section) is not None:
            # Model findings are not asked for again on every review: only their text going, or
            # the section they asked for being there, ends them.
            withdrawn.append((s, "no_longer_applies"))
    # Closed by the review only if still open: a user's apply or dismiss may have come first.
    withdrawn = [(s, why) for s, why in withdrawn if store.close(s, "withdrawn", REVIEWER, now, reason=why)]
    gone = {s.suggestion_id for s, _ in withdrawn}
    still_open = {s.key for s in open_ones if s.suggestion_id not in gone}
    fresh = _new_findings(findings, still_open, kept, text)[: max(0, MAX_OPEN - len(still_open))]
    opened = [new_suggestion(prd_id, f, document, loaded.seq, now) for f in fresh]
    if not store.open(prd_id, opened):
        return ReviewOutcome(0, len(withdrawn), asked_model)  # the document was deleted meanwhile
    untold = [(s, at) for s, at in untold if s.suggestion_id not in gone]
    _tell_editors(services, prd_id, text, [*(s for s, _ in untold), *opened],
                  [*(at for _, at in untold), *(f.at for f in fresh)], withdrawn)  # fmt: skip
    logger.info("reviewed", extra={"opened": len(opened), "withdrawn": len(withdrawn), "model": asked_model})
    return ReviewOutcome(len(opened), len(withdrawn), asked_model)


def _may_ask_model(services: Services, provider: Provider, prd_id: str, now: int) -> bool:
    """A model is configured and the document's model quota has room (counted per document, so
    reviews never use up anyone's ``ai:generate``)."""
    if provider.name == "offline":
        return False  # not a model: without a key, the rules review alone
    limit = parse_limit(services.settings.ai_review_model_limit)
    if limit.count <= 0:
        return False
    try:
        services.rate_limits.take(f"prd:{prd_id}", "ai:review", limit, now)
    except LimitExceeded:
        logger.info("the document's model reviews are used up for now: the rules review alone")
        return False
    return True


def _model_findings(
    services: Services,
    provider: Provider,
    prd_id: str,
    text: str,
    known: Sequence[Finding],
    kept: Sequence[Suggestion],
) -> list[Finding]:
    """One model call; any failure, or an answer that does not validate, gives nothing. The model
    is shown what is known already (the rules' findings, and every suggestion kept: open ones, and
    dismissed or applied ones, which it should not offer again in other words)."""
    meta = services.documents.meta(prd_id)
    shown = [*known, *(_as_finding(s) for s in kept if s.status != "withdrawn")]
    messages = build_review_messages(meta.title if meta else "", text, shown, services.settings.ai_context_tokens)
    try:
        answer = provider.complete_json(messages, services.settings.ai_max_tokens, "prd_review", REVIEW_SCHEMA)
    except ProviderError as exc:
        logger.warning("the model review failed: the rules review alone", extra={"code": exc.code})
        return []
    taken = {(f.type, f.section) for f in known}
    # A model finding that says what a rule already says (same kind, same section) is left out.
    found = [f for f in parse_review(answer, text) if (f.type, f.section) not in taken]
    return found[:MAX_MODEL_OPEN]


def _as_finding(s: Suggestion) -> Finding:
    return Finding(s.key, s.rule, s.type, s.section, s.title, s.description, s.priority, s.suggested_content, 0)  # type: ignore[arg-type]


def _new_findings(
    findings: Sequence[Finding], open_keys: set[str], kept: Sequence[Suggestion], text: str
) -> list[Finding]:
    """Findings to open: not open already (or being applied), and not dismissed or applied
    unless their section changed a lot since."""
    closed = {s.key: s for s in sorted(kept, key=lambda s: s.created_at) if s.status in ("dismissed", "applied")}
    fresh, seen = [], set(open_keys) | {s.key for s in kept if s.status == "applying"}
    for f in findings:
        if f.key in seen:
            continue
        seen.add(f.key)
        earlier = closed.get(f.key)
        if earlier is not None and not changed_substantially(earlier.section_sketch, section_sketch(text, f.section)):
            continue
        fresh.append(f)
    return fresh


def _tell_editors(
    services: Services,
    prd_id: str,
    text: str,
    opened: Sequence[Suggestion],
    places: Sequence[int],
    withdrawn: Sequence[tuple[Suggestion, str]],
) -> None:
    sender = services.sender()
    for s, reason in withdrawn:
        withdrawal = {"prdId": prd_id, "suggestionId": s.suggestion_id, "reason": reason}
        broadcast(services, sender, prd_id, "ai:suggestion-withdrawn", _same(withdrawal), editing=True)
    for s, at in zip(opened, places, strict=True):
        broadcast(services, sender, prd_id, "ai:suggestion", _placed(s, text, at), editing=True)


def _same(payload: dict[str, Any]) -> Callable[[PositionEncoding], dict[str, Any]]:
    return lambda _: payload


def _placed(s: Suggestion, text: str, at: int) -> Callable[[PositionEncoding], dict[str, Any]]:
    return lambda encoding: suggestion_event(s, text, at, encoding)
