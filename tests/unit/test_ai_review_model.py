"""The model reviewer: its request and the findings of its answer, through the real openai client
and a fake OpenAI server; the offline provider's answer; how a bad answer is dropped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from prdtool.features.ai.findings import Finding
from prdtool.features.ai.prompts import estimate_tokens
from prdtool.features.ai.providers import OfflineProvider, OpenAiProvider, ProviderError
from prdtool.features.ai.review_model import (
    REVIEW_SCHEMA,
    REVIEW_SCHEMA_NAME,
    REVIEW_SYSTEM_PROMPT,
    build_review_messages,
    parse_review,
)
from tests.fakes.openai_server import FakeOpenAi, Reply, start_openai_server

DOC = """\
# Checkout PRD

## Overview

We rebuild checkout so that paying takes fewer steps.
Checkout should be fast for most users.

## Goals

- Cut checkout time in half.
- Support Apple Pay.

## Technical Requirements

The API returns results quickly.
"""

KNOWN = [
    Finding(
        key="rules:goals:no-metric",
        rule="rules",
        type="missing_section",
        section="success-metrics",
        title="Add success metrics",
        description="",
        priority="high",
        suggested_content="## Success Metrics\n\n- TBD",
        at=len(DOC),
    )
]


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAi]:
    fake = start_openai_server()
    yield fake
    fake.stop()


def _provider(fake: FakeOpenAi) -> OpenAiProvider:
    return OpenAiProvider("sk-test", "gpt-test", base_url=fake.base_url, timeout_s=5.0)


def _item(**fields: str) -> dict[str, str]:
    item = {
        "type": "clarity",
        "section": "overview",
        "title": "Say how fast checkout must be",
        "description": "“Fast” cannot be tested.",
        "priority": "high",
        "suggestedContent": "Checkout shall complete within 2 seconds at the 95th percentile.",
        "quote": "",
    }
    return {**item, **fields}


def _review(fake: FakeOpenAi, answer: str, text: str = DOC) -> list[Finding]:
    """The findings of ``answer``, sent by the fake to the real client as the model's reply."""
    fake.script.append(Reply(chunks=[answer], usage=(900, 150)))
    provider = _provider(fake)
    raw = provider.complete_json(
        build_review_messages("Checkout PRD", text, KNOWN), 800, REVIEW_SCHEMA_NAME, REVIEW_SCHEMA
    )
    assert raw == answer
    assert provider.last_usage == 1050
    return parse_review(raw, text)


def _inserted(text: str, finding: Finding) -> str:
    return text[: finding.at] + finding.suggested_content + text[finding.at :]


def test_a_quote_places_the_finding_after_its_paragraph(fake_openai: FakeOpenAi) -> None:
    quote = "should be fast for most users"
    [finding] = _review(fake_openai, json.dumps({"suggestions": [_item(quote=quote)]}))

    start = DOC.index(quote)
    assert finding.subject == (start, start + len(quote))
    assert finding.at == DOC.index("most users.") + len("most users.")  # the end of its line and paragraph
    assert finding == Finding(
        key="model:overview:say-how-fast-checkout-must-be",
        rule="model",
        type="clarity",
        section="overview",
        title="Say how fast checkout must be",
        description="“Fast” cannot be tested.",
        priority="high",
        suggested_content="\n\nCheckout shall complete within 2 seconds at the 95th percentile.",
        at=finding.at,
        subject=finding.subject,
    )
    assert "for most users.\n\nCheckout shall complete within 2 seconds at the 95th percentile.\n\n## Goals" in (
        _inserted(DOC, finding)
    )


def test_a_quote_in_a_list_places_the_finding_after_the_list(fake_openai: FakeOpenAi) -> None:
    # a quote the model re-spaced is still found; inserting after its line would split the list
    [finding] = _review(fake_openai, json.dumps({"suggestions": [_item(section="goals", quote="Cut  checkout time")]}))
    assert finding.subject == (
        DOC.index("Cut checkout time"),
        DOC.index("Cut checkout time") + len("Cut checkout time"),
    )
    assert finding.at == DOC.index("Apple Pay.") + len("Apple Pay.")


def test_without_a_quote_found_the_finding_ends_its_section(fake_openai: FakeOpenAi) -> None:
    answer = json.dumps({"suggestions": [_item(section="Goals", quote="a passage that is not in the document")]})
    [finding] = _review(fake_openai, answer)
    assert (finding.section, finding.subject) == ("goals", None)  # a title as section is taken as its slug
    assert finding.at == DOC.index("Apple Pay.") + len("Apple Pay.")
    assert _inserted(DOC, finding).count("## Goals") == 1
    assert "- Support Apple Pay.\n\nCheckout shall complete" in _inserted(DOC, finding)


