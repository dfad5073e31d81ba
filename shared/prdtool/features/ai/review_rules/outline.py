"""The outline of a PRD as the review rules see it: the sections every PRD should have
(``EXPECTED_SECTIONS``), which of them a heading counts as (``canonical_sections``, by slug, synonym
or an "and" of two), and which section a position lies in (``Outline``, ``section_at``).

Headings come from ``markdown.sections()``, so the rules and the generator agree on where a section
starts and ends.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

from prdtool.engine.markdown import Section, find_section, sections, slugify
from prdtool.features.ai.findings import Priority

__all__ = [
    "EXPECTED_SECTIONS",
    "ExpectedSection",
    "Outline",
    "canonical_sections",
    "section_at",
    "section_text",
]


@dataclass(frozen=True)
class ExpectedSection:
    """A section every PRD should have. ``synonyms`` are the heading slugs that count as it, and so
    does a heading joining one with "and" ("Security and privacy", "Risks & open questions")."""

    slug: str
    title: str
    synonyms: tuple[str, ...]
    priority: Priority
    why: str
    skeleton: str  # the body of a new section, without its heading


def _slugs(text: str) -> tuple[str, ...]:
    return tuple(text.split())


EXPECTED_SECTIONS: tuple[ExpectedSection, ...] = (
    ExpectedSection(
        "problem",
        "Problem",
        _slugs(
            "problem problems problem-statement the-problem problem-definition background context"
            " motivation pain-points why"
        ),
        "high",
        "Without a stated problem nobody can judge whether the solution is the right one or when it is done. "
        "Say who has the problem, what it costs them today and how you know.",
        "- Who has it: [user segment]\n- What happens today: [current workflow and what it costs, with a number]\n"
        "- Evidence: [tickets, research, usage data]\n- Why now: [what changes if it is solved this quarter]",
    ),
    ExpectedSection(
        "goals",
        "Goals",
        _slugs(
            "goals goal objectives objective success-metrics success-criteria metrics kpis okrs outcomes"
            " goals-and-non-goals"
        ),
        "high",
        "Measurable goals let the team make trade-offs and tell after launch whether the release worked; "
        "non-goals keep the scope from creeping.",
        "- [Outcome], measured by [metric] going from [baseline] to [target] by [date]\n\n"
        "Non-goals:\n\n- [What this release deliberately does not do]",
    ),
    ExpectedSection(
        "user-stories",
        "User Stories",
        _slugs("user-stories user-story stories use-cases use-case user-scenarios scenarios jobs-to-be-done jtbd"),
        "high",
        "User stories tie every requirement to a person and a reason, so the team builds what users need "
        "and can cut scope by value.",
        "- As a [role], I want [capability], so that [benefit].",
    ),
    ExpectedSection(
        "acceptance-criteria",
        "Acceptance Criteria",
        _slugs("acceptance-criteria acceptance-criterion acceptance-tests definition-of-done dod"),
        "high",
        "Acceptance criteria say when a requirement is done; without them engineering, QA and the reviewer "
        "each test against their own idea of done.",
        "- Given [context], when [action], then [observable outcome].\n"
        "- Given [error case], when [action], then [what the user sees].",
    ),
    ExpectedSection(
        "non-functional-requirements",
        "Non-Functional Requirements",
        _slugs(
            "non-functional-requirements nonfunctional-requirements non-functional nfr nfrs performance"
            " performance-requirements quality-attributes quality-requirements"
        ),
        "medium",
        "Latency, availability and capacity targets shape the architecture; stated after the design, "
        "they force rework.",
        "- Performance: p95 latency under [N] ms at [N] requests per second\n- Availability: [99.9]% a month\n"
        "- Capacity: [N] concurrent users, [N] items per workspace\n- Data retention: [N] days",
    ),
    ExpectedSection(
        "accessibility",
        "Accessibility",
        _slugs("accessibility a11y accessibility-requirements inclusive-design"),
        "medium",
        "Accessibility is cheap to build in and expensive to retrofit, and in many markets WCAG 2.2 AA "
        "conformance is a legal requirement.",
        "- Meets WCAG 2.2 level AA.\n- Every action works with the keyboard alone, with a visible focus indicator.\n"
        "- Text contrast at least 4.5:1 (3:1 for large text); targets at least 24 by 24 CSS px.\n"
        "- Screen readers announce names, roles and changes of state (tested with NVDA and VoiceOver).\n"
        "- No information is conveyed by colour alone; content reflows at 320 CSS px wide.",
    ),
    ExpectedSection(
        "security",
        "Security",
        _slugs(
            "security privacy security-requirements security-considerations privacy-considerations"
            " data-protection security-and-privacy privacy-and-security"
        ),
        "high",
        "Saying who may access what, which personal data is stored and how it is protected lets the security "
        "review happen before the design is fixed, not after launch.",
        "- Access: [who may read, edit and delete what; where it is enforced]\n"
        "- Data: [personal data stored, where, for how long]; encrypted in transit (TLS 1.2+) and at rest\n"
        "- Threats: [abuse cases and how each is mitigated]\n- Audit: [actions logged, kept for [N] days]",
    ),
    ExpectedSection(
        "open-questions",
        "Open Questions",
        _slugs(
            "open-questions questions open-issues unresolved-questions outstanding-questions risks-and-open-questions"
        ),
        "low",
        "Undecided points listed with an owner and a date get decided on purpose instead of silently in code.",
        "- [Question] (owner: [name], decide by [date])",
    ),
)

_SYNONYMS: dict[str, str] = {synonym: e.slug for e in EXPECTED_SECTIONS for synonym in e.synonyms}
_NUMBERING = re.compile(r"^(?:\d+-)+")  # "2.1 Goals" slugs as "2-1-goals"


@lru_cache(maxsize=4096)  # a PRD repeats its subsection titles; slugify is the cost here
def canonical_sections(heading: str) -> tuple[str, ...]:
    """The slugs of the ``EXPECTED_SECTIONS`` a heading counts as: "2. Security & Privacy" counts as
    security, "Problem and goals" as both."""
    slug = _NUMBERING.sub("", slugify(re.sub(r"[&/+]", " and ", heading)))
    found = [_SYNONYMS[part] for part in (slug, *slug.split("-and-")) if part in _SYNONYMS]
    return tuple(dict.fromkeys(found))


class Outline:
    """The document's headings, parsed once: which section an index is in, and what it counts as."""

    def __init__(self, text: str) -> None:
        self.sections = sections(text)
        self.starts = [s.start for s in self.sections]
        self._canonical: list[str] = []  # per section: its own expected slug, else its parent's, else ""
        parents: list[int] = []
        for i, section in enumerate(self.sections):
            while parents and self.sections[parents[-1]].level >= section.level:
                parents.pop()
            own = canonical_sections(section.title)
            self._canonical.append(own[0] if own else self._canonical[parents[-1]] if parents else "")
            parents.append(i)

    def _index(self, index: int) -> int:
        # subsections lie inside their parent, so the last heading at or before the index is the innermost
        return bisect_right(self.starts, index) - 1

    def at(self, index: int) -> Section | None:
        i = self._index(index)
        return self.sections[i] if i >= 0 else None

    def slug_at(self, index: int) -> str:
        section = self.at(index)
        return section.slug if section else ""

    def expected_at(self, index: int) -> str:
        i = self._index(index)
        return self._canonical[i] if i >= 0 else ""


def section_at(text: str, index: int) -> str:
    """The slug of the innermost section containing ``index``; "" before the first heading."""
    return Outline(text).slug_at(index)


def section_text(text: str, slug: str) -> str:
    """The first section with that slug, heading and subsections included; "" if there is none."""
    section = find_section(text, slug)
    return text[section.start : section.end] if section else ""
