"""The outline of a PRD's markdown: its headings and sections, slugs, and where text for a section
goes. Pure functions, shared by the areas that read a PRD's structure (the AI's prompts and
reviews; the Jira sync's user stories); positions are Python string indices (code points).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Section", "find_section", "insertion_point", "section_body", "sections", "slugify", "title_from_slug"]

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class Section:
    """A heading and everything under it up to the next heading of the same or a higher level.

    ``start`` is the index of the heading line; ``end`` the index of the next such heading, or the
    length of the text. Subsections are inside their parent's range."""

    slug: str
    title: str
    level: int
    start: int
    end: int


def slugify(heading: str) -> str:
    """The heading as a slug: lowercase, every run of other characters than letters, marks and
    digits (any script) made one ``-``, none at either end."""
    # NFC first, so "é" typed as e + combining accent slugs like the precomposed one
    text = unicodedata.normalize("NFC", heading).lower()
    kept = [c if unicodedata.category(c)[0] in "LMN" else " " for c in text]
    return "-".join("".join(kept).split())


def title_from_slug(name: str) -> str:
    """``"technical-requirements"`` as ``"Technical Requirements"``; a name that is not a slug (it
    has spaces or capitals) is already a title and is kept as it is."""
    name = " ".join(name.split())  # one line: it becomes a heading
    if name and name == slugify(name):
        return " ".join(word.capitalize() for word in name.split("-"))
    return name


def sections(markdown: str) -> list[Section]:
    """The ATX headings of the document (``#`` to ``######`` and a space), in order, skipping
    lines inside fenced code blocks."""
    headings: list[tuple[int, int, str]] = []  # (start, level, title)
    fence: str | None = None  # the opening fence while inside a code block
    position = 0
    for line in markdown.split("\n"):
        start, position = position, position + len(line) + 1
        line = line.rstrip("\r")
        opening = _FENCE.match(line)
        if fence is not None:
            # a fence closes with the same character, at least as long, and nothing after it
            closing = opening is not None and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence)
            if closing and not line.strip().lstrip(fence[0]):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        heading = _HEADING.match(line)
        if heading:
            headings.append((start, len(heading.group(1)), heading.group(2).strip()))
    # a section ends at the next heading of the same or a higher level: the headings still open form a
    # stack of strictly increasing levels, and each heading closes those of its level or deeper
    ends = [len(markdown)] * len(headings)
    open_sections: list[int] = []
    for i, (start, level, _) in enumerate(headings):
        while open_sections and headings[open_sections[-1]][1] >= level:
            ends[open_sections.pop()] = start
        open_sections.append(i)
    return [
        Section(slugify(title), title, level, start, end)
        for (start, level, title), end in zip(headings, ends, strict=True)
    ]


def find_section(markdown: str, name: str) -> Section | None:
    """The first section whose heading has the same slug as ``name`` (a slug or a title)."""
    slug = slugify(name)
    if not slug:
        return None
    return next((section for section in sections(markdown) if section.slug == slug), None)


def _heading_end(markdown: str, section: Section) -> int:
    newline = markdown.find("\n", section.start, section.end)
    return section.end if newline < 0 else newline


def section_body(markdown: str, section: Section) -> str:
    """The section's text without its heading line (subsections included), stripped."""
    return markdown[_heading_end(markdown, section) : section.end].strip()


def insertion_point(markdown: str, section_name: str) -> tuple[int, str]:
    """Where text generated for ``section_name`` goes, and what to insert before it.

    In an existing section: right after its last non-blank text (so the blank lines that separate
    it from the next heading stay after the new text), as a new paragraph. Otherwise at the end of
    the document, under a new ``##`` heading."""
    section = find_section(markdown, section_name)
    if section is not None:
        index = section.start + len(markdown[section.start : section.end].rstrip())
        return index, "\n\n"
    trailing = len(markdown) - len(markdown.rstrip("\n"))
    separator = "" if not markdown else "\n" * max(0, 2 - trailing)
    return len(markdown), f"{separator}## {title_from_slug(section_name)}\n\n"
