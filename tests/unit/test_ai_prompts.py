"""Sections of a markdown document, where generated text lands, and the messages sent to the model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prdtool.engine.markdown import (
    Section,
    find_section,
    insertion_point,
    section_body,
    sections,
    slugify,
    title_from_slug,
)
from prdtool.features.ai.prompts import (
    SYSTEM_PROMPT,
    GenerationRequest,
    build_messages,
    estimate_message_tokens,
    estimate_tokens,
)

DOC = """\
# Checkout PRD

Intro.

## Overview

We rebuild checkout.

## Technical Requirements

Existing requirement.

```python
# not a heading
## nor this
```

### Storage

Use DynamoDB.


## Über die Zahlung

## Open Questions
"""


def _insert(markdown: str, name: str, text: str) -> str:
    index, prefix = insertion_point(markdown, name)
    return markdown[:index] + prefix + text + markdown[index:]


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Technical Requirements", "technical-requirements"),
        ("  API / Integrations (v2)!  ", "api-integrations-v2"),
        ("snake_case and--dashes", "snake-case-and-dashes"),
        ("Über die Zahlung", "über-die-zahlung"),
        ("U\u0308ber", "über"),  # decomposed: U + combining diaeresis
        ("हिन्दी शीर्षक", "हिन्दी-शीर्षक"),  # vowel signs are marks, kept in the word
        ("!!!", ""),
    ],
)
def test_slugify(heading: str, slug: str) -> None:
    assert slugify(heading) == slug


def test_title_from_slug_keeps_titles_as_they_are() -> None:
    assert title_from_slug("technical-requirements") == "Technical Requirements"
    assert title_from_slug("über-uns") == "Über Uns"
    assert title_from_slug("API design") == "API design"
    assert title_from_slug("Overview") == "Overview"
    assert title_from_slug("two\nlines") == "two lines"


def test_sections_nest_and_skip_code_fences() -> None:
    found = sections(DOC)
    assert [(s.slug, s.level) for s in found] == [
        ("checkout-prd", 1),
        ("overview", 2),
        ("technical-requirements", 2),
        ("storage", 3),
        ("über-die-zahlung", 2),
        ("open-questions", 2),
    ]
    assert found[0] == Section("checkout-prd", "Checkout PRD", 1, 0, len(DOC))
    tech, storage, zahlung = found[2], found[3], found[4]
    assert DOC[tech.start :].startswith("## Technical Requirements\n")
    assert tech.end == zahlung.start == storage.end  # the subsection ends with its parent
    assert DOC[storage.start : storage.end] == "### Storage\n\nUse DynamoDB.\n\n\n"


@pytest.mark.parametrize(
    ("markdown", "titles"),
    [
        ("#hashtag\n####### seven\n    # indented code\n# Real\n", ["Real"]),
        ("## Closed ##\n#\tTab\n", ["Closed", "Tab"]),
        ("# A\r\n\r\n## B\r\n", ["A", "B"]),
        ("~~~\n# in tilde fence\n```\n# still in\n~~~\n# out\n", ["out"]),
        ("````\n```\n# inside: a shorter fence does not close\n````\n# after\n", ["after"]),
        ("# before\n```\n# unclosed fence runs to the end\n", ["before"]),
    ],
)
def test_what_counts_as_a_heading(markdown: str, titles: list[str]) -> None:
    assert [s.title for s in sections(markdown)] == titles


_NOT_HEADINGS = [
    "",
    "Text.",
    "#hashtag",
    "####### seven",
    "    # indented code",
    "```\n## fenced\n```",
    "~~~\n# x\n~~~",
]
_TITLES = ["A", "Goals", "Über uns", "Open questions"]


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(
        st.tuples(st.integers(1, 6), st.sampled_from(_TITLES)) | st.sampled_from(_NOT_HEADINGS), max_size=60
    ),
    final_newline=st.booleans(),
)
def test_sections_end_at_the_next_heading_of_the_same_or_a_higher_level(
    parts: list[tuple[int, str] | str], final_newline: bool
) -> None:
    lines, headings = [], []  # headings: (start, level, title), known from how the document is built
    position = 0
    for part in parts:
        if isinstance(part, tuple):
            level, title = part
            headings.append((position, level, title))
            part = f"{'#' * level} {title}"
        lines.append(part)
        position += len(part) + 1
    markdown = "\n".join(lines) + ("\n" if final_newline else "")
    # the definition, scanning the rest of the headings for each one
    expected = [
        Section(
            slugify(title),
            title,
            level,
            start,
            next((other for other, lvl, _ in headings[i + 1 :] if lvl <= level), len(markdown)),
        )
        for i, (start, level, title) in enumerate(headings)
    ]
    assert sections(markdown) == expected


def test_find_section_by_slug_or_title() -> None:
    by_slug = find_section(DOC, "technical-requirements")
    assert by_slug is not None
    assert by_slug == find_section(DOC, "Technical Requirements") == find_section(DOC, "TECHNICAL requirements")
    assert by_slug.title == "Technical Requirements"
    assert find_section(DOC, "über-die-zahlung") == find_section(DOC, "Über die Zahlung")
    assert find_section(DOC, "Security") is None
    assert find_section(DOC, "") is None
    assert find_section("# A\n\n## A\n", "a") == Section("a", "A", 1, 0, 10)  # the first one


def test_section_body() -> None:
    tech = find_section(DOC, "technical-requirements")
    assert tech is not None
    assert section_body(DOC, tech).startswith("Existing requirement.\n\n```python")
    assert section_body(DOC, tech).endswith("### Storage\n\nUse DynamoDB.")
    last = find_section(DOC, "open-questions")
    assert last is not None
    assert section_body(DOC, last) == ""
    assert section_body("## No newline", sections("## No newline")[0]) == ""


def test_insertion_after_the_last_text_of_the_section() -> None:
    assert _insert("## A\n\nfoo\n\n\n## B\n", "a", "NEW") == "## A\n\nfoo\n\nNEW\n\n\n## B\n"
    assert _insert("## A\n\n## B\n", "A", "NEW") == "## A\n\nNEW\n\n## B\n"  # empty body
    assert _insert("## A\n\nfoo", "a", "NEW") == "## A\n\nfoo\n\nNEW"  # last section, no newline
    assert _insert("# T\n\n## A\n\nfoo  \n\n", "a", "NEW") == "# T\n\n## A\n\nfoo\n\nNEW  \n\n"
    inserted = _insert(DOC, "Technical Requirements", "NEW")
    assert "Use DynamoDB.\n\nNEW\n\n\n## Über die Zahlung" in inserted
    assert _insert(DOC, "über-die-zahlung", "NEW").endswith("## Über die Zahlung\n\nNEW\n\n## Open Questions\n")


@pytest.mark.parametrize(
    ("markdown", "result"),
    [
        ("", "## Security Requirements\n\nNEW"),
        ("# T\n", "# T\n\n## Security Requirements\n\nNEW"),
        ("# T", "# T\n\n## Security Requirements\n\nNEW"),
        ("# T\n\n", "# T\n\n## Security Requirements\n\nNEW"),
    ],
)
def test_insertion_of_a_missing_section_at_the_end(markdown: str, result: str) -> None:
    assert insertion_point(markdown, "security-requirements")[0] == len(markdown)
    assert _insert(markdown, "security-requirements", "NEW") == result


def test_a_missing_section_named_as_a_title_keeps_its_name() -> None:
    assert insertion_point("# T\n", "API design") == (4, "\n## API design\n\n")


def test_estimate_tokens() -> None:
    assert [estimate_tokens(t) for t in ("", "a", "abcd", "abcde", "é" * 8)] == [0, 1, 1, 2, 2]
    assert estimate_message_tokens([{"role": "user", "content": "abcde"}, {"role": "system", "content": "x"}]) == 3


def _request(**changes: object) -> GenerationRequest:
    fields: dict[str, object] = {
        "prompt": "Add OAuth2 technical requirements",
        "section": "technical-requirements",
        "previous_content": "Existing requirement.",
        "related": {"Overview": "We rebuild checkout.", "Security": "Tokens are short-lived."},
        "document_title": "Checkout PRD",
    }
    fields.update(changes)
    return GenerationRequest(**fields)  # type: ignore[arg-type]


def test_user_message_has_labelled_parts_and_the_prompt_last() -> None:
    system, user = build_messages(_request())
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert user["role"] == "user"
    assert user["content"] == (
        "Document: Checkout PRD\n"
        "Section: Technical Requirements\n\n"
        "Current content of the section (your text is appended after it):\n"
        "<current>\nExisting requirement.\n</current>\n\n"
        "Related sections of the document, for consistency:\n"
        '<related name="Overview">\nWe rebuild checkout.\n</related>\n'
        '<related name="Security">\nTokens are short-lived.\n</related>\n\n'
        "Request: Add OAuth2 technical requirements"
    )


def test_user_message_without_title_content_or_related() -> None:
    _, user = build_messages(_request(document_title="", previous_content=None, related={"Empty": "  "}))
    assert user["content"] == (
        "Section: Technical Requirements\n\nThe section is empty so far.\n\nRequest: Add OAuth2 technical requirements"
    )


def test_over_budget_the_related_sections_go_first_then_the_start_of_the_content() -> None:
    previous = "START " + "content " * 300 + "END"
    related = {"Overview": "overview " * 100, "Security": "security " * 100, "Scope": "scope " * 100}
    request = _request(previous_content=previous, related=related)
    full = estimate_message_tokens(build_messages(request, budget_tokens=100_000))
    related_tokens = sum(estimate_tokens(text) for text in related.values())

    user = build_messages(request, budget_tokens=full - 200)[1]["content"]
    assert '<related name="Overview">' in user
    assert '<related name="Scope">' not in user  # the last one goes first
    assert "START" in user
    assert user.endswith("Request: Add OAuth2 technical requirements")

    user = build_messages(request, budget_tokens=full - related_tokens - 150)[1]["content"]
    assert "<related" not in user
    assert "<current>\n…" in user
    assert "START" not in user
    assert "END\n</current>" in user  # the end of the content is what the new text continues


@settings(max_examples=200, deadline=None)
@given(
    prompt=st.text(min_size=1, max_size=400),
    previous=st.none() | st.text(max_size=3000),
    related=st.dictionaries(st.text(max_size=30), st.text(max_size=2000), max_size=4),
    title=st.text(max_size=40),
    slack=st.integers(0, 1500),
)
def test_the_budget_holds_whenever_system_and_prompt_fit(
    prompt: str, previous: str | None, related: dict[str, str], title: str, slack: int
) -> None:
    request = GenerationRequest(prompt, "Technical Requirements", previous, related, title)
    budget = estimate_tokens(SYSTEM_PROMPT) + estimate_tokens(prompt) + slack
    messages = build_messages(request, budget_tokens=budget)
    assert estimate_message_tokens(messages) <= budget
    assert messages[0]["content"] == SYSTEM_PROMPT
    assert messages[1]["content"].endswith(prompt)


def test_prompt_is_never_cut_even_over_budget() -> None:
    messages = build_messages(_request(prompt="p" * 1000), budget_tokens=10)
    assert messages[1]["content"] == "p" * 1000
