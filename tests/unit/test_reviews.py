"""When a document is reviewed (prdtool.engine.reviews): the debounce as a pure function, and the
review lease on moto: one review at a time, nothing an edit asks for is missed, a dead holder's
lease runs out. And how much a section must change for a dismissed finding to come back."""

from __future__ import annotations

import pytest

from prdtool.engine.document_records import REVIEW, ReviewLease, bind_document_tables
from prdtool.engine.reviews import LEASE_MARGIN_MS, LeaseState, Look, ReviewSchedule, next_look
from prdtool.features.ai.suggestions import changed_substantially, section_sketch
from prdtool.kernel.settings import Settings

T = 1_800_000_000_000


def test_a_look_reviews_once_edits_settle_or_pile_up_and_otherwise_waits_for_the_quiet() -> None:
    assert next_look(T, head_seq=7, head_at=T - 10_000, reviewed_seq=7, debounce_s=3, every=50) == Look(False, 0)
    assert next_look(T, head_seq=8, head_at=T - 3_000, reviewed_seq=7, debounce_s=3, every=50) == Look(True, 3)
    assert next_look(T, head_seq=8, head_at=T - 1_200, reviewed_seq=7, debounce_s=3, every=50) == Look(False, 2)
    assert next_look(T, head_seq=8, head_at=T - 2_999, reviewed_seq=7, debounce_s=3, every=50) == Look(False, 1)
    # People never stop typing: every 50 entries a review all the same.
    assert next_look(T, head_seq=57, head_at=T, reviewed_seq=7, debounce_s=3, every=50) == Look(True, 3)
    assert next_look(T, head_seq=56, head_at=T, reviewed_seq=7, debounce_s=3, every=50) == Look(False, 3)


class Starts(list[tuple[str, str, int]]):
    def __call__(self, prd_id: str, holder: str, wait_s: int) -> None:
        self.append((prd_id, holder, wait_s))


def schedule(settings: Settings) -> tuple[ReviewSchedule, Starts]:
    bind_document_tables(settings)
    starts = Starts()
    return ReviewSchedule(starts, debounce_s=3), starts


def nudged_at(prd_id: str) -> int:
    return int(ReviewLease.get(prd_id, REVIEW, consistent_read=True).nudged_at or 0)


def test_one_review_at_a_time_and_an_edit_after_it_let_go_starts_the_next(settings: Settings) -> None:
    gateway, starts = schedule(settings)
    other, other_starts = schedule(settings)  # a second gateway instance
    gateway.nudge("prd_1", T)
    other.nudge("prd_1", T + 100)
    [(_, holder, wait)] = starts
    assert wait == 3 and other_starts == []
    assert gateway.state("prd_1") == LeaseState(0, holder, T + 3_000)

    # The holder looks, reviews, promises its next look; then finds nothing new and lets go.
    assert gateway.renew("prd_1", holder, T + 3_000, 3) and gateway.reviewed("prd_1", holder, 5, T + 3_100)
    assert not gateway.renew("prd_1", "someone-else", T + 3_000, 3)  # only the holder moves its lease
    assert gateway.release("prd_1", holder) and not gateway.release("prd_1", holder)
    assert gateway.state("prd_1") == LeaseState(5, None, 0)
    other.nudge("prd_1", T + 7_000)
    assert len(other_starts) == 1 and other_starts[0][1] != holder


def test_an_instance_trusts_the_holders_promised_look_and_nothing_else(settings: Settings) -> None:
    gateway, starts = schedule(settings)
    gateway.nudge("prd_1", T)
    holder = starts[0][1]
    # Before the first look, edits need no write: the look at T + 3 s sees them.
    gateway.nudge("prd_1", T + 1_000)
    assert nudged_at("prd_1") == T
    # While the holder reviews, it promises nothing: the nudge asks (and finds the lease held).
    assert gateway.renew("prd_1", holder, T + 3_000, 0)
    gateway.nudge("prd_1", T + 3_100)
    assert nudged_at("prd_1") == T + 3_100 and len(starts) == 1
    # It let go meanwhile: the next nudge takes the lease, whatever this instance remembered.
    assert gateway.release("prd_1", holder)
    gateway.nudge("prd_1", T + 3_200)
    assert len(starts) == 2


def test_a_holder_that_died_lets_the_lease_go_when_it_runs_out(settings: Settings) -> None:
    gateway, starts = schedule(settings)
    gateway.nudge("prd_1", T)
    first_look = T + 3_000
    gateway.nudge("prd_1", first_look + LEASE_MARGIN_MS - 1)
    assert len(starts) == 1
    gateway.nudge("prd_1", first_look + LEASE_MARGIN_MS + 1)
    assert len(starts) == 2
    # The dead holder, should it wake up, finds the lease gone and stops.
    assert not gateway.renew("prd_1", starts[0][1], first_look + LEASE_MARGIN_MS + 2, 3)


def test_taking_the_lease_back_after_letting_go_loses_to_a_nudge_that_came_first(settings: Settings) -> None:
    gateway, starts = schedule(settings)
    gateway.nudge("prd_1", T)
    holder = starts[0][1]
    assert gateway.release("prd_1", holder)
    other, other_starts = schedule(settings)
    other.nudge("prd_1", T + 4_000)
    assert not gateway.take_back("prd_1", holder, T + 4_001)  # that review sees the edits
    assert other.release("prd_1", other_starts[0][1])
    assert gateway.take_back("prd_1", holder, T + 5_000)


def test_a_start_that_fails_lets_the_lease_go_for_the_next_edit(settings: Settings) -> None:
    bind_document_tables(settings)

    def refused(prd_id: str, holder: str, wait_s: int) -> None:
        raise RuntimeError("StartExecution throttled")

    failing = ReviewSchedule(refused, debounce_s=3)
    with pytest.raises(RuntimeError):
        failing.nudge("prd_1", T)
    gateway, starts = schedule(settings)
    gateway.nudge("prd_1", T + 10)
    assert len(starts) == 1


def test_a_dismissed_finding_comes_back_only_when_its_section_changes_a_lot() -> None:
    before = "# PRD\n\n## Goals\nCheckout must be fast for returning shoppers on every phone we support.\n"
    small = before.replace("every phone", "each phone")
    rewritten = "# PRD\n\n## Goals\nThe payment page must be fast.\nReceipts arrive by email right after paying.\n"
    dismissed = section_sketch(before, "goals")
    assert not changed_substantially(dismissed, section_sketch(small, "goals"))
    assert changed_substantially(dismissed, section_sketch(rewritten, "goals"))
    # A section that is still missing has not changed.
    assert not changed_substantially(section_sketch(before, "security"), section_sketch(small, "security"))
