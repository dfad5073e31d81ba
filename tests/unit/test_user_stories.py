"""The user stories of a PRD as the Jira sync reads them: which items are stories, their criteria,
their key markers and where those go, their spans, and fingerprints that change only with the story."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prdtool.engine.user_stories import CRITERIA_LABEL, UserStory, key_marker_insert, user_stories

PRD = """\
# PRD: Saved cards

## Problem

Paying takes too long: 38% of shoppers leave at the card form.

- As a problem statement, I want not to be a story.

## User Stories

Stories for the first release; each names its acceptance criteria.

### Checkout

- [ ] As a shopper, I want to pay with a saved card so that I check out in one step [PAY-12]
  - Given a saved card, when I pay, then no card form is shown.
  - [x] Given an expired card, when I pay,
    then I am asked for a new one.
- As a shopper, I want to see the total
  before I pay
  Acceptance criteria:
  1. The total includes tax.
  2. [ ] The total updates within 1 second.

  Note: this depends on the tax service.

```markdown
- As a story in a code block, I want to be ignored
```

### Accounts

1. As an admin, I want to refund an order
2. Given an order, when I refund it, then the money is returned.
3. [PAY-9]
4.
5. As a guest, I want a receipt by email
   **Acceptance criteria**
   - Given an email address
     - And a paid order
   ```text
   - not a criterion
   ```

### Acceptance criteria

- Given any story, when it is synced, then it has an issue.

## Open Questions

