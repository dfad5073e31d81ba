"""The fewest edits between two texts (what a restore submits): they turn one text into the other,
touch only what differs, and stay small on long texts with repeated lines."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from prdtool.engine.crdt import ClientOp
from prdtool.engine.text_changes import ops_between

texts = st.text(alphabet=st.sampled_from("ab \n😀é"), max_size=60)


def _apply(text: str, ops: list[ClientOp]) -> str:
    for op in ops:
        if op.type == "delete":
            text = text[: op.position] + text[op.position + (op.length or 0) :]
        else:
            text = text[: op.position] + (op.content or "") + text[op.position :]
    return text


@given(texts, texts)
def test_the_ops_turn_one_text_into_the_other(old: str, new: str) -> None:
    assert _apply(old, ops_between(old, new)) == new


@given(texts, texts, texts)
def test_what_both_texts_share_around_a_change_is_not_touched(head: str, tail: str, middle: str) -> None:
    old, new = head + tail, head + middle + tail
    ops = ops_between(old, new)
    assert all(op.type == "insert" for op in ops) and sum(len(op.content or "") for op in ops) == len(middle)


def test_equal_texts_need_no_op_and_a_change_in_a_long_text_is_one_op() -> None:
    assert ops_between("same\n" * 3, "same\n" * 3) == []
    lines = "".join(f"Requirement {i}.\n" for i in range(5000))
    changed = lines.replace("Requirement 2500.", "Requirement 2500, revised.")
    assert ops_between(changed, lines) == [ClientOp("delete", changed.index(", revised"), length=len(", revised"))]
    one_line = "x" * 100_000
    assert ops_between(one_line[:50_000] + "y" + one_line[50_000:], one_line) == [ClientOp("delete", 50_000, length=1)]
    repeated = "same line\n" * 5000
    assert len(ops_between(repeated[:20_000] + "new\n" + repeated[20_000:], repeated)) == 1
