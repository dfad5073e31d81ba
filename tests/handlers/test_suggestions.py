"""Proactive suggestions through the gateway and the AI worker's review step, on moto.

moto records the review executions the gateway starts; the test plays the state machine: it runs
the worker's ``review`` step as each Wait would end, on the stack's clock. The state machine's own
waits and loop run for real end to end (tests/e2e/test_suggestions.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from prdtool.features.ai.review import HANDOVER_AFTER
from tests.fakes.aws_http import FakeAws
from tests.fakes.openai_server import FakeOpenAi, Reply, start_openai_server
from tests.handlers.conftest import Stack
from tests.handlers.rooms import call, client, events, op
from tests.support import ROOT

PRD = """# Checkout

## Problem
Shoppers abandon their carts because paying on a phone takes too many steps and too much typing.

## Goals
Returning shoppers pay with a saved card in one step.

## User Stories
- As a returning shopper, I want to pay with a saved card so that I can check out in one step.

## Non-functional Requirements
- Checkout must be fast for returning shoppers.

## Accessibility
- Every control works with a screen reader and a keyboard, to WCAG 2.2 AA.

## Security
- Card data never touches our servers: the payment provider tokenizes it.

## Open Questions
- Which payment providers do we support first?
"""


@pytest.fixture
def review_machine(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    definition = Path(ROOT / "statemachines" / "ai_review.asl.json").read_text()
    arn = boto3.client("stepfunctions").create_state_machine(
        name="prdtool-ai-review",
        definition=definition.replace("${AiWorkerFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:w"),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    monkeypatch.setenv("AI_REVIEW_STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("AI_REVIEW_DEBOUNCE_S", "3")
    monkeypatch.setenv("AI_REVIEW_EVERY", "50")
    return arn


def executions(arn: str) -> list[dict[str, Any]]:
    """The inputs of the review executions started so far, oldest first."""
    states = boto3.client("stepfunctions")
    listed = sorted(states.list_executions(stateMachineArn=arn)["executions"], key=lambda e: e["startDate"])
    return [json.loads(states.describe_execution(executionArn=e["executionArn"])["input"]) for e in listed]


class Reviews:
    """Plays the review state machine: each ``look`` is the worker's step after a Wait."""

    def __init__(self, stack: Stack, arn: str) -> None:
        self.stack, self.arn = stack, arn
        self.looks: dict[str, int] = {}

    def look(self, execution: dict[str, Any]) -> dict[str, Any]:
        holder = execution["holder"]
        looks = self.looks.get(holder, 0)
        result: dict[str, Any] = self.stack.invoke(
            "ai_worker", {"step": "review", "prdId": execution["prdId"], "holder": holder, "looks": looks}
        )
        self.looks[holder] = result["looks"]
        return result

    def settle(self, execution: dict[str, Any]) -> None:
        """Run looks as the machine would until one reviews (or the execution ends)."""
        for _ in range(10):
            self.stack.clock.advance(execution["wait"])
            result = self.look(execution)
            if result["done"] or self.stack.fake.posts:
                return
            execution = {**execution, "wait": result["wait"]}
        raise AssertionError("no review came")


@pytest.fixture
def reviews(stack: Stack, review_machine: str) -> Reviews:
    return Reviews(stack, review_machine)


def new_prd(stack: Stack, fake: FakeAws, owner: str, content: str) -> str:
    created = call(stack, fake, owner, "document:create", {"title": "Checkout", "content": content})
    prd_id = str(created["prdId"])
    assert call(stack, fake, owner, "document:join", {"prdId": prd_id, "mode": "edit"})["ok"]
    return prd_id


def edit(stack: Stack, fake: FakeAws, connection: str, prd_id: str, kind: str, position: int, **kw: Any) -> None:
    joined = call(stack, fake, connection, "document:join", {"prdId": prd_id, "mode": "edit"})
    clock, key = dict(joined["vectorClock"]), joined["clockKey"]
    clock[key] = clock.get(key, 0) + 1
    done = call(
        stack, fake, connection, "operation:edit", {"prdId": prd_id, "operation": op(kind, position, clock, **kw)}
    )
    assert done["ok"], done


