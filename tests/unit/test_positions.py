"""Position conversion with emoji, CJK, combining marks and astral characters."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prdtool.engine.positions import (
    PositionEncoding,
    PositionError,
    byte_offset,
    from_index,
    index_of_byte,
    index_to_line_ch,
    length,
    line_ch_to_index,
    to_index,
)

TEXT = "a😀b中文e\u0301 𝄞!"  # emoji (2 UTF-16 units), CJK, e + combining acute, G clef (astral)


def test_lengths_in_each_unit() -> None:
    assert len(TEXT) == 10
    # Clients are sent these in JSON (and in error messages): whole numbers, never 12.0.
    assert json.dumps([length(TEXT, "utf-32"), length(TEXT, "utf-16")]) == "[10, 12]"
    assert len(TEXT.encode()) == 21


@pytest.mark.parametrize(
    ("utf16", "index"),
    [(0, 0), (1, 1), (3, 2), (4, 3), (5, 4), (6, 5), (7, 6), (8, 7), (9, 8), (11, 9), (12, 10)],
)
def test_utf16_positions_map_to_code_points_and_back(utf16: int, index: int) -> None:
    assert to_index(TEXT, utf16, "utf-16") == index
    assert from_index(TEXT, index, "utf-16") == utf16


def test_a_position_between_a_letter_and_its_combining_mark_is_a_boundary() -> None:
    e_acute = TEXT.index("\u0301")
    assert to_index(TEXT, from_index(TEXT, e_acute, "utf-16"), "utf-16") == e_acute


def test_utf16_positions_are_whole_numbers() -> None:
    assert json.dumps([from_index(TEXT, i, "utf-16") for i in (2, 10)]) == "[3, 12]"


# A client reads these in the error its edit gets back.
@pytest.mark.parametrize(
    ("position", "encoding", "reason"),
    [
        (2, "utf-16", "position 2 is inside a character"),  # the two halves of the emoji
        (10, "utf-16", "position 10 is inside a character"),  # ... of the G clef
        (13, "utf-16", "position 13 is past the end (12)"),
        (-1, "utf-16", "position -1 is negative"),
        (11, "utf-32", "position 11 is past the end (10)"),
        (-1, "utf-32", "position -1 is negative"),
    ],
)
def test_positions_inside_a_character_or_outside_the_text_are_refused(
    position: int, encoding: PositionEncoding, reason: str
) -> None:
    with pytest.raises(PositionError) as refused:
        to_index(TEXT, position, encoding)
    assert str(refused.value) == reason


def test_utf32_positions_are_code_points() -> None:
    assert [to_index(TEXT, i, "utf-32") for i in (0, 2, 9, 10)] == [0, 2, 9, 10]
    assert [from_index(TEXT, i, "utf-32") for i in (0, 2, 9, 10)] == [0, 2, 9, 10]  # utf-16: 0, 3, 11, 12


def test_byte_offsets() -> None:
    assert [byte_offset(TEXT, i) for i in range(len(TEXT) + 1)] == [0, 1, 5, 6, 9, 12, 13, 15, 16, 20, 21]
    assert all(index_of_byte(TEXT, byte_offset(TEXT, i)) == i for i in range(len(TEXT) + 1))


@given(st.text(), st.data())
def test_round_trips_on_any_text(text: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(text)))
    for encoding in ("utf-16", "utf-32"):
        assert to_index(text, from_index(text, index, encoding), encoding) == index
    assert index_of_byte(text, byte_offset(text, index)) == index


def test_line_and_ch_positions() -> None:
    text = "# Title 😀\nsecond line\n\nfourth 中文"
    assert line_ch_to_index(text, 0, 10, "utf-16") == 9  # past the emoji (2 units, 1 code point)
    assert line_ch_to_index(text, 1, 0, "utf-16") == 10
    assert line_ch_to_index(text, 3, 8, "utf-16") == text.index("文")
    assert index_to_line_ch(text, text.index("文"), "utf-16") == (3, 8)
    assert index_to_line_ch(text, len(text), "utf-32") == (3, 9)


# Lines of 9, 11, 0 and 12 code points starting at 0, 10, 22 and 23; each emoji is 2 UTF-16 units.
LINES = "# Title 😀\nsecond line\n\nfourth 中文 😀!"


@pytest.mark.parametrize(
    ("line", "ch", "encoding", "index"),
    [
        (0, 9, "utf-32", 9),  # after the emoji, counted as one
        (0, 10, "utf-16", 9),  # ... counted as two
        (1, 11, "utf-16", 21),  # the end of a line, before its newline
        (2, 0, "utf-16", 22),  # an empty line
        (3, 11, "utf-32", 34),  # the "!" after the last emoji
        (3, 12, "utf-16", 34),
        (3, 13, "utf-16", 35),  # the end of the text
    ],
)
def test_editor_positions(line: int, ch: int, encoding: PositionEncoding, index: int) -> None:
    assert line_ch_to_index(LINES, line, ch, encoding) == index
    assert line_ch_to_index(LINES, line, ch, encoding, clamp=True) == index
    assert index_to_line_ch(LINES, index, encoding) == (line, ch)


@pytest.mark.parametrize(
    ("line", "ch", "encoding", "reason"),
    [
        (4, 0, "utf-16", "line 4 is past the last line (3)"),
        (1, 12, "utf-16", "position 12 is past the end (11)"),
        (0, 9, "utf-16", "position 9 is inside a character"),
        (0, 10, "utf-32", "position 10 is past the end (9)"),
    ],
)
def test_editor_positions_outside_the_text_are_refused(
    line: int, ch: int, encoding: PositionEncoding, reason: str
) -> None:
    with pytest.raises(PositionError) as refused:
        line_ch_to_index(LINES, line, ch, encoding)
    assert str(refused.value) == reason


# Every cursor goes through the clamp: it was sent against a text that may have moved on since.
@pytest.mark.parametrize(
    ("line", "ch", "encoding", "index"),
    [
        (0, 9, "utf-16", 8),  # inside the emoji: before it, never between its halves
        (0, 99, "utf-16", 9),  # past its line's end: that end, not the next line
        (0, 99, "utf-32", 9),
        (1, 99, "utf-16", 21),
        (2, 5, "utf-16", 22),
        (3, 11, "utf-16", 33),  # inside the last emoji
        (4, 0, "utf-16", 35),  # past the last line: the end of the text
        (4, 0, "utf-32", 35),
        (99, 3, "utf-16", 35),
    ],
)
def test_a_cursor_is_clamped_into_the_text(line: int, ch: int, encoding: PositionEncoding, index: int) -> None:
    assert line_ch_to_index(LINES, line, ch, encoding, clamp=True) == index


def test_a_cursor_past_a_line_of_astral_characters_is_clamped_in_code_points() -> None:
    assert line_ch_to_index("😀😀\n😀", 0, 99, "utf-32", clamp=True) == 2
    assert line_ch_to_index("😀😀\n😀", 0, 99, "utf-16", clamp=True) == 2
    assert line_ch_to_index("😀😀\n😀😀", 9, 0, "utf-32", clamp=True) == 5