def test_an_unknown_section_goes_at_the_end_under_its_heading(fake_openai: FakeOpenAi) -> None:
    answer = json.dumps(
        {
            "suggestions": [
                _item(type="missing_section", section="rollout-plan", title="Plan the rollout", priority="medium",
                      suggestedContent="Roll out to 5% of users first."),
                _item(type="risk", section="risks", title="List the risks", suggestedContent="## Risks\n\n- Fraud."),
            ]
        }
    )  # fmt: skip
    rollout, risks = _review(fake_openai, answer)

    assert (rollout.at, rollout.subject) == (len(DOC), None)
    assert rollout.key == "model:rollout-plan:plan-the-rollout"
    assert rollout.suggested_content == "\n## Rollout Plan\n\nRoll out to 5% of users first."
    assert _inserted(DOC, rollout).endswith(
        "The API returns results quickly.\n\n## Rollout Plan\n\nRoll out to 5% of users first."
    )
    assert risks.suggested_content == "\n## Risks\n\n- Fraud."  # the model's own heading, not a second one


def test_the_section_heading_is_not_repeated_inside_its_section() -> None:
    answer = json.dumps({"suggestions": [_item(section="goals", suggestedContent="## Goals\n\n- Fewer refunds.")]})
    [finding] = parse_review(answer, DOC)
    assert finding.suggested_content == "\n\n- Fewer refunds."


def test_the_request_is_one_structured_call(fake_openai: FakeOpenAi) -> None:
    messages = build_review_messages("Checkout PRD", DOC, KNOWN)
    fake_openai.script.append(Reply(chunks=['{"suggestions": []}']))
    assert (
        _provider(fake_openai).complete_json(messages, 800, REVIEW_SCHEMA_NAME, REVIEW_SCHEMA) == '{"suggestions": []}'
    )

    [request] = fake_openai.requests
    assert request["stream"] is False
    assert "stream_options" not in request
    assert request["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "prd_review", "schema": REVIEW_SCHEMA, "strict": True},
    }
    assert (request["model"], request["max_tokens"], request["messages"]) == ("gpt-test", 800, messages)


def test_the_prompt_lists_the_known_findings_and_the_sections() -> None:
    system, user = build_review_messages("Checkout PRD", DOC, KNOWN)
    assert system == {"role": "system", "content": REVIEW_SYSTEM_PROMPT}
    content = user["content"]
    assert user["role"] == "user"
    assert content.startswith("Document title: Checkout PRD\n\n")
    assert "Already known findings, do not repeat them:\n- Add success metrics (section: success-metrics)" in content
    assert "- goals: Goals\n- technical-requirements: Technical Requirements" in content
    assert f"<document>\n{DOC}\n</document>" in content
    assert "longer than shown" not in content


def test_a_long_document_is_cut_to_the_budget_keeping_its_start() -> None:
    text = DOC + "".join(f"\n## Part {n}\n\n" + "Every part says something specific. " * 40 for n in range(60))
    messages = build_review_messages("Checkout PRD", text, KNOWN, budget_tokens=3000)
    content = messages[1]["content"]

    assert sum(estimate_tokens(message["content"]) for message in messages) <= 3000
    shown = content[content.index("<document>\n") + len("<document>\n") : content.index("\n</document>")]
    assert text.startswith(shown)
    assert len(shown) > 5000
    assert f"only its first {len(shown)} of {len(text)} characters are included" in content
    assert "- part-59: Part 59" in content  # the headings of the part cut off are still listed


def test_an_answer_that_is_not_json_gives_nothing(fake_openai: FakeOpenAi, caplog: pytest.LogCaptureFixture) -> None:
    assert _review(fake_openai, "Sure! Here are my suggestions: make it faster.") == []
    [record] = caplog.records  # logged, never shown
    assert (record.levelname, record.getMessage()) == (
        "WARNING",
        "the model's review is not JSON of the review schema; dropped",
    )
    assert "make it faster" not in repr(record.__dict__)  # the model's text stays out of the log
    for answer in ('{"items": []}', "[]", '{"suggestions": {"title": "x"}}', '{"suggestions": null}'):
        assert parse_review(answer, DOC) == []