def text_of(stack: Stack, fake: FakeAws, connection: str, prd_id: str) -> str:
    return str(call(stack, fake, connection, "document:join", {"prdId": prd_id, "mode": "edit"})["currentContent"])


def review_now(stack: Stack, fake: FakeAws, reviews: Reviews, connection: str, prd_id: str) -> dict[str, Any]:
    """An edit at the end (a space), then the review it starts, run to its first review."""
    text = text_of(stack, fake, connection, prd_id)
    edit(stack, fake, connection, prd_id, "insert", len(text), content=" ")
    execution = [e for e in executions(reviews.arn) if e["prdId"] == prd_id][-1]
    fake.posts.clear()
    reviews.settle(execution)
    return execution


def test_an_edit_starts_one_review_that_waits_for_quiet_then_suggests_to_editors_only(
    stack: Stack, fake_aws: FakeAws, reviews: Reviews
) -> None:
    owner = client(stack, fake_aws, "user_a", "Ann")
    prd_id = new_prd(stack, fake_aws, owner, PRD)
    call(stack, fake_aws, owner, "document:share", {"prdId": prd_id, "userId": "user_v", "role": "viewer"})
    viewer = client(stack, fake_aws, "user_v", "Vic")
    assert call(stack, fake_aws, viewer, "document:join", {"prdId": prd_id, "mode": "view"})["ok"]

    # Creating it with content and three edits in a row: one review execution, holding the lease.
    for i in range(3):
        edit(stack, fake_aws, owner, prd_id, "insert", len(PRD) + i, content="x")
    [execution] = executions(reviews.arn)
    assert execution == {"prdId": prd_id, "holder": execution["holder"], "wait": 3, "looks": 0, "generation": 0}

    # Typing goes on one second later: the look waits for the quiet instead of reviewing.
    stack.clock.advance(1)
    edit(stack, fake_aws, owner, prd_id, "insert", len(PRD) + 3, content="y")
    stack.clock.advance(2)
    fake_aws.posts.clear()
    first = reviews.look(execution)
    assert first == {"wait": 1, "done": False, "looks": 1} and not events(fake_aws, owner, "ai:suggestion")
    assert len(executions(reviews.arn)) == 1

    stack.clock.advance(first["wait"])
    assert reviews.look(execution)["done"] is False
    found = events(fake_aws, owner, "ai:suggestion")
    assert {(s["type"], s["section"]) for s in found} >= {("missing_section", "acceptance-criteria")}
    assert all(set(s) == {"prdId", "suggestionId", "type", "section", "title", "description", "priority",
                          "suggestedContent", "position"} for s in found)  # fmt: skip
    assert not events(fake_aws, viewer, "ai:suggestion")  # viewers cannot edit: nothing to offer them
    criteria = next(s for s in found if s["section"] == "acceptance-criteria")
    text = text_of(stack, fake_aws, owner, prd_id)
    assert text[criteria["position"] :].startswith("## Non-functional Requirements")  # where it would go

    # Nothing new since: the next look lets the lease go, and the execution ends.
    stack.clock.advance(3)
    assert reviews.look(execution)["done"] is True
    assert not events(fake_aws, owner, "ai:suggestion")  # the same finding is never sent twice
    # A later edit starts a new review.
    edit(stack, fake_aws, owner, prd_id, "insert", 0, content="z")
    assert len(executions(reviews.arn)) == 2


