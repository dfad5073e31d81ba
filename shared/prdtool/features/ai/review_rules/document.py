"""A PRD as the review rules read it (``Document``): its lines, each classified once (blank, code,
heading, list item or text), and its ``prose``, the text with fenced code, inline code and URLs
blanked out. Blanking keeps every character's place, so a position in the prose is the same
position in the text. Also the helpers every rule uses to quote a passage and to key a finding.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from typing import Literal, NamedTuple

from prdtool.features.ai.review_rules.outline import Outline

__all__ = ["WORD", "Document", "Line", "excerpt", "normalized", "short_hash"]

_Kind = Literal["blank", "code", "heading", "item", "text"]
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")  # as markdown.sections() reads fences, so headings agree
_ITEM = re.compile(r"[ \t]*(?:(?:[-*+]|\d{1,9}[.)])(?:[ \t]+|$)(?:\[[ xX]\][ \t]+)?|\|[ \t]*)")
_INLINE_CODE = re.compile(r"(`+)[^`\n]*\1")
_URL = re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.\S+")
WORD = re.compile(r"\w+")


class Line(NamedTuple):  # a tuple: a PRD has thousands of lines and they are made in a hot loop
    start: int
    end: int  # before the line break
    kind: _Kind
    indent: int  # characters of leading whitespace
    content: int  # where the text starts, after indentation and any list marker


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group())


def _fenced(line: str, fence: str | None) -> tuple[bool, str | None]:
    """Whether the line is code, and the fence open after it: the rule of ``markdown.sections()``, so that
    what is a heading there is prose here (a fence closes with its character, at least as long)."""
    opening = _FENCE.match(line)
    if fence is None:
        return (True, opening.group(1)) if opening else (False, None)
    closing = opening is not None and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence)
    return True, None if closing and not line.strip().lstrip(fence[0]) else fence


def _mask(line: str) -> str:
    if "`" in line:
        line = _INLINE_CODE.sub(_blank, line)
    if "://" in line or "www." in line:
        line = _URL.sub(_blank, line)
    return line


class Document:
    """The text with code and URLs blanked (``prose``), its lines and its outline."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.outline = Outline(text)
        headings = set(self.outline.starts)
        self.lines: list[Line] = []
        masked: list[str] = []
        fence: str | None = None  # the opening fence while inside a code block
        position = 0
        for raw in text.split("\n"):
            start, position = position, position + len(raw) + 1
            line = raw.rstrip("\r")
            code, fence = _fenced(line, fence) if fence is not None or "`" in line or "~" in line else (False, None)
            if code:
                masked.append(" " * len(raw))
                self.lines.append(Line(start, start + len(line), "code", 0, start))
            else:
                masked.append(_mask(raw))
                self.lines.append(self._classify(line, start, start in headings))
        self.prose = "\n".join(masked)
        self.starts = [line.start for line in self.lines]

    @staticmethod
    def _classify(line: str, start: int, heading: bool) -> Line:
        indent = len(line) - len(line.lstrip(" \t"))
        end = start + len(line)
        if heading:
            return Line(start, end, "heading", indent, start + indent)
        if not line.strip():
            return Line(start, end, "blank", indent, end)
        item = _ITEM.match(line)
        if item:
            return Line(start, end, "item", indent, start + item.end())
        return Line(start, end, "text", indent, start + indent)

    def line_text(self, line: Line) -> str:
        return self.prose[line.start : line.end]

    def is_row(self, line: Line) -> bool:
        return self.text.startswith("|", line.start + line.indent)

    def lines_matching(self, pattern: re.Pattern[str]) -> dict[int, re.Match[str]]:
        """The first match of ``pattern`` on each line, by line number: one scan of the whole prose
        instead of one regex call per line."""
        found: dict[int, re.Match[str]] = {}
        for match in pattern.finditer(self.prose):
            found.setdefault(bisect_right(self.starts, match.start()) - 1, match)
        return found


def excerpt(text: str, limit: int = 120) -> str:
    """The text on one line, cut at a word to at most ``limit`` characters ("…" included), to quote it."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit - 1)
    return text[: cut if cut > limit // 2 else limit - 1] + "…"


def short_hash(text: str) -> str:
    """12 hex digits standing for the text in a finding's key."""
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def normalized(text: str) -> str:
    """The text's words, lowercased, one space apart: what a key hashes, so punctuation and spacing don't count."""
    return " ".join(WORD.findall(text.lower()))
