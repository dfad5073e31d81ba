"""The fewest edits between two texts (what a restore submits), with libgit2's line diff as the
versions function uses it: they turn one text into the other, touch only what differs, and stay
few and quick on long texts with repeated lines and scattered changes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from prdtool.engine.crdt import ClientOp
from prdtool.engine.text_changes import lines_of
from prdtool.engine.text_changes import ops_between as _ops_between
from prdtool.features.versions.history import changed_lines

texts = st.text(alphabet=st.sampled_from("ab \n\r😀é"), max_size=60)


def ops_between(old: str, new: str) -> list[ClientOp]:
    return _ops_between(old, new, changed_lines)


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


def test_scattered_changes_in_a_markdown_text_with_many_blank_lines() -> None:
    # Half the lines blank, a change every 7th line: difflib's line matching took 14 s on this.
    old = "".join(f"Requirement {i}: the system shall do {i}.\n\n" for i in range(3000))
    lines = lines_of(old)
    new = "".join(
        f"{line.rstrip()} (revised)\n" if i % 7 == 0 and line.strip() else line for i, line in enumerate(lines)
    )
    ops = ops_between(old, new)
    assert len(ops) == sum(1 for i, line in enumerate(lines) if i % 7 == 0 and line.strip())
    assert all(op.type == "insert" and op.content == " (revised)" for op in ops)
    assert _apply(old, ops) == new


@given(texts)
def test_lines_are_counted_as_git_counts_them(text: str) -> None:
    assert "".join(lines_of(text)) == text and all(line.count("\n") <= 1 for line in lines_of(text))