def test_two_instances_nudging_at_once_start_one_review(stack: Stack, fake_aws: FakeAws, reviews: Reviews) -> None:
    owner = client(stack, fake_aws, "user_a", "Ann")
    prd_id = new_prd(stack, fake_aws, owner, PRD)
    other = stack.new_instance("gateway")
    [created] = executions(reviews.arn)  # its first text is reviewed like an edit
    stack.clock.advance(3)
    reviews.look(created)  # the review of the first text, which ends by letting go
    stack.clock.advance(3)
    assert reviews.look(created)["done"]
    edit(stack, fake_aws, owner, prd_id, "insert", 0, content="a")
    other.services.nudge_review(prd_id, stack.clock())
    assert len(executions(reviews.arn)) == 2


def test_a_suggestion_follows_the_text_and_applying_inserts_it_there_once(
    stack: Stack, fake_aws: FakeAws, reviews: Reviews
) -> None:
    owner = client(stack, fake_aws, "user_a", "Ann")
    prd_id = new_prd(stack, fake_aws, owner, PRD)
    call(stack, fake_aws, owner, "document:share", {"prdId": prd_id, "userId": "user_b", "role": "editor"})
    bob = client(stack, fake_aws, "user_b", "Bob")
    assert call(stack, fake_aws, bob, "document:join", {"prdId": prd_id, "mode": "edit"})["ok"]
    review_now(stack, fake_aws, reviews, owner, prd_id)
    found = {s["section"]: s for s in events(fake_aws, owner, "ai:suggestion")}
    criteria = found["acceptance-criteria"]
    assert criteria in events(fake_aws, bob, "ai:suggestion")

    # Bob types before it: the suggestion's position moves with the text.
    edit(stack, fake_aws, bob, prd_id, "insert", 0, content="Draft. ")
    listed = call(stack, fake_aws, owner, "ai:suggestion-list", {"prdId": prd_id})
    moved = next(s for s in listed["suggestions"] if s["suggestionId"] == criteria["suggestionId"])
    assert moved["position"] == criteria["position"] + len("Draft. ")
    assert call(stack, fake_aws, owner, "document:join", {"prdId": prd_id, "mode": "edit"})["openSuggestions"] == len(
        listed["suggestions"]
    )

    fake_aws.posts.clear()
    applied = call(stack, fake_aws, bob, "ai:suggestion-apply", {"suggestionId": criteria["suggestionId"],
                                                                  "prdId": prd_id})  # fmt: skip
    assert applied == {"ok": True, "prdId": prd_id, "suggestionId": criteria["suggestionId"], "status": "applied",
                       "seq": applied["seq"]}  # fmt: skip
    text = text_of(stack, fake_aws, owner, prd_id)
    content = criteria["suggestedContent"]
    assert text[moved["position"] : moved["position"] + len(content)] == content
    assert text.replace(content, "", 1) == "Draft. " + PRD + " "
    for person in (owner, bob):
        frames = list(fake_aws.posts[person])  # events() takes what it reads: both kinds from one copy
        [seen] = events(fake_aws, person, "operation:applied")
        assert [o["userId"] for o in seen["operations"]] == ["ai"] and seen["seq"] == applied["seq"]
        fake_aws.posts[person][:] = frames
        [told] = events(fake_aws, person, "ai:suggestion-applied")
        by_bob = {"id": "user_b", "name": "Bob"}
        assert told == {"prdId": prd_id, "suggestionId": criteria["suggestionId"], "by": by_bob, "seq": applied["seq"]}

    # Twice is refused, and changes nothing.
    again = call(stack, fake_aws, owner, "ai:suggestion-apply", {"suggestionId": criteria["suggestionId"],
                                                                  "prdId": prd_id})  # fmt: skip
    assert again["error"]["code"] == "ALREADY_RESOLVED" and again["error"]["data"]["status"] == "applied"
    assert text_of(stack, fake_aws, owner, prd_id) == text
    listed = call(stack, fake_aws, owner, "ai:suggestion-list", {"prdId": prd_id})
    assert criteria["suggestionId"] not in {s["suggestionId"] for s in listed["suggestions"]}