- As a question, I want not to be a story either.
"""

TITLES = [
    "As a shopper, I want to pay with a saved card so that I check out in one step",
    "As a shopper, I want to see the total before I pay",
    "As an admin, I want to refund an order",
    "As a guest, I want a receipt by email",
]


def _item(text: str, first: str, last: str) -> str:
    """The text from the line starting ``first`` to the end of the line ending ``last``, after it."""
    start = text.index(first)
    return text[start : text.index(last, start) + len(last)]


def test_the_stories_of_the_user_stories_section_and_its_subsections() -> None:
    stories = user_stories(PRD)
    assert [story.title for story in stories] == TITLES
    assert [story.issue_key for story in stories] == ["PAY-12", None, None, None]


def test_criteria_nested_under_a_label_or_after_the_story_without_markers_or_boxes() -> None:
    assert [story.criteria for story in user_stories(PRD)] == [
        (
            "Given a saved card, when I pay, then no card form is shown.",
            "Given an expired card, when I pay, then I am asked for a new one.",
        ),
        ("The total includes tax.", "The total updates within 1 second."),
        ("Given an order, when I refund it, then the money is returned.",),
        ("Given an email address", "And a paid order"),
    ]


def test_spans_cover_the_whole_item_and_line_end_is_where_a_key_goes() -> None:
    first, second, third, fourth = user_stories(PRD)
    assert PRD[first.start : first.end] == _item(PRD, "- [ ] As a shopper", "for a new one.")
    assert PRD[second.start : second.end] == _item(PRD, "- As a shopper, I want to see", "the tax service.")
    assert PRD[third.start : third.end] == _item(PRD, "1. As an admin", "the money is returned.")
    assert PRD[fourth.start : fourth.end] == _item(PRD, "5. As a guest", "criterion\n   ```")
    assert PRD[first.line_end - 8 : first.line_end + 1] == "[PAY-12]\n"
    assert PRD[second.line_end - 5 : second.line_end + 1] == "total\n"


def test_crlf_line_breaks_read_the_same_and_spans_stay_exact() -> None:
    crlf = PRD.replace("\n", "\r\n")
    stories = user_stories(crlf)
    assert [(s.title, s.criteria, s.issue_key) for s in stories] == [
        (s.title, s.criteria, s.issue_key) for s in user_stories(PRD)
    ]
    assert [s.fingerprint for s in stories] == [s.fingerprint for s in user_stories(PRD)]
    assert crlf[stories[1].start : stories[1].end] == _item(crlf, "- As a shopper, I want to see", "tax service.")
    assert crlf[stories[1].line_end : stories[1].line_end + 2] == "\r\n"
    assert "\r" not in "".join(s.title + "".join(s.criteria) for s in stories)


def test_key_marker_round_trip_keeps_the_title_and_the_other_stories() -> None:
    text = PRD
    for number, story in enumerate(user_stories(PRD)):
        if story.issue_key:
            continue
        current = next(s for s in user_stories(text) if s.title == story.title)
        at, insert = key_marker_insert(current, f"PAY-{100 + number}")
        assert insert == f" [PAY-{100 + number}]"
        text = text[:at] + insert + text[at:]
    after = user_stories(text)
    assert [s.issue_key for s in after] == ["PAY-12", "PAY-101", "PAY-102", "PAY-103"]
    assert [(s.title, s.criteria, s.fingerprint) for s in after] == [
        (s.title, s.criteria, s.fingerprint) for s in user_stories(PRD)
    ]
    assert "  before I pay" in text and "- As a shopper, I want to see the total [PAY-101]\n" in text


def test_a_key_goes_before_trailing_spaces() -> None:
    (story,) = user_stories("## Stories\n\n* As a user, I want X   \n")
    assert key_marker_insert(story, "AB_1-7") == (len("## Stories\n\n* As a user, I want X"), " [AB_1-7]")


def test_key_marker_insert_refuses_a_bad_key_or_a_story_with_one() -> None:
    first, second, *_ = user_stories(PRD)
    with pytest.raises(ValueError, match="not a Jira issue key"):
        key_marker_insert(second, "pay-1")
    with pytest.raises(ValueError, match="already has the key PAY-12"):
        key_marker_insert(first, "PAY-13")


def test_fingerprints_ignore_edits_elsewhere_and_spacing_and_change_with_a_criterion() -> None:
    before = [s.fingerprint for s in user_stories(PRD)]
    assert len(set(before)) == 4 and all(len(f) == 16 for f in before)
    elsewhere = PRD.replace("38% of shoppers", "41% of shoppers").replace("first release", "beta")
    elsewhere = elsewhere.replace("Note: this depends", "Note: this no longer depends")  # a note, no criterion
    assert [s.fingerprint for s in user_stories(elsewhere)] == before
    retitled = [s.fingerprint for s in user_stories(PRD.replace("refund an order", "refund an order today"))]
    assert [f == b for f, b in zip(retitled, before, strict=True)] == [True, True, False, True]
    spaced = PRD.replace("The total includes tax.", "The total   includes tax.  ")
    assert [s.fingerprint for s in user_stories(spaced)] == before
    changed = PRD.replace("within 1 second.", "within 2 seconds.")
    assert [s.fingerprint == f for s, f in zip(user_stories(changed), before, strict=True)] == [
        True,
        False,
        True,
        True,
    ]
    added = PRD.replace("    then I am asked for a new one.\n", "    then I am asked for a new one.\n  - Then X.\n")
    assert user_stories(added)[0].fingerprint != before[0]


def test_a_fingerprint_tells_a_criterion_split_in_two_from_one() -> None:
    one = UserStory("As a user, I want X", ("Given a b",), None, 0, 0, 0)
    two = UserStory("As a user, I want X", ("Given a", "b"), None, 0, 0, 0)
    assert one.fingerprint != two.fingerprint


@pytest.mark.parametrize("heading", ["# User stories", "#### User Story", "## Stories ##", "### USER STORIES"])
def test_any_level_and_spelling_of_the_heading(heading: str) -> None:
    text = f"# Title\n\n{heading}\n\n+ As a user, I want X\n\n# Next\n\n- As a user, I want Y\n"
    assert [s.title for s in user_stories(text)] == ["As a user, I want X"]


def test_no_stories_section_no_stories() -> None:
    assert user_stories("# PRD\n\n## Requirements\n\n- As a user, I want X\n") == []
    assert user_stories("") == []


def test_empty_items_key_only_items_and_criteria_without_a_story_are_skipped() -> None:
    text = "## User stories\n\n- Given no story yet\n-\n- [ ]\n- [PAY-3]\n- As a user, I want X\n"
    assert [(s.title, s.criteria) for s in user_stories(text)] == [("As a user, I want X", ())]


def test_a_paragraph_or_a_heading_ends_a_story() -> None:
    text = "## User stories\n\n- As a user, I want X\n\nGiven a paragraph, not a criterion.\n\n- As a user, I want Y\n"
    stories = user_stories(text)
    assert [(s.title, s.criteria) for s in stories] == [("As a user, I want X", ()), ("As a user, I want Y", ())]
    assert text[stories[0].start : stories[0].end] == "- As a user, I want X"


def test_lazy_continuation_lowercase_when_and_and_after_given() -> None:
    text = (
        "## User stories\n\n- As a user, I want to be told\nwhen my order ships\n"
        "  Given an order\n  And a shipment\n  continued here\n  When it ships\n  And then some\n"
    )
    (story,) = user_stories(text)
    assert story.title == "As a user, I want to be told when my order ships"
    assert story.criteria == ("Given an order", "And a shipment continued here", "When it ships", "And then some")
    assert story.end == len(text) - 1


def test_a_label_with_text_after_its_colon_is_a_criterion() -> None:
    text = "## User stories\n\n1. As a user, I want X\n2. **Acceptance criteria:** the cart is kept 30 days.\n"
    (story,) = user_stories(text)
    assert story.criteria == ("the cart is kept 30 days.",)
    assert story.end == len(text) - 1


def test_given_and_items_after_a_story_are_its_criteria_and_a_lone_and_is_a_story() -> None:
    text = "## User stories\n\n- As a user, I want X\n- Given a\n- And b\n- As a user, I want Y\n- And Z\n"
    assert [(s.title, s.criteria) for s in user_stories(text)] == [
        ("As a user, I want X", ("Given a", "And b")),
        ("As a user, I want Y", ()),
        ("And Z", ()),
    ]


def test_tabs_indent_nested_criteria() -> None:
    text = "## User stories\n\n-\tAs a user, I want X\n\t- Given a tab\n- As a user, I want Y\n"
    assert [s.criteria for s in user_stories(text)] == [("Given a tab",), ()]


def test_a_fence_that_never_closes_hides_the_rest_of_the_document() -> None:
    text = "## User stories\n\n- As a user, I want X\n```\n- As a user, I want Y\n\n## Stories\n\n- As a user, I want Z"
    assert [(s.title, s.end) for s in user_stories(text)] == [("As a user, I want X", text.index("\n```"))]


@pytest.mark.parametrize(
    ("line", "label"),
    [
        ("**Acceptance criteria:** the cart is kept", True),
        ("Acceptance criteria: the cart is kept", True),
        ("**Acceptance criteria**", True),
        ("Acceptance Criteria", True),
        ("Acceptance criteria are listed below", False),
    ],
)
def test_what_counts_as_an_acceptance_criteria_label(line: str, label: bool) -> None:
    assert bool(CRITERIA_LABEL.match(line)) is label


_WORDS = st.text(alphabet="abc XYZ*`[]-12:\t", min_size=0, max_size=30)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_WORDS, st.lists(_WORDS, max_size=3)), min_size=1, max_size=5))
def test_random_stories_read_back_and_take_their_keys(items: list[tuple[str, list[str]]]) -> None:
    text = "## User stories\n\n" + "".join(
        f"- As a {title}\n" + "".join(f"  - {criterion}\n" for criterion in criteria) for title, criteria in items
    )
    stories = user_stories(text)
    for story in stories:
        assert 0 <= story.start < story.line_end <= story.end <= len(text)
        assert "\n" not in story.title and story.title == story.title.strip()
        assert all(criterion and "\n" not in criterion for criterion in story.criteria)
    keyed = text
    for number, story in reversed(list(enumerate(stories))):
        if story.issue_key is None:
            at, insert = key_marker_insert(story, f"KEY-{number}")
            keyed = keyed[:at] + insert + keyed[at:]
    again = user_stories(keyed)
    assert [(s.title, s.fingerprint) for s in again] == [(s.title, s.fingerprint) for s in stories]
    assert all(s.issue_key is not None for s in again)
