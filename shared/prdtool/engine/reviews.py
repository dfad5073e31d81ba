"""When a document is reviewed: a debounced schedule, one review at a time per document.

Edits ``nudge`` the schedule after they commit (``prdtool.engine.commits``). The first nudge with
no review pending takes the document's review lease (its ``review`` item) and starts the review
state machine; the execution then owns the lease until it lets it go, and looks at the log at
times it promises in advance (``watch_until``): it reviews once the edits have settled, or every
``ai_review_every`` entries while people keep typing, and ends once a look finds nothing new.

A nudge is one write, made at most once per promised look per function instance: an instance that
knows the holder will read the log at or after ``watch_until`` need not tell it about edits that
committed before then (the look will see them). Whatever commits after a look, the holder either
sees at a later look or, once it has let the lease go, the edit's own nudge takes the lease again.
The holder renews the lease with each look (a conditional write on its own name), so a holder that
died lets it go when ``lease_until`` passes, and the next edit starts a new review (an execution
that fails lets it go at once). A look never acts before the time it promised, even when it
runs early (a retried step): it waits out the rest, so the promise others trusted is kept.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pynamodb.exceptions import UpdateError

from prdtool.engine.document_records import REVIEW, ReviewLease
from prdtool.kernel.conditions import condition_failed, update_if
from prdtool.kernel.observability import logger

__all__ = ["LEASE_MARGIN_MS", "LeaseState", "Look", "ReviewSchedule", "next_look"]

# How long past its next look a holder keeps the lease: longer than a look may take (the AI
# worker's 300 s timeout, which the state machine waits out rather than abandon a running look)
# plus Step Functions' delay in starting it, so two reviews never overlap.
LEASE_MARGIN_MS = 330_000
# A nudge trusts a promised look only this long before it: the clocks of two Lambda hosts (Amazon
# Time Sync) agree to well within it, and a commit the look must see is done before its nudge.
# Every edit inside this window writes (the bench's case 12 counts them), so it is kept small.
_CLOCK_SLACK_MS = 250
_REMEMBERED = 1_000  # documents whose promised look an instance remembers

Starter = Callable[[str, str, int], None]  # (prd_id, holder, first wait in s): starts the execution


@dataclass(frozen=True)
class LeaseState:
    """A document's review lease: ``reviewed_seq``, its ``owner`` (None when free), and the time
    (ms) the owner promised to look at the log at or after (``watch_until``)."""

    reviewed_seq: int
    owner: str | None
    watch_until: int


@dataclass(frozen=True)
class Look:
    """What a look at the log decides: ``review`` now, or ``wait`` that many seconds first."""

    review: bool
    wait_s: int


def next_look(now: int, head_seq: int, head_at: int, reviewed_seq: int, debounce_s: int, every: int) -> Look:
    """Review when the entries since the last review have settled (no edit for ``debounce_s``),
    or when ``every`` of them have piled up while people type; else wait for the quiet to come."""
    if head_seq <= reviewed_seq:
        return Look(review=False, wait_s=0)
    quiet_ms = now - head_at
    if quiet_ms >= debounce_s * 1000 or head_seq - reviewed_seq >= every:
        return Look(review=True, wait_s=debounce_s)
    return Look(review=False, wait_s=max(1, -(-(debounce_s * 1000 - quiet_ms) // 1000)))


class ReviewSchedule:
    """The review lease of each document, as the gateway (``nudge``) and the holder see it."""

    def __init__(self, start: Starter, debounce_s: int) -> None:
        self._start = start
        self.debounce_s = debounce_s
        self._promised: OrderedDict[str, int] = OrderedDict()  # prd -> a look the holder will make

    def nudge(self, prd_id: str, now: int) -> None:
        """An edit of ``prd_id`` committed: make sure a review will see it."""
        promised = self._promised.get(prd_id)
        if promised is not None and now < promised - _CLOCK_SLACK_MS:
            return  # the holder's promised look will see this edit
        lease = ReviewLease(prd_id, REVIEW)
        # Unconditional, and returns the item as it now is: who holds it and when it looks next.
        lease.update(actions=[ReviewLease.nudged_at.set(now)])
        if lease.owner and (lease.lease_until or 0) > now:
            self._remember(prd_id, int(lease.watch_until or 0))
            return
        holder = f"review-{secrets.token_hex(8)}"
        first_look = now + self.debounce_s * 1000
        # Only when nobody holds it (or its holder died): two nudges never both start a review.
        taken = update_if(
            lease,
            [
                ReviewLease.owner.set(holder),
                ReviewLease.lease_until.set(first_look + LEASE_MARGIN_MS),
                ReviewLease.watch_until.set(first_look),
            ],
            ReviewLease.owner.does_not_exist() | (ReviewLease.lease_until < now),
        )
        if not taken:
            return  # another nudge took it a moment ago; its first look sees this edit
        try:
            self._start(prd_id, holder, self.debounce_s)
        except Exception:
            # Let it go, so the next edit tries again, rather than hold it for a review never started.
            logger.exception("the review could not be started", extra={"prdId": prd_id})
            self.release(prd_id, holder)
            raise
        self._remember(prd_id, first_look)

    def renew(self, prd_id: str, holder: str, now: int, next_look_in_s: int) -> bool:
        """The holder promises its next look; False when the lease is no longer its own."""
        look = now + next_look_in_s * 1000
        return update_if(
            ReviewLease(prd_id, REVIEW),
            [
                ReviewLease.lease_until.set(max(look, now) + LEASE_MARGIN_MS),
                ReviewLease.watch_until.set(look),
            ],
            ReviewLease.owner == holder,  # only the holder moves its own lease
        )

    def reviewed(self, prd_id: str, holder: str, seq: int, now: int) -> bool:
        """Record that the holder reviewed the document as of ``seq``."""
        return update_if(
            ReviewLease(prd_id, REVIEW),
            [ReviewLease.reviewed_seq.set(seq), ReviewLease.reviewed_at.set(now)],
            ReviewLease.owner == holder,
        )

    def state(self, prd_id: str) -> LeaseState:
        """The lease as it is: the seq of the last review, who holds it, its promised look."""
        try:
            lease = ReviewLease.get(prd_id, REVIEW, consistent_read=True)
        except ReviewLease.DoesNotExist:
            return LeaseState(0, None, 0)
        return LeaseState(int(lease.reviewed_seq or 0), lease.owner, int(lease.watch_until or 0))

    def release(self, prd_id: str, holder: str) -> bool:
        """The holder lets the lease go (a look found nothing new)."""
        try:
            ReviewLease(prd_id, REVIEW).update(
                actions=[
                    ReviewLease.owner.remove(),
                    ReviewLease.lease_until.remove(),
                    ReviewLease.watch_until.remove(),
                ],
                condition=ReviewLease.owner == holder,  # never someone else's
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def take_back(self, prd_id: str, holder: str, now: int) -> bool:
        """After letting it go: take the lease again for edits that came meanwhile, unless a
        nudge already took it (then that review sees them)."""
        first_look = now + self.debounce_s * 1000
        return update_if(
            ReviewLease(prd_id, REVIEW),
            [
                ReviewLease.owner.set(holder),
                ReviewLease.lease_until.set(first_look + LEASE_MARGIN_MS),
                ReviewLease.watch_until.set(first_look),
            ],
            ReviewLease.owner.does_not_exist() | (ReviewLease.lease_until < now),
        )

    def _remember(self, prd_id: str, look: int) -> None:
        self._promised[prd_id] = look
        self._promised.move_to_end(prd_id)
        while len(self._promised) > _REMEMBERED:
            self._promised.popitem(last=False)
