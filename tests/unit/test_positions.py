"""Position conversion with emoji, CJK, combining marks and astral characters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prdtool.positions import PositionError, byte_offset, from_index, index_of_byte, length, to_index

TEXT = "a😀b中文e\u0301 𝄞!"  # emoji (2 UTF-16 units), CJK, e + combining acute, G clef (astral)


def test_lengths_in_each_unit() -> None:
    assert len(TEXT) == 10
    assert length(TEXT, "utf-32") == 10
    assert length(TEXT, "utf-16") == 12
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


@pytest.mark.parametrize("bad", [2, 10, 13, -1])
def test_positions_inside_a_surrogate_pair_or_outside_the_text_are_refused(bad: int) -> None:
    with pytest.raises(PositionError):
        to_index(TEXT, bad, "utf-16")


def test_utf32_positions_are_code_points() -> None:
    assert to_index(TEXT, 10, "utf-32") == 10
    with pytest.raises(PositionError):
        to_index(TEXT, 11, "utf-32")


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
    from prdtool.positions import index_to_line_ch, line_ch_to_index

    text = "# Title 😀\nsecond line\n\nfourth 中文"
    assert line_ch_to_index(text, 0, 10, "utf-16") == 9  # past the emoji (2 units, 1 code point)
    assert line_ch_to_index(text, 1, 0, "utf-16") == 10
    assert line_ch_to_index(text, 3, 8, "utf-16") == text.index("文")
    assert index_to_line_ch(text, text.index("文"), "utf-16") == (3, 8)
    assert index_to_line_ch(text, len(text), "utf-32") == (3, 9)
    for bad in ((4, 0), (1, 12), (0, 9)):  # no such line; past the line's end; inside the emoji
        with pytest.raises(PositionError):
            line_ch_to_index(text, *bad, "utf-16")
