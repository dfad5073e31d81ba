"""User stories ("As a ..., I want ...") and their acceptance criteria: where each story ends and
whether Given/When/Then criteria follow it (``find_stories``), and the story-criteria rule
(``find_stories_without_criteria``), which asks for criteria only where the document's own
convention puts them under stories.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prdtool.engine.markdown import slugify
from prdtool.engine.user_stories import CRITERIA_LABEL as LABEL
from prdtool.features.ai.findings import Finding
from prdtool.features.ai.review_rules.document import WORD, Document, Line, excerpt

__all__ = ["CRITERIA", "CRITERIA_LABEL", "Story", "find_stories", "find_stories_without_criteria"]

CRITERIA = re.compile(
    r"[ \t>]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?(?:\[[ xX]\][ \t]+)?[*_]{0,2}(?:given|when|then|acceptance criteria)\b",
    re.IGNORECASE,
)
# the label as the Jira sync reads it (engine.user_stories), at the start of a line after any quote or list marker
CRITERIA_LABEL = re.compile(r"[ \t>]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?" + LABEL.pattern, re.IGNORECASE)
_STORY = re.compile(
    r"[ \t>]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?(?:\[[ xX]\][ \t]+)?"  # list marker, task box
    r"(?:[^\n]{0,40}?[:.)\]\u2013\u2014-][*_]*[ \t]+)?"  # a label: "US-1:", "**Story 3.**"
    r"[*_]{0,2}(as an?[ \t]+[^\n,]{1,60}?,?[ \t]+[*_]{0,2}i[ \t]+(?:want|need|would like|can|should|expect)\b)",
    re.IGNORECASE,
)
_AS_A = re.compile(r"\b(?=[Aa])(?i:as an?)\s")
_STORY_WORDS = 12  # enough of a story to tell it from its neighbours, which often start alike


@dataclass(frozen=True)
class Story:
    """A user story: where its "As a" starts, its first line, and where its criteria would go."""

    start: int  # of "As a"
    line: Line
    at: int  # the end of the story's item: its text, nested block and criteria
    has_criteria: bool


def _is_criteria(doc: Document, line: Line) -> bool:
    return bool(CRITERIA.match(doc.prose, line.start) or CRITERIA_LABEL.match(doc.prose, line.start, line.end))


def _item_extent(doc: Document, lines: list[Line], i: int, is_story: list[bool]) -> tuple[int, bool]:
    """A list item story owns what is indented under it (and a lazy continuation line), then any
    Given/When/Then items right after it (no blank line between) at its own level: its last line, and
    whether it has criteria."""
    story, last, criteria = lines[i], i, False
    for j in range(i + 1, len(lines)):
        line = lines[j]
        if line.kind == "blank":
            continue
        if line.kind == "heading" or is_story[j]:
            break
        adjacent = last == j - 1
        nested = line.indent > story.indent or (line.kind == "text" and adjacent)
        own_criteria = _is_criteria(doc, line)
        if not nested and not (own_criteria and adjacent and line.kind == "item" and line.indent == story.indent):
            break
        last, criteria = j, criteria or own_criteria
    return last, criteria


def _paragraph_extent(doc: Document, lines: list[Line], i: int, is_story: list[bool]) -> tuple[int, bool]:
    """A paragraph story ends with its paragraph; its criteria are anywhere up to the next story or heading."""
    last, criteria = i, False
    for j in range(i + 1, len(lines)):
        line = lines[j]
        if line.kind == "heading" or is_story[j]:
            break
        if _is_criteria(doc, line):
            criteria = True
        elif line.kind == "text" and last == j - 1:
            last = j
    return last, criteria


def find_stories(doc: Document) -> list[Story]:
    """The user stories in list items and paragraphs, in order, each with its extent and criteria."""
    lines = doc.lines
    candidates = doc.lines_matching(_AS_A)  # the full pattern, with its label, costs too much on every line
    matches = {
        i: match
        for i in sorted(candidates)
        if lines[i].kind in ("item", "text") and (match := _STORY.match(doc.prose, lines[i].start, lines[i].end))
    }
    is_story = [i in matches for i in range(len(lines))]
    found = []
    for i, match in matches.items():
        extent = _item_extent if lines[i].kind == "item" else _paragraph_extent
        last, criteria = extent(doc, lines, i, is_story)
        found.append(Story(match.start(1), lines[i], lines[last].end, criteria))
    return found


def _criteria_block(doc: Document, story: Story) -> str:
    if story.line.kind == "item":
        # nested under the item: indented to its text, keeping its tabs
        indent = re.sub(r"\S", " ", doc.text[story.line.start : story.line.content])
        lead = "\n"
    else:
        indent, lead = doc.text[story.line.start : story.line.start + story.line.indent], "\n\n"
    return (
        f"{lead}{indent}- Given [context], when [action], then [observable outcome]."
        f"\n{indent}- Given [error case], when [action], then [what the user sees]."
    )


def find_stories_without_criteria(doc: Document, stories: list[Story]) -> list[Finding]:
    """A finding per story without criteria, but only if some story of the document has them."""
    if not any(story.has_criteria for story in stories):
        return []  # the document keeps criteria apart from stories, if anywhere: the missing section covers it
    found: dict[str, Finding] = {}
    for story in stories:
        if story.has_criteria:
            continue
        section = doc.outline.slug_at(story.start)
        words = WORD.findall(doc.prose[story.start : story.line.end].lower())[:_STORY_WORDS]
        key = f"story-criteria:{section}:{slugify(' '.join(words))}"
        text = doc.text[story.start : story.line.end].rstrip()
        found.setdefault(
            key,
            Finding(
                key=key,
                rule="story-criteria",
                type="improvement",
                section=section,
                title="Add acceptance criteria to this story",
                description=f'"{excerpt(text)}" has no acceptance criteria, unlike other stories in this PRD: '
                "add Given/When/Then criteria so it can be tested.",
                priority="medium",
                suggested_content=_criteria_block(doc, story),
                at=story.at,
                subject=(story.start, story.start + len(text)),
            ),
        )
    return list(found.values())
