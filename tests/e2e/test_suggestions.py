"""Proactive suggestions against ``prdtool-local serve`` with stock python-socketio clients: the
review state machine runs for real (moto's interpreter, its waits, the AI worker's looks), with
the built-in rules and no model key, as in ``make dev``."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2e.conftest import LocalStack
from tests.e2e.people import Person, Typist

PRD = """# Saved cards

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


async def suggestion_for(person: Person, section: str) -> dict[str, Any]:
    """The next ai:suggestion about ``section`` (others stay received)."""
    for _ in range(10):
        found: dict[str, Any] = await person.wait_for("ai:suggestion", timeout_s=60)
        if found["section"] == section:
            return found
        person.received.append(("ai:suggestion", found))
        await asyncio.sleep(0.2)
    raise AssertionError(f"no suggestion about {section}")


def received(person: Person, event: str) -> list[Any]:
    return [data for name, data in person.received if name == event]


def test_a_new_prd_gets_suggestions_that_follow_the_text_apply_and_stay_dismissed(stack: LocalStack) -> None:
    async def scenario() -> None:
        async with Person(stack, "user_so", "Olga") as olga, Person(stack, "user_sb", "Bob") as bob:
            prd_id = (await olga.call("document:create", {"title": "Saved cards", "content": PRD}))["prdId"]
            await olga.call("document:share", {"prdId": prd_id, "userId": "user_sb", "role": "editor"})
            writer = Typist(olga, prd_id, await olga.call("document:join", {"prdId": prd_id, "mode": "edit"}))
            await bob.call("document:join", {"prdId": prd_id, "mode": "edit"})

            # One edit, then quiet: the review finds no acceptance criteria, and says where they go.
            assert (await writer.insert(len(PRD), "\n"))["ok"]
            criteria = await suggestion_for(olga, "acceptance-criteria")
            assert criteria["type"] == "missing_section" and criteria["prdId"] == prd_id
            assert criteria == await suggestion_for(bob, "acceptance-criteria")
            text = PRD + "\n"
            assert text[criteria["position"] :].startswith("## Non-functional Requirements")

            # Bob types before it: its position follows the text.
            typist = Typist(bob, prd_id, await bob.call("document:join", {"prdId": prd_id, "mode": "edit"}))
            assert (await typist.insert(0, "Draft: "))["ok"]
            listed = (await olga.call("ai:suggestion-list", {"prdId": prd_id}))["suggestions"]
            moved = next(s for s in listed if s["suggestionId"] == criteria["suggestionId"])
            assert moved["position"] == criteria["position"] + len("Draft: ")

            # Bob applies it: one edit by "ai", which both see; the content lands exactly there.
            applied = await bob.call("ai:suggestion-apply", {"suggestionId": criteria["suggestionId"],
                                                             "prdId": prd_id})  # fmt: skip
            assert applied["ok"] and applied["status"] == "applied", applied
            for person in (olga, bob):
                seen = await person.wait_for("operation:applied")
                while seen["seq"] != applied["seq"]:
                    seen = await person.wait_for("operation:applied")
                assert [o["userId"] for o in seen["operations"]] == ["ai"]
            again = await olga.call("ai:suggestion-apply", {"suggestionId": criteria["suggestionId"],
                                                            "prdId": prd_id})  # fmt: skip
            assert again["error"]["code"] == "ALREADY_RESOLVED"
            texts = [(await p.call("document:join", {"prdId": prd_id, "mode": "edit"}))["currentContent"]
                     for p in (olga, bob)]  # fmt: skip
            assert texts[0] == texts[1]
            content = criteria["suggestedContent"]
            assert texts[0][moved["position"] : moved["position"] + len(content)] == content
            assert texts[0].replace(content, "", 1) == "Draft: " + text

            # Olga dismisses the vague "fast"; Bob sees it go.
            vague = await suggestion_for(olga, "non-functional-requirements")
            dismissed = await olga.call("ai:suggestion-dismiss", {"suggestionId": vague["suggestionId"],
                                                                  "reason": "already_done"})  # fmt: skip
            assert dismissed["ok"], dismissed
            gone = await bob.wait_for("ai:suggestion-dismissed")
            assert gone == {"prdId": prd_id, "suggestionId": vague["suggestionId"],
                            "by": {"id": "user_so", "name": "Olga"}, "reason": "already_done"}  # fmt: skip

            # The next review (a TBD typed into Goals) finds the TBD, and does not bring "fast" back.
            olga.received.clear()
            joined = await olga.call("document:join", {"prdId": prd_id, "mode": "edit"})
            writer = Typist(olga, prd_id, joined)
            at = joined["currentContent"].index("in one step.\n") + len("in one step.")
            assert (await writer.insert(at, " Launch date TBD."))["ok"]
            placeholder = await suggestion_for(olga, "goals")
            assert placeholder["type"] == "risk"
            assert vague["title"] not in {s["title"] for s in received(olga, "ai:suggestion")}
            listed = (await olga.call("ai:suggestion-list", {"prdId": prd_id}))["suggestions"]
            assert {s["suggestionId"] for s in listed} & {vague["suggestionId"], criteria["suggestionId"]} == set()
            joined = await bob.call("document:join", {"prdId": prd_id, "mode": "edit"})
            assert joined["openSuggestions"] == len(listed)

    asyncio.run(scenario())
