"""The one place that converts positions between the units clients count and the units pycrdt counts.

Clients count text like their editors: UTF-16 code units by default (JavaScript), or code points
(``utf-32``) when they ask for it at join, as LSP's position encodings do. Python strings index by
code point, and pycrdt's Text counts UTF-8 bytes. A position that would split a character (the
middle of a surrogate pair) or lies past the end is refused, never guessed.

Most PRDs are ASCII, where all three units are the same: ``str.isascii()`` is O(1) in CPython
(the string knows its kind), so an ASCII text converts in constant time, with no encoding.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "DEFAULT_ENCODING",
    "PositionEncoding",
    "PositionError",
    "byte_offset",
    "from_index",
    "index_of_byte",
    "index_to_line_ch",
    "length",
    "line_ch_to_index",
    "to_index",
]

PositionEncoding = Literal["utf-16", "utf-32"]
DEFAULT_ENCODING: PositionEncoding = "utf-16"


class PositionError(ValueError):
    """A position outside the text, or inside a character."""


def length(text: str, encoding: PositionEncoding) -> int:
    """The text's length in the client's units."""
    if encoding == "utf-32" or text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def to_index(text: str, position: int, encoding: PositionEncoding) -> int:
    """A client position as a code point index into ``text``."""
    if position < 0:
        raise PositionError(f"position {position} is negative")
    if encoding == "utf-32" or text.isascii():
        if position > len(text):
            raise PositionError(f"position {position} is past the end ({len(text)})")
        return position
    units = text.encode("utf-16-le")
    if position * 2 > len(units):
        raise PositionError(f"position {position} is past the end ({len(units) // 2})")
    try:
        return len(units[: position * 2].decode("utf-16-le"))
    except UnicodeDecodeError as exc:  # the cut fell between the two halves of a surrogate pair
        raise PositionError(f"position {position} is inside a character") from exc


def from_index(text: str, index: int, encoding: PositionEncoding) -> int:
    """A code point index into ``text`` as a client position."""
    if encoding == "utf-32" or text.isascii():
        return index
    return len(text[:index].encode("utf-16-le")) // 2


def byte_offset(text: str, index: int) -> int:
    """A code point index as pycrdt's UTF-8 byte offset."""
    if text.isascii():
        return index
    return len(text[:index].encode("utf-8"))


def index_of_byte(text: str, offset: int) -> int:
    """pycrdt's UTF-8 byte offset as a code point index."""
    if text.isascii():
        return min(offset, len(text))
    return len(text.encode("utf-8")[:offset].decode("utf-8"))


def line_ch_to_index(text: str, line: int, ch: int, encoding: PositionEncoding, clamp: bool = False) -> int:
    """An editor position (``line`` counted by ``\n``, ``ch`` in the client's units) as a code
    point index. Past the last line or the end of its line is refused, or with ``clamp`` (a cursor
    sent against a text that has moved on since) brought back to the nearest end."""
    lines = text.split("\n")
    if line >= len(lines):
        if not clamp:
            raise PositionError(f"line {line} is past the last line ({len(lines) - 1})")
        line, ch = len(lines) - 1, length(lines[-1], encoding)
    start = sum(len(lines[i]) + 1 for i in range(line))
    if clamp:
        ch = min(ch, length(lines[line], encoding))
        try:
            return start + to_index(lines[line], ch, encoding)
        except PositionError:  # inside a surrogate pair: step back to its start
            return start + to_index(lines[line], ch - 1, encoding)
    return start + to_index(lines[line], ch, encoding)


def index_to_line_ch(text: str, index: int, encoding: PositionEncoding) -> tuple[int, int]:
    """A code point index as an editor position ``(line, ch)``."""
    before = text[:index]
    line = before.count("\n")
    line_start = before.rfind("\n") + 1
    return line, from_index(text[line_start:], index - line_start, encoding)
