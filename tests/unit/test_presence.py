"""Cursor anchoring and colors."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from prdtool.engine.anchors import transform
from prdtool.engine.crdt import ClientOp, Document
from prdtool.engine.rooms import PALETTE, pick_color


def test_colors_are_stable_and_distinct_while_the_palette_lasts() -> None:
    assert pick_color("prd_1", "user_1", []) == pick_color("prd_1", "user_1", [])
    taken: list[str] = []
    for n in range(len(PALETTE)):
        taken.append(pick_color("prd_1", f"user_{n}", taken))
    assert sorted(taken) == sorted(PALETTE)
    assert pick_color("prd_1", "user_x", taken) in PALETTE  # repeats once all are used


@settings(max_examples=150, deadline=None)
@given(
    start=st.text(min_size=1, max_size=30),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["insert", "delete"]),
            st.integers(0, 60),
            st.integers(1, 5),
            st.text(min_size=1, max_size=3),
        ),
        max_size=8,
    ),
    data=st.data(),
)
def test_a_cursor_stays_inside_the_text_next_to_its_character(start: str, edits: list, data: st.DataObject) -> None:
    doc = Document.with_content(start, 1)
    cursor = data.draw(st.integers(0, len(start)))
    neighbour = start[cursor] if cursor < len(start) else None  # the character it sticks to
    for kind, pos, length, content in edits:
        text = doc.content
        pos = min(pos, len(text))
        if kind == "insert":
            op = ClientOp("insert", pos, content=content)
        elif len(text) > pos:
            op = ClientOp("delete", pos, length=min(length, len(text) - pos))
        else:
            continue
        editor = Document(2)
        editor.apply_update(doc.state())
        applied = doc.apply(editor.edit([op], "utf-32").update)
        was_deleted = kind == "delete" and neighbour is not None and pos <= cursor < pos + op.length
        cursor = transform(cursor, applied)
        assert 0 <= cursor <= len(doc.content)
        if was_deleted:
            neighbour = doc.content[cursor] if cursor < len(doc.content) else None
        elif neighbour is not None:
            assert doc.content[cursor] == neighbour
