"""The missing-section rule: each of the ``EXPECTED_SECTIONS`` a PRD lacks, with a skeleton to insert
where it belongs (before the next expected section present, else at the end). A document of fewer
than 20 words is a blank new PRD and is not told yet. Acceptance criteria written without a section
of their own (under the stories, or after an "Acceptance criteria:" label) count as that section.
"""

from __future__ import annotations

from itertools import islice

from prdtool.engine.markdown import Section
from prdtool.features.ai.findings import Finding
from prdtool.features.ai.review_rules.document import WORD, Document
from prdtool.features.ai.review_rules.outline import EXPECTED_SECTIONS, ExpectedSection, Outline, canonical_sections
from prdtool.features.ai.review_rules.stories import CRITERIA, CRITERIA_LABEL, Story

__all__ = ["find_missing_sections"]

_MIN_WORDS = 20  # a document with fewer words is a blank new PRD: it is not told what it lacks yet


def _top_level(outline: Outline) -> int:
    """The level of the document's top-level sections: the highest one below a single leading # title."""
    levels = [s.level for s in outline.sections]
    if levels and levels[0] == 1 and levels.count(1) == 1:
        levels = levels[1:]
    return min(levels, default=2)


def _criteria_elsewhere(doc: Document, stories: list[Story]) -> bool:
    """Acceptance criteria written without a section of their own: a label line, or Given/When/Then
    under a story or in the user stories section."""
    if any(story.has_criteria for story in stories):
        return True
    for line in doc.lines:
        if line.kind in ("item", "text"):
            if CRITERIA_LABEL.match(doc.prose, line.start, line.end):
                return True
            if doc.outline.expected_at(line.start) == "user-stories" and CRITERIA.match(doc.prose, line.start):
                return True
    return False


def _new_section(doc: Document, expected: ExpectedSection, at: int, level: int) -> str:
    """The section as a block of its own at ``at``: a blank line before it and after it."""
    before = doc.text[max(0, at - 2) : at]
    lead = "" if not before or before == "\n\n" else "\n" if before.endswith("\n") else "\n\n"
    tail = "\n\n" if at < len(doc.text) else "\n"
    return f"{lead}{'#' * level} {expected.title}\n\n{expected.skeleton}{tail}"


def find_missing_sections(doc: Document, stories: list[Story]) -> list[Finding]:
    """One finding per expected section the document lacks, in the order of ``EXPECTED_SECTIONS``."""
    if len(list(islice(WORD.finditer(doc.prose), _MIN_WORDS))) < _MIN_WORDS:
        return []
    present: dict[str, Section] = {}
    for section in doc.outline.sections:
        for slug in canonical_sections(section.title):
            present.setdefault(slug, section)
    covered = set(present)
    if "acceptance-criteria" not in covered and _criteria_elsewhere(doc, stories):
        covered.add("acceptance-criteria")
    found = []
    for i, expected in enumerate(EXPECTED_SECTIONS):
        if expected.slug in covered:
            continue
        # before the first expected section that follows it, as a sibling of that one; else at the end
        after = next((present[e.slug] for e in EXPECTED_SECTIONS[i + 1 :] if e.slug in present), None)
        at, level = (after.start, after.level) if after else (len(doc.text), _top_level(doc.outline))
        article = "an" if expected.title[0] in "AEIO" else "a"
        found.append(
            Finding(
                key=f"missing-section:{expected.slug}:",
                rule="missing-section",
                type="missing_section",
                section=expected.slug,
                title=f"Add {article} {expected.title} section",
                description=expected.why,
                priority=expected.priority,
                suggested_content=_new_section(doc, expected, at, level),
                at=at,
            )
        )
    return found