def test_a_dismissed_finding_stays_dismissed_until_its_section_changes_a_lot(
    stack: Stack, fake_aws: FakeAws, reviews: Reviews
) -> None:
    owner = client(stack, fake_aws, "user_a", "Ann")
    prd_id = new_prd(stack, fake_aws, owner, PRD)
    call(stack, fake_aws, owner, "document:share", {"prdId": prd_id, "userId": "user_b", "role": "editor"})
    bob = client(stack, fake_aws, "user_b", "Bob")
    assert call(stack, fake_aws, bob, "document:join", {"prdId": prd_id, "mode": "edit"})["ok"]
    review_now(stack, fake_aws, reviews, owner, prd_id)
    vague = next(s for s in events(fake_aws, owner, "ai:suggestion") if s["type"] == "clarity")
    fake_aws.posts.clear()

    dismissal = {"suggestionId": vague["suggestionId"], "reason": "not_relevant", "note": "fast is fine here"}
    dismissed = call(stack, fake_aws, owner, "ai:suggestion-dismiss", dismissal)
    assert dismissed == {"ok": True, "prdId": prd_id, "suggestionId": vague["suggestionId"], "status": "dismissed"}
    [gone] = events(fake_aws, bob, "ai:suggestion-dismissed")
    assert gone == {"prdId": prd_id, "suggestionId": vague["suggestionId"], "by": {"id": "user_a", "name": "Ann"},
                    "reason": "not_relevant"}  # fmt: skip
    assert not events(fake_aws, owner, "ai:suggestion-dismissed")  # the dismisser knows from its ack
    twice = call(stack, fake_aws, bob, "ai:suggestion-dismiss", {"suggestionId": vague["suggestionId"],
                                                                  "reason": "other"})  # fmt: skip
    assert twice["error"]["code"] == "ALREADY_RESOLVED"
    bad = call(stack, fake_aws, bob, "ai:suggestion-dismiss", {"suggestionId": vague["suggestionId"], "reason": "meh"})
    assert bad["error"]["code"] == "VALIDATION_FAILED"

    # A small edit elsewhere: the next review does not offer it again.
    review_now(stack, fake_aws, reviews, owner, prd_id)
    assert vague["title"] not in {s["title"] for s in events(fake_aws, owner, "ai:suggestion")}

    # The section rewritten (the vague word kept): offered again, as a new suggestion.
    text = text_of(stack, fake_aws, owner, prd_id)
    start = text.index("- Checkout must be fast")
    end = text.index("\n\n## Accessibility")
    edit(stack, fake_aws, owner, prd_id, "delete", start, length=end - start)
    rewritten = (
        "- The payment page must be fast on a phone over a slow network.\n"
        "- Saved cards load before the page is shown.\n- Receipts arrive by email right after paying."
    )
    edit(stack, fake_aws, owner, prd_id, "insert", start, content=rewritten)
    review_now(stack, fake_aws, reviews, owner, prd_id)
    back = [s for s in events(fake_aws, owner, "ai:suggestion") if s["type"] == "clarity"]
    assert back and back[0]["suggestionId"] != vague["suggestionId"]


def test_a_suggestion_whose_text_is_deleted_is_withdrawn_and_cannot_be_applied(
    stack: Stack, fake_aws: FakeAws, reviews: Reviews
) -> None:
    owner = client(stack, fake_aws, "user_a", "Ann")
    prd_id = new_prd(stack, fake_aws, owner, PRD)
    review_now(stack, fake_aws, reviews, owner, prd_id)
    vague = next(s for s in events(fake_aws, owner, "ai:suggestion") if s["type"] == "clarity")
    text = text_of(stack, fake_aws, owner, prd_id)
    line = "- Checkout must be fast for returning shoppers."
    edit(stack, fake_aws, owner, prd_id, "delete", text.index(line), length=len(line))

    # Applying before the next review already finds it gone, and withdraws it.
    fake_aws.posts.clear()
    refused = call(stack, fake_aws, owner, "ai:suggestion-apply", {"suggestionId": vague["suggestionId"],
                                                                    "prdId": prd_id})  # fmt: skip
    assert refused["error"]["code"] == "NOT_FOUND" and refused["error"]["data"]["status"] == "withdrawn"
    assert events(fake_aws, owner, "ai:suggestion-withdrawn") == [
        {"prdId": prd_id, "suggestionId": vague["suggestionId"], "reason": "anchor_deleted"}
    ]
    listed = call(stack, fake_aws, owner, "ai:suggestion-list", {"prdId": prd_id})
    assert vague["suggestionId"] not in {s["suggestionId"] for s in listed["suggestions"]}


