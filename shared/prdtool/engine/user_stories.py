"""The user stories of a PRD's markdown, as the Jira sync reads them: the top-level list items of its
"User stories" section(s), each with its acceptance criteria, the Jira key written next to it, where
it is, and a fingerprint to tell whether it changed since the last sync. Pure functions; positions
are Python string indices (code points), as in ``markdown``.

What counts, in the words of CommonMark (which this follows closely, not completely):

- The sections are those whose heading slugs to one of ``STORY_SECTIONS``, at any level, with their
  subsections ("### Checkout" under "## User Stories"), except a subsection about acceptance criteria.
- A story is a top-level list item there (``-``, ``*``, ``+``, ``1.``, ``1)``); a task box is not
  part of its text. Its title is its first paragraph (a wrapped story is joined on one line); a key
  marker, ``[PROJ-12]``, ends its first line. An item with no text but a key marker is no story.
- Its criteria are the list items nested under it, at any depth (flattened, in order), the
  Given/When/Then lines written under it (And/But after one), and top-level items right after it that
  start so or are an "Acceptance criteria:" label (they cannot be stories). The label itself is
  no criterion; text after its colon is one. Other paragraphs nested in a story (notes) are in its
  span but not in its criteria.
- Lines in fenced code blocks are never stories nor criteria.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from prdtool.engine.markdown import sections

__all__ = [
    "CRITERIA_LABEL",
    "ISSUE_KEY",
    "STORY_SECTIONS",
    "UserStory",
    "key_marker_insert",
    "user_stories",
]

STORY_SECTIONS = frozenset({"user-stories", "user-story", "stories"})
"""The slugs of the headings whose list items are user stories."""
_NOT_STORIES = frozenset({"acceptance-criteria"})  # a subsection of the stories whose items are not stories

ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]+-[0-9]+")
"""A Jira issue key: the project's key, a dash, the issue's number."""

CRITERIA_LABEL = re.compile(
    r"[*_]{0,2}acceptance criteria(?:[*_]{0,2}[ \t]*:[*_]{0,2}|[*_]{0,2}[ \t]*$)[ \t]*", re.IGNORECASE
)
"""An "Acceptance criteria" label at the start of a line's text (after any list marker): with a colon
("**Acceptance criteria:** ...", "Acceptance criteria: ...") or alone on its line
("**Acceptance criteria**"). The review rules read it the same way."""

_ITEM = re.compile(r"[ \t]*([-*+]|\d{1,9}[.)])(?:[ \t]+|$)")
_TASK_BOX = re.compile(r"\[[ xX]\](?:[ \t]+|$)")
_KEY_MARKER = re.compile(rf"[ \t]*\[({ISSUE_KEY.pattern})\][ \t]*$")
_THEMATIC_BREAK = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})")
_GIVEN = re.compile(r"[*_]{0,2}(?:Given|When|Then)\b")  # capitalized: "when my order ships" wraps a story
_AND = re.compile(r"[*_]{0,2}(?:And|But)\b")  # a criterion only after one
_TAB = 4
_CODE_INDENT = 4  # a line indented this much more than its container is code, not a list item


@dataclass(frozen=True)
class UserStory:
    """A story: its ``title`` (one line, without list marker, task box or key marker), its
    ``criteria``, the Jira key written next to it, the span of its whole item (``start`` at its list
    marker, ``end`` after the last character of its last line, nested block included) and
    ``line_end``, the end of its first line's text: where a key marker goes."""

    title: str
    criteria: tuple[str, ...]
    issue_key: str | None
    start: int
    end: int
    line_end: int

    @property
    def fingerprint(self) -> str:
        """16 hex digits standing for the title and criteria, whitespace normalized: the same for
        a story edited only elsewhere, or given its key marker; another one when a word changes."""
        parts = (_normalized(self.title), *(_normalized(criterion) for criterion in self.criteria))
        return hashlib.blake2b("\x1e".join(parts).encode(), digest_size=8).hexdigest()