def test_invalid_items_are_dropped_and_the_others_kept(fake_openai: FakeOpenAi) -> None:
    items: list[Any] = [
        _item(title="Bad priority", priority="urgent"),
        _item(title="Kept first"),
        "not an object",
        _item(title="Only whitespace", suggestedContent=" \n\t "),
        _item(title="Unknown type", type="praise"),
        _item(title="Too long", description="x" * 5000),
        _item(title="Kept second", section="goals"),
    ]
    findings = _review(fake_openai, json.dumps({"suggestions": items}))
    assert [finding.title for finding in findings] == ["Kept first", "Kept second"]


def test_at_most_five_distinct_findings_without_nul() -> None:
    items = [_item(title="Same"), _item(title="Same")] + [_item(title=f"Title\u0000 {n}") for n in range(7)]
    findings = parse_review(json.dumps({"suggestions": items}).replace("Same", "Sa\0me", 1), DOC)
    assert [finding.title for finding in findings] == ["Same", "Title 0", "Title 1", "Title 2", "Title 3"]
    assert [finding.key for finding in findings][1] == "model:overview:title-0"


def test_the_key_takes_at_most_sixty_characters_of_the_title() -> None:
    [finding] = parse_review(json.dumps({"suggestions": [_item(title="Define " + "very " * 20 + "clearly")]}), DOC)
    assert finding.key == "model:overview:" + ("define" + "-very" * 20)[:60].rstrip("-")


@pytest.mark.parametrize(
    ("status", "code", "retryable"), [(429, "AI_RATE_LIMITED", True), (500, "AI_PROVIDER_ERROR", True)]
)
def test_http_errors_raise_provider_errors(fake_openai: FakeOpenAi, status: int, code: str, retryable: bool) -> None:
    fake_openai.script.append(Reply(status=status))
    with pytest.raises(ProviderError) as failure:
        _provider(fake_openai).complete_json(
            build_review_messages("T", DOC, []), 800, REVIEW_SCHEMA_NAME, REVIEW_SCHEMA
        )
    assert (failure.value.code, failure.value.retryable) == (code, retryable)
    assert len(fake_openai.requests) == 1  # no retries in the client


@pytest.mark.parametrize(
    "reply",
    [
        Reply(chunks=['{"suggestions": [{"type": "cla'], finish_reason="length"),
        Reply(refusal="I can't help with that."),
        Reply(chunks=[]),
        Reply(chunks=["{}"], finish_reason="content_filter"),
    ],
)
def test_a_cut_refused_or_empty_answer_is_not_retryable(fake_openai: FakeOpenAi, reply: Reply) -> None:
    fake_openai.script.append(reply)
    provider = _provider(fake_openai)
    with pytest.raises(ProviderError) as failure:
        provider.complete_json(build_review_messages("T", DOC, []), 800, REVIEW_SCHEMA_NAME, REVIEW_SCHEMA)
    assert (failure.value.code, failure.value.retryable) == ("AI_PROVIDER_ERROR", False)
    assert provider.last_usage is not None  # the tokens were spent all the same


def test_the_offline_provider_answers_an_empty_review() -> None:
    provider = OfflineProvider(sleep=lambda _: None)
    messages = build_review_messages("T", DOC, [])
    answer = provider.complete_json(messages, 800, REVIEW_SCHEMA_NAME, REVIEW_SCHEMA)
    assert answer == '{"suggestions": []}'
    assert parse_review(answer, DOC) == []
    assert provider.last_usage is not None


def _objects(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            yield schema
        for value in schema.values():
            yield from _objects(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _objects(value)


def test_the_schema_suits_strict_mode() -> None:
    objects = list(_objects(REVIEW_SCHEMA))
    assert len(objects) == 2
    for schema in objects:
        assert schema["additionalProperties"] is False
        assert schema["required"] == list(schema["properties"])
    item = REVIEW_SCHEMA["properties"]["suggestions"]["items"]["properties"]
    assert set(item) == {"type", "section", "title", "description", "priority", "suggestedContent", "quote"}
    assert item["type"]["enum"] == ["improvement", "missing_section", "clarity", "consistency", "risk"]
    assert item["priority"]["enum"] == ["low", "medium", "high"]
    assert REVIEW_SCHEMA["properties"]["suggestions"]["maxItems"] == 5
    # strict mode refuses string lengths: the limits are in the descriptions, and enforced on receipt
    assert "maxLength" not in json.dumps(REVIEW_SCHEMA)
    assert all("At most" in item[name]["description"] for name in ("section", "title", "suggestedContent", "quote"))