def test_a_finding_fixed_by_hand_is_withdrawn_at_the_next_review(
    stack: Stack, fake_aws: FakeAws, reviews: Reviews
) -> None:
    owner = client(stack, fake_aws, "user_a", "Ann")
    prd_id = new_prd(stack, fake_aws, owner, PRD)
    review_now(stack, fake_aws, reviews, owner, prd_id)
    criteria = next(s for s in events(fake_aws, owner, "ai:suggestion") if s["section"] == "acceptance-criteria")
    text = text_of(stack, fake_aws, owner, prd_id)
    at = text.index("## Non-functional")
    section = "## Acceptance Criteria\n- Given a saved card, when I tap Pay, then the order is placed.\n\n"
    edit(stack, fake_aws, owner, prd_id, "insert", at, content=section)
    review_now(stack, fake_aws, reviews, owner, prd_id)
    assert {"prdId": prd_id, "suggestionId": criteria["suggestionId"], "reason": "no_longer_applies"} in events(
        fake_aws, owner, "ai:suggestion-withdrawn"
    )


def test_who_may_see_apply_and_dismiss(stack: Stack, fake_aws: FakeAws, reviews: Reviews) -> None:
    owner = client(stack, fake_aws, "user_a", "Ann")
    prd_id = new_prd(stack, fake_aws, owner, PRD)
    review_now(stack, fake_aws, reviews, owner, prd_id)
    suggestion = events(fake_aws, owner, "ai:suggestion")[0]
    call(stack, fake_aws, owner, "document:share", {"prdId": prd_id, "userId": "user_v", "role": "viewer"})
    viewer = client(stack, fake_aws, "user_v", "Vic")
    stranger = client(stack, fake_aws, "user_x", "Xavier")
    ref = {"suggestionId": suggestion["suggestionId"], "prdId": prd_id}
    assert call(stack, fake_aws, viewer, "ai:suggestion-apply", ref)["error"]["code"] == "FORBIDDEN"
    assert call(stack, fake_aws, viewer, "ai:suggestion-list", {"prdId": prd_id})["error"]["code"] == "FORBIDDEN"
    assert call(stack, fake_aws, stranger, "ai:suggestion-apply", ref)["error"]["code"] == "NOT_FOUND"
    dismiss = {"suggestionId": suggestion["suggestionId"], "reason": "incorrect"}
    assert call(stack, fake_aws, stranger, "ai:suggestion-dismiss", dismiss)["error"]["code"] == "NOT_FOUND"
    # An id of another PRD, or none of ours at all.
    assert call(stack, fake_aws, owner, "ai:suggestion-apply", {**ref, "prdId": "prd_other"})["error"]["code"] == (
        "NOT_FOUND"
    )
    assert (
        call(stack, fake_aws, owner, "ai:suggestion-dismiss", {"suggestionId": "sug_1", "reason": "other"})["error"][
            "code"
        ]
        == "NOT_FOUND"
    )
    assert call(stack, fake_aws, owner, "ai:suggestion-list", {"prdId": prd_id})["ok"]


@pytest.fixture
def openai(monkeypatch: pytest.MonkeyPatch) -> FakeOpenAi:
    fake = start_openai_server()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("AI_REVIEW_MODEL_LIMIT", "2/3600")
    yield fake
    fake.stop()


