"""The built-in PRD review rules: pure functions over a PRD's markdown that need no model.

``review_text`` answers with ``Finding``s: sections a PRD should have and lacks, user stories
without criteria where the document's own convention has them, vague words with no measure,
placeholders left in the text and requirements that contradict each other. Keys depend only on
what a finding is about (its section's slug and a word, a line's or a story's text), never on
positions, so editing another part of the document neither re-sends nor withdraws a suggestion.

Every rule reads the text with fenced code, inline code and URLs blanked out (same length, so
positions stay valid) and runs in one pass over lines or sentences: a 100,000-character PRD is
reviewed in milliseconds.

Where each part lives:

- ``outline``: the expected sections (``EXPECTED_SECTIONS``, ``ExpectedSection``), which of them a
  heading counts as (``canonical_sections``), and which section a position is in (``section_at``,
  ``section_text``).
- ``document``: the text as the rules read it, lines classified and code and URLs blanked, and the
  helpers that quote a passage and hash a key.
- ``sentences``: the prose split into sentences, for the wording and contradiction rules.
- ``missing_sections``: the expected sections the PRD lacks, each with a skeleton to insert.
- ``stories``: user stories and their acceptance criteria; stories without criteria.
- ``wording``: vague words without a measure (``VAGUE_WORDS``) and placeholders such as "TBD".
- ``contradictions``: requirements that differ only by a negation or by their quantities.

This module runs them all, in that order, and sorts what they find (``review_text``).
"""

from __future__ import annotations

from prdtool.features.ai.findings import Finding, Priority
from prdtool.features.ai.review_rules.contradictions import find_contradictions
from prdtool.features.ai.review_rules.document import Document
from prdtool.features.ai.review_rules.missing_sections import find_missing_sections
from prdtool.features.ai.review_rules.outline import (
    EXPECTED_SECTIONS,
    ExpectedSection,
    canonical_sections,
    section_at,
    section_text,
)
from prdtool.features.ai.review_rules.sentences import sentence_spans
from prdtool.features.ai.review_rules.stories import find_stories, find_stories_without_criteria
from prdtool.features.ai.review_rules.wording import VAGUE_WORDS, find_placeholders, find_vague_wording

__all__ = [
    "EXPECTED_SECTIONS",
    "VAGUE_WORDS",
    "ExpectedSection",
    "canonical_sections",
    "review_text",
    "section_at",
    "section_text",
]

_RANK: dict[Priority, int] = {"high": 0, "medium": 1, "low": 2}


def review_text(text: str) -> list[Finding]:
    """All findings of the built-in rules, sorted by priority (high first) then position."""
    doc = Document(text)
    stories = find_stories(doc)
    spans = sentence_spans(doc)
    found = [
        *find_missing_sections(doc, stories),
        *find_stories_without_criteria(doc, stories),
        *find_vague_wording(doc, spans),
        *find_placeholders(doc),
        *find_contradictions(doc, spans),
    ]
    return sorted(found, key=lambda f: (_RANK[f.priority], f.at, f.key))
