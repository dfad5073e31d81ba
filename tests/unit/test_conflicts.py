"""What counts as overlapping: effects carried to the text after both ops."""

from __future__ import annotations

from prdtool.engine.anchors import Span, overlaps, spans_after, text_after, touched
from prdtool.engine.crdt import AppliedOp


def ins(at: int, text: str) -> AppliedOp:
    return AppliedOp("insert", at, len(text), at, len(text), content=text)


def dele(at: int, n: int) -> AppliedOp:
    return AppliedOp("delete", at, n, at, n)


def test_touched_spans_are_inserted_ranges_and_deletion_points() -> None:
    assert touched([ins(5, "ab")]) == [Span(5, 7)]
    assert touched([dele(3, 4)]) == [Span(3, 3)]
    # a replace: the deletion point stretches over what was inserted at it
    assert touched([dele(2, 3), ins(2, "xyz")]) == [Span(2, 5), Span(2, 5)]


def test_inserts_at_one_place_meet_and_edits_elsewhere_do_not() -> None:
    first = spans_after(touched([ins(5, " A")]), [ins(5, " B")])  # the later insert landed before it
    assert overlaps(touched([ins(5, " B")]), first)
    far = spans_after(touched([ins(0, ">")]), [ins(12, "!")])
    assert not overlaps(touched([ins(12, "!")]), far)


def test_an_insert_inside_a_deleted_range_meets_the_deletion() -> None:
    deleted = spans_after(touched([dele(2, 6)]), [])
    inserted_inside = spans_after(touched([ins(2, "kept")]), [])
    assert overlaps(deleted, inserted_inside)


def test_text_after_follows_the_text_itself() -> None:
    # "Hello A world": A's " A" is at [5, 7). B then inserts " B" at 5, before it: " A" moves on.
    assert text_after(Span(5, 7), [ins(5, " B")]) == Span(7, 9)
    assert spans_after([Span(5, 7)], [ins(5, " B")]) == [Span(5, 9)]  # a region grows instead
    assert text_after(Span(5, 7), [ins(6, "x")]) == Span(5, 8)  # inside: it now spans more
    assert text_after(Span(5, 7), [ins(7, "x")]) == Span(5, 7)  # at its end: after it
    assert text_after(Span(5, 9), [dele(3, 4)]) == Span(3, 5)  # its start deleted
    assert text_after(Span(5, 7), [dele(0, 2), ins(0, "abc")]) == Span(6, 8)