def test_the_model_is_asked_once_per_review_and_a_malformed_answer_is_dropped(
    stack: Stack, fake_aws: FakeAws, review_machine: str, openai: FakeOpenAi
) -> None:
    reviews = Reviews(stack, review_machine)
    owner = client(stack, fake_aws, "user_a", "Ann")
    prd_id = new_prd(stack, fake_aws, owner, PRD)
    answer = {"suggestions": [{
        "type": "risk", "section": "security", "title": "Say who may see saved cards",
        "description": "Support staff access to saved cards is not stated.",
        "priority": "high", "suggestedContent": "- Support staff never see full card numbers.",
        "quote": "the payment provider tokenizes it",
    }]}  # fmt: skip
    openai.script += [Reply(chunks=[json.dumps(answer)]), Reply(chunks=["Here are my suggestions: none."])]
    review_now(stack, fake_aws, reviews, owner, prd_id)
    first = events(fake_aws, owner, "ai:suggestion")
    assert len(openai.requests) == 1 and openai.requests[0]["response_format"]["type"] == "json_schema"
    model = next(s for s in first if s["title"] == "Say who may see saved cards")
    text = text_of(stack, fake_aws, owner, prd_id)
    assert text[: model["position"]].endswith("tokenizes it.")  # after the passage it is about
    assert any(s["section"] == "acceptance-criteria" for s in first)  # the rules, alongside

    # Not JSON: dropped, never shown; the rules' review goes on.
    review_now(stack, fake_aws, reviews, owner, prd_id)
    assert len(openai.requests) == 2 and events(fake_aws, owner, "ai:suggestion") == []
    listed = call(stack, fake_aws, owner, "ai:suggestion-list", {"prdId": prd_id})["suggestions"]
    assert model["suggestionId"] in {s["suggestionId"] for s in listed}  # a model suggestion stays open

    # The document's model quota (2 an hour) is used up: reviews go on with the rules alone, and
    # nobody's ai:generate quota was touched.
    review_now(stack, fake_aws, reviews, owner, prd_id)
    assert len(openai.requests) == 2
    counters = boto3.resource("dynamodb").Table(stack.settings.rate_limits_table).scan()["Items"]
    assert {c["limit_key"].split("#")[1] for c in counters} == {"ai:review"}


def test_positions_come_in_each_sessions_encoding(stack: Stack, fake_aws: FakeAws, reviews: Reviews) -> None:
    owner = client(stack, fake_aws, "user_a", "Ann")
    content = PRD.replace("# Checkout", "# Checkout 🛒")  # one code point, two UTF-16 units
    prd_id = new_prd(stack, fake_aws, owner, content)
    call(stack, fake_aws, owner, "document:share", {"prdId": prd_id, "userId": "user_b", "role": "editor"})
    bob = client(stack, fake_aws, "user_b", "Bob")
    joined = call(
        stack, fake_aws, bob, "document:join", {"prdId": prd_id, "mode": "edit", "positionEncoding": "utf-32"}
    )
    assert joined["positionEncoding"] == "utf-32"
    review_now(stack, fake_aws, reviews, owner, prd_id)
    utf16 = {s["suggestionId"]: s["position"] for s in events(fake_aws, owner, "ai:suggestion")}
    utf32 = {s["suggestionId"]: s["position"] for s in events(fake_aws, bob, "ai:suggestion")}
    assert utf16 and utf16.keys() == utf32.keys()
    assert all(utf16[k] == utf32[k] + 1 for k in utf16)