def _normalized(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def key_marker_insert(story: UserStory, key: str) -> tuple[int, str]:
    """Where and what to insert to write ``key`` next to ``story``: at the end of its first line."""
    if not ISSUE_KEY.fullmatch(key):
        raise ValueError(f"{key!r} is not a Jira issue key")
    if story.issue_key is not None:
        raise ValueError(f"the story already has the key {story.issue_key}")
    return story.line_end, f" [{key}]"


def user_stories(markdown: str) -> list[UserStory]:
    """The user stories of the document, in order."""
    found: list[UserStory] = []
    for start, stop in _story_segments(markdown):
        reader = _Reader(found)
        for line in _lines(markdown, start, stop):
            reader.read(line)
        reader.close()
    return found


def _story_segments(markdown: str) -> list[tuple[int, int]]:
    """The text under each heading (up to the next heading of any level) that is in a stories section."""
    outline = sections(markdown)
    segments = []
    open_sections: list[tuple[int, bool]] = []  # (end, stories) of the sections around the heading
    for i, section in enumerate(outline):
        while open_sections and open_sections[-1][0] <= section.start:
            open_sections.pop()
        if section.slug in STORY_SECTIONS or section.slug in _NOT_STORIES:
            stories = section.slug in STORY_SECTIONS
        else:
            stories = bool(open_sections) and open_sections[-1][1]
        open_sections.append((section.end, stories))
        if stories:
            newline = markdown.find("\n", section.start)
            stop = outline[i + 1].start if i + 1 < len(outline) else len(markdown)
            segments.append((stop if newline < 0 else min(newline + 1, stop), stop))
    return segments


class _Line(NamedTuple):
    start: int
    end: int  # before the line break ("\r\n" or "\n")
    text: str
    column: int  # of its first character other than a space or tab, tabs to 4
    blank: bool


def _column(text: str) -> int:
    return len(text.expandtabs(_TAB))


def _lines(markdown: str, start: int, stop: int) -> Iterator[_Line]:
    position = start
    for raw in markdown[start:stop].split("\n"):
        text = raw[:-1] if raw.endswith("\r") else raw
        stripped = text.lstrip(" \t")
        yield _Line(position, position + len(text), text, _column(text[: len(text) - len(stripped)]), not stripped)
        position += len(raw) + 1


@dataclass
class _Item:
    """A top-level item being read."""

    start: int
    end: int
    content: int  # the column its text starts at: lines indented as much are inside it
    story: bool  # False for an item that is read only to skip it
    line_end: int = 0
    key: str | None = None
    title: list[str] = field(default_factory=list)
    criteria: list[list[str]] = field(default_factory=list)
    paragraph: list[str] | None = None  # what a continuation line continues: the title, a criterion, a note
    in_criterion: bool = False

    def criterion(self, text: str) -> None:
        self.paragraph, self.in_criterion = [text], True
        self.criteria.append(self.paragraph)

    def label_or_criterion(self, text: str) -> None:
        label = CRITERIA_LABEL.match(text)
        rest = text[label.end() :].strip() if label else text
        if rest:
            self.criterion(rest)
        else:
            self.end_paragraph()

    def end_paragraph(self) -> None:
        self.paragraph, self.in_criterion = None, False

    def text_line(self, text: str, after_blank: bool) -> None:
        """A line of text inside the item (nested, or continuing its paragraph)."""
        if CRITERIA_LABEL.match(text) or _GIVEN.match(text) or (self.in_criterion and _AND.match(text)):
            self.label_or_criterion(text)
        elif self.paragraph is not None and not after_blank:
            self.paragraph.append(text)
        else:
            self.paragraph, self.in_criterion = [], False  # a note: in the item, not in its criteria

    def value(self) -> UserStory:
        criteria = (" ".join(lines) for lines in self.criteria)
        title = " ".join(self.title)
        return UserStory(title, tuple(c for c in criteria if c), self.key, self.start, self.end, self.line_end)


def _item_text(line: _Line, marker: re.Match[str]) -> str:
    text = line.text[marker.end() :]
    box = _TASK_BOX.match(text)
    return (text[box.end() :] if box else text).strip()


def _is_criteria(text: str) -> bool:
    return bool(_GIVEN.match(text) or CRITERIA_LABEL.match(text))


class _Reader:
    """Reads the lines of one segment, appending the stories it finishes to ``found``."""

    def __init__(self, found: list[UserStory]) -> None:
        self.found = found
        self.item: _Item | None = None
        self.fence: tuple[str, bool] | None = None  # the open fence, and whether it is inside the item
        self.after_blank = False

    def read(self, line: _Line) -> None:
        if self.fence is not None:
            self._fenced(line)
        elif line.blank:
            self.after_blank = True
        else:
            self._line(line)
            self.after_blank = False

    def close(self) -> None:
        if self.item is not None and self.item.story:
            self.found.append(self.item.value())
        self.item = None

    def _fenced(self, line: _Line) -> None:
        fence, inside = self.fence or ("", False)
        if inside and self.item is not None and not line.blank:
            self.item.end = line.end
        closing = line.text.strip()
        # a fence closes with its own character, at least as many of them, and nothing else
        if closing and closing == fence[0] * len(closing) and len(closing) >= len(fence):
            self.fence = None

    def _line(self, line: _Line) -> None:
        item = self.item
        inside = item is not None and line.column >= item.content
        fence = _FENCE.match(line.text)
        if fence and (inside or line.column < _CODE_INDENT):
            self._open_fence(fence.group(1), inside)
            if item is not None and inside:
                item.end = line.end
            return
        rule = bool(_THEMATIC_BREAK.match(line.text))
        marker = None if rule else _ITEM.match(line.text)
        if item is not None and inside:
            item.end = line.end
            if marker:
                item.label_or_criterion(_item_text(line, marker))
            elif rule:
                item.end_paragraph()
            else:
                item.text_line(line.text.strip(), self.after_blank)
        elif marker and line.column < _CODE_INDENT:
            self._top_item(line, marker)
        elif item is not None and item.paragraph is not None and not (self.after_blank or marker or rule):
            item.end = line.end  # a lazy continuation line: not indented, yet in the item's paragraph
            item.text_line(line.text.strip(), after_blank=False)
        else:
            self.close()  # a paragraph, a break or indented code after the list ends it

    def _open_fence(self, fence: str, inside: bool) -> None:
        if not inside:
            self.close()
        elif self.item is not None:
            self.item.end_paragraph()
        self.fence = (fence, inside)

    def _top_item(self, line: _Line, marker: re.Match[str]) -> None:
        text = _item_text(line, marker)
        item = self.item
        if item is not None and item.story and (_is_criteria(text) or (item.in_criterion and _AND.match(text))):
            item.end = line.end
            item.label_or_criterion(text)
            return
        self.close()
        content, marker_end = _column(line.text[: marker.end()]), _column(line.text[: marker.end(1)])
        if not line.text[marker.end() :].strip() or content - marker_end > _CODE_INDENT:
            content = marker_end + 1  # an empty first line, or code in the item: its text is one column on
        start = line.start + len(line.text) - len(line.text.lstrip(" \t"))
        self.item = item = _Item(start, line.end, content, story=False)
        key = _KEY_MARKER.search(text)
        title = (text[: key.start()] if key else text).strip()
        if not title or _is_criteria(title):
            return  # an empty item, a key alone, or criteria with no story before them: no story
        item.story, item.key, item.title = True, key.group(1) if key else None, [title]
        item.paragraph = item.title
        item.line_end = line.start + len(line.text.rstrip(" \t"))
