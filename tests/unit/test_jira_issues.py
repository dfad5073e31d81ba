"""A user story as a Jira issue: the exact fields and ADF description the sync sends, checked to be
ADF that Jira accepts (known nodes and marks only, no empty text), the summary's cut and the label."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prdtool.engine.user_stories import UserStory, user_stories
from prdtool.features.integrations.jira_issues import (
    MAX_LABEL_CHARS,
    MAX_SUMMARY_CHARS,
    edit_fields,
    inline_nodes,
    issue_fields,
    sent_print,
    story_description,
    summary,
    sync_label,
    words_print,
)

LINK = "https://prdtool.example.com/prd/prd-1"

# What each ADF node may hold (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/),
# for the nodes this module makes.
_CHILDREN = {
    "doc": {"paragraph", "heading", "bulletList"},
    "paragraph": {"text"},
    "heading": {"text"},
    "bulletList": {"listItem"},
    "listItem": {"paragraph", "bulletList"},
}
_MARKS = {"strong", "em", "code", "link"}


def _check_adf(node: dict[str, Any], parent: str | None = None) -> None:
    """Fails unless ``node`` is ADF as Jira validates it, for the nodes and marks used here."""
    kind = node["type"]
    assert kind in _CHILDREN or kind == "text", kind
    if parent is not None:
        assert kind in _CHILDREN[parent], (parent, kind)
    if kind == "doc":
        assert node["version"] == 1 and parent is None
    if kind == "heading":
        assert 1 <= node["attrs"]["level"] <= 6
    if kind == "text":
        assert set(node) <= {"type", "text", "marks"}
        assert isinstance(node["text"], str) and node["text"], "ADF rejects an empty text node"
        marks = [mark["type"] for mark in node.get("marks", [])]
        assert "marks" not in node or marks, "no empty list of marks"
        assert set(marks) <= _MARKS and len(marks) == len(set(marks)), marks
        if "code" in marks:
            assert set(marks) <= {"code", "link"}, "code goes with a link only"
        for mark in node.get("marks", []):
            if mark["type"] == "link":
                assert mark["attrs"]["href"]
        return
    assert set(node) <= {"type", "version", "attrs", "content"}
    assert node["content"], f"{kind} with no content"
    for child in node["content"]:
        _check_adf(child, kind)


def _story(title: str, *criteria: str) -> UserStory:
    return UserStory(title, criteria, None, 0, len(title), len(title))


def _texts(node: dict[str, Any]) -> list[str]:
    if node["type"] == "text":
        return [node["text"]]
    return [text for child in node.get("content", []) for text in _texts(child)]


STORY = _story(
    "As a **shopper**, I want to pay with a `saved card` so that I check out in *one* step",
    "Given a saved card, when I pay, then no card form is shown.",
    "Given an [expired](https://example.com/cards) card, then I am asked for a new one.",
)


def test_the_description_of_a_story_with_criteria() -> None:
    assert story_description(STORY, "Saved cards", LINK) == {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "As a "},
                    {"type": "text", "text": "shopper", "marks": [{"type": "strong"}]},
                    {"type": "text", "text": ", I want to pay with a "},
                    {"type": "text", "text": "saved card", "marks": [{"type": "code"}]},
                    {"type": "text", "text": " so that I check out in "},
                    {"type": "text", "text": "one", "marks": [{"type": "em"}]},
                    {"type": "text", "text": " step"},
                ],
            },
            {"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": "Acceptance criteria"}]},
            {
                "type": "bulletList",
                "content": [
                    {
                        "type": "listItem",
                        "content": [
                            {
                                "type": "paragraph",
                                "content": [
                                    {
                                        "type": "text",
                                        "text": "Given a saved card, when I pay, then no card form is shown.",
                                    }
                                ],
                            }
                        ],
                    },
                    {
                        "type": "listItem",
                        "content": [
                            {
                                "type": "paragraph",
                                "content": [
                                    {"type": "text", "text": "Given an "},
                                    {
                                        "type": "text",
                                        "text": "expired",
                                        "marks": [{"type": "link", "attrs": {"href": "https://example.com/cards"}}],
                                    },
                                    {"type": "text", "text": " card, then I am asked for a new one."},
                                ],
                            }
                        ],
                    },
                ],
            },
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "From the PRD "},
                    {"type": "text", "text": "Saved cards", "marks": [{"type": "link", "attrs": {"href": LINK}}]},
                ],
            },
        ],
    }
    _check_adf(story_description(STORY, "Saved cards", LINK))


def test_no_criteria_no_heading_and_no_link_no_mark() -> None:
    assert story_description(_story("As a user, I want X"), "Carts", None) == {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "As a user, I want X"}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "From the PRD Carts"}]},
        ],
    }


def test_empty_texts_are_left_out_rather_than_sent_empty() -> None:
    description = story_description(_story("", "", "  ", "Given X"), " ", LINK)
    _check_adf(description)
    assert _texts(description) == ["Acceptance criteria", "Given X", "From the PRD"]
    assert description["content"][-1]["content"][0]["marks"] == [{"type": "link", "attrs": {"href": LINK}}]


def _t(text: str, *marks: str | dict[str, Any]) -> dict[str, Any]:
    """A text node with marks given by name (or whole, for a link)."""
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = [{"type": mark} if isinstance(mark, str) else mark for mark in marks]
    return node


_E_COM = {"type": "link", "attrs": {"href": "https://e.com"}}


@pytest.mark.parametrize(
    ("text", "nodes"),
    [
        ("plain", [_t("plain")]),
        ("a **b *c* d**", [_t("a "), _t("b ", "strong"), _t("c", "strong", "em"), _t(" d", "strong")]),
        ("__b__ _e_", [_t("b", "strong"), _t(" "), _t("e", "em")]),
        ("**`x`**", [_t("x", "code")]),
        ("[`x` y](https://e.com)", [_t("x", _E_COM, "code"), _t(" y", _E_COM)]),
        ("2 * 3 * 4, snake_case_name, **open", [_t("2 * 3 * 4, snake_case_name, **open")]),
        (r"\*not em\* and \[PAY-1\]", [_t("*not em* and [PAY-1]")]),
        ("[a link](javascript:alert(1))", [_t("[a link](javascript:alert(1))")]),
        ("two\nlines  and\tspaces", [_t("two lines and spaces")]),
        ("", []),
    ],
)
def test_inline_markdown_as_marks(text: str, nodes: list[dict[str, Any]]) -> None:
    assert inline_nodes(text) == nodes


def test_the_fields_of_an_issue() -> None:
    fields = issue_fields(STORY, "PAY", "Story", "prdtool-prd-1", "Saved cards", LINK)
    assert fields == {
        "project": {"key": "PAY"},
        "summary": "As a shopper, I want to pay with a saved card so that I check out in one step",
        "issuetype": {"name": "Story"},
        "description": story_description(STORY, "Saved cards", LINK),
        "labels": ["prdtool-prd-1"],
    }


def test_a_long_summary_is_cut_at_a_word() -> None:
    title = "As a shopper, I want " + "to pay quickly " * 30
    cut = summary(title)
    assert len(cut) <= MAX_SUMMARY_CHARS and cut.endswith("…")
    assert title.startswith(cut[:-1]) and title[len(cut) - 1] == " "
    assert cut[-2] != " "


def test_a_summary_counts_as_jira_does_and_cuts_a_single_long_word_inside() -> None:
    emoji = "\N{SHOPPING TROLLEY}" * 200  # two UTF-16 units each: Jira counts 400
    cut = summary(emoji)
    assert cut == "\N{SHOPPING TROLLEY}" * 127 + "…"
    assert summary("x" * 255) == "x" * 255
    assert summary("x" * 256) == "x" * 254 + "…"


def test_a_summary_is_plain_text_on_one_line() -> None:
    assert summary("As a **user**,\n  I want `x`") == "As a user, I want x"
    assert summary("` `") == "` `"  # nothing would be left as plain text: the title is kept as written


@pytest.mark.parametrize(
    ("prd_id", "label"),
    [
        ("prd-1", "prdtool-prd-1"),
        ("3f2b8c1e-9d4a-4f6b-8e2a-1c5d7e9f0a3b", "prdtool-3f2b8c1e-9d4a-4f6b-8e2a-1c5d7e9f0a3b"),
        ("my prd", "prdtool-my_prd-"),
        (" padded\t", "prdtool-padded-"),
    ],
)
def test_sync_labels_have_no_spaces(prd_id: str, label: str) -> None:
    assert sync_label(prd_id).startswith(label)
    assert " " not in sync_label(prd_id) and sync_label(prd_id) == sync_label(prd_id)


def test_changed_or_cut_ids_keep_distinct_labels() -> None:
    assert len({sync_label("my prd"), sync_label("my_prd"), sync_label("my  prd")}) == 3
    long_a, long_b = "a" * 300, "a" * 299 + "b"
    assert len(sync_label(long_a)) == MAX_LABEL_CHARS and sync_label(long_a) != sync_label(long_b)
    assert len(sync_label("a" * (MAX_LABEL_CHARS - len("prdtool-")))) == MAX_LABEL_CHARS
    with pytest.raises(ValueError, match="PRD id"):
        sync_label("  ")


def test_stories_read_from_a_prd_become_valid_issues() -> None:
    text = "## User stories\n\n- [ ] As a *shopper*, I want X [PAY-1]\n  - Given `y`\n  - Then **z**\n"
    (story,) = user_stories(text)
    fields = issue_fields(story, "PAY", "Story", sync_label("prd-1"), "Carts", LINK)
    assert fields["summary"] == "As a shopper, I want X"
    _check_adf(fields["description"])
    assert _texts(fields["description"]) == ["As a ", "shopper", ", I want X", "Acceptance criteria", "Given ", "y",
                                            "Then ", "z", "From the PRD ", "Carts"]  # fmt: skip


_MARKDOWNISH = st.lists(st.sampled_from([*"ab *_`[]()\\\n\t\r:", "https://e.com", "\N{SHOPPING TROLLEY}"])).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    title=st.one_of(_MARKDOWNISH, st.text()),
    criteria=st.lists(st.one_of(_MARKDOWNISH, st.text()), max_size=4),
    prd_title=st.text(max_size=20),
    link=st.none() | st.just(LINK),
)
def test_any_story_makes_valid_adf_and_a_short_one_line_summary(
    title: str, criteria: list[str], prd_title: str, link: str | None
) -> None:
    story = UserStory(title, tuple(criteria), None, 0, 0, 0)
    fields = issue_fields(story, "PAY", "Story", sync_label("prd-1"), prd_title, link)
    _check_adf(fields["description"])
    text = fields["summary"]
    assert len(text.encode("utf-16-le")) // 2 <= MAX_SUMMARY_CHARS
    assert len(text.splitlines()) <= 1 and text == text.strip()


def test_the_words_of_an_issue_do_not_depend_on_how_jira_cuts_and_marks_its_document() -> None:
    sent = issue_fields(_story("As a **shopper**, I want to pay", "Given a card"), "PROJ", "Story", "l", "PRD", None)
    ours = words_print(sent["summary"], sent["description"])
    # Jira may hand the document back cut into other nodes, with attributes of its own.
    reshaped = json.loads(json.dumps(sent["description"]))
    first = reshaped["content"][0]
    first["content"] = [{"type": "text", "text": "As a "},
                        {"type": "text", "text": "shopper", "marks": [{"type": "em"}]},
                        {"type": "text", "text": ", I want to pay"}]  # fmt: skip
    first["attrs"] = {"localId": "a1b2"}
    assert words_print(sent["summary"], reshaped) == ours
    # A word changed in the description, or the summary, is a change.
    first["content"][2]["text"] = ", I want to pay later"
    assert words_print(sent["summary"], reshaped) != ours
    assert words_print(sent["summary"] + " now", sent["description"]) != ours
    # Blocks are words apart: merging two paragraphs' texts is a change.
    assert words_print("a", {"type": "doc", "content": [_para("ab")]}) != words_print(
        "a", {"type": "doc", "content": [_para("a"), _para("b")]}
    )
    assert words_print(None, None) == words_print("", None)


def _para(text: str) -> dict[str, Any]:
    return {"type": "paragraph", "content": [{"type": "text", "text": text}]}


def test_an_update_sends_neither_the_project_nor_the_labels() -> None:
    fields = issue_fields(_story("As a clerk, I want refunds"), "PROJ", "Story", "prdtool-x", "PRD", None)
    assert set(edit_fields(fields)) == {"summary", "issuetype", "description"}
    assert sent_print(fields) == sent_print({**fields, "labels": ["other"]})
    assert sent_print(fields) != sent_print({**fields, "summary": "As a clerk, I want refunds now"})