def test_an_applied_finding_that_is_still_there_is_not_offered_again(
    stack: Stack, fake_aws: FakeAws, reviews: Reviews
) -> None:
    owner = client(stack, fake_aws, "user_a", "Ann")
    prd_id = new_prd(stack, fake_aws, owner, PRD.replace("in one step.\n", "in one step. Launch date: TBD.\n", 1))
    review_now(stack, fake_aws, reviews, owner, prd_id)
    placeholder = next(s for s in events(fake_aws, owner, "ai:suggestion") if s["type"] == "risk")
    ref = {"suggestionId": placeholder["suggestionId"], "prdId": prd_id}
    assert call(stack, fake_aws, owner, "ai:suggestion-apply", ref)["ok"]
    # The note it inserts leaves the TBD in place: the finding stays, applied, and is not re-sent.
    assert "TBD" in text_of(stack, fake_aws, owner, prd_id)
    review_now(stack, fake_aws, reviews, owner, prd_id)
    assert [s for s in events(fake_aws, owner, "ai:suggestion") if s["type"] == "risk"] == []


def test_an_early_look_keeps_the_promise_and_a_failed_execution_lets_go(
    stack: Stack, fake_aws: FakeAws, reviews: Reviews
) -> None:
    owner = client(stack, fake_aws, "user_a", "Ann")
    prd_id = new_prd(stack, fake_aws, owner, PRD)
    [execution] = executions(reviews.arn)
    # A retried step may run before the look it promised: it waits out the rest, deciding nothing.
    stack.clock.advance(1)
    assert reviews.look(execution) == {"wait": 2, "done": False, "looks": 1}
    stack.clock.advance(2)
    assert reviews.look(execution)["done"] is False  # the review
    # The state machine's Catch: the lease goes at once, and the next edit starts a new review.
    stack.invoke("ai_worker", {"step": "review-let-go", "prdId": prd_id, "holder": execution["holder"]})
    edit(stack, fake_aws, owner, prd_id, "insert", 0, content="a")
    assert len(executions(reviews.arn)) == 2


def test_a_long_review_hands_over_to_one_successor(stack: Stack, fake_aws: FakeAws, reviews: Reviews) -> None:
    owner = client(stack, fake_aws, "user_a", "Ann")
    prd_id = new_prd(stack, fake_aws, owner, PRD)
    [execution] = executions(reviews.arn)
    stack.clock.advance(3)
    reviews.look(execution)  # reviews the first text
    edit(stack, fake_aws, owner, prd_id, "insert", 0, content="a")
    stack.clock.advance(1)
    last = {**execution, "looks": HANDOVER_AFTER - 1}
    for _ in range(2):  # the step retried: still one successor
        step = {"step": "review", "prdId": prd_id, "holder": execution["holder"], "looks": last["looks"]}
        assert stack.invoke("ai_worker", step) == {"wait": 0, "done": True, "looks": HANDOVER_AFTER}
        stack.clock.advance(0.1)
    successors = executions(reviews.arn)[1:]
    assert [(s["holder"], s["generation"], s["looks"]) for s in successors] == [(execution["holder"], 1, 0)]


def test_suggestions_a_crashed_review_opened_are_told_by_the_next_one(
    stack: Stack, fake_aws: FakeAws, reviews: Reviews, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prdtool.features.ai import review

    owner = client(stack, fake_aws, "user_a", "Ann")
    prd_id = new_prd(stack, fake_aws, owner, PRD)
    [execution] = executions(reviews.arn)
    told = review._tell_editors

    def crash(*args: Any) -> None:
        raise RuntimeError("the worker died before telling anyone")

    monkeypatch.setattr(review, "_tell_editors", crash)
    stack.clock.advance(3)
    with pytest.raises(RuntimeError):
        reviews.look(execution)
    opened = call(stack, fake_aws, owner, "ai:suggestion-list", {"prdId": prd_id})["suggestions"]
    assert opened and not events(fake_aws, owner, "ai:suggestion")  # open, but nobody was told
    stack.invoke("ai_worker", {"step": "review-let-go", "prdId": prd_id, "holder": execution["holder"]})

    monkeypatch.setattr(review, "_tell_editors", told)
    review_now(stack, fake_aws, reviews, owner, prd_id)  # the next edit's review
    assert {s["suggestionId"] for s in events(fake_aws, owner, "ai:suggestion")} == {s["suggestionId"] for s in opened}
