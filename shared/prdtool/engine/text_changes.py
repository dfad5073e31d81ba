"""The fewest edits that turn one text into another, as ops a server edit can submit.

Restoring a version must look to every client like ordinary typing: the ops touch only what
differs, so concurrent edits elsewhere in the text survive, and cursors and comments anchored in
unchanged text stay where they are.
"""

from __future__ import annotations

import difflib

from prdtool.engine.crdt import ClientOp

__all__ = ["ops_between"]

# Inside a changed block of lines, characters are compared only when both sides are this short:
# difflib is quadratic in the worst case, and a long rewritten block is replaced whole.
_CHARACTER_DIFF_LIMIT = 20_000


def ops_between(old: str, new: str) -> list[ClientOp]:
    """Ops (positions in code points, applied one after another) that turn ``old`` into ``new``.

    Lines are compared first, then the characters of each changed block of lines. The ops are
    ordered from the end of the text backwards, so each position counts in ``old`` as it is.
    """
    # What both texts start and end with is left alone before anything is compared: a restore
    # usually undoes changes in one part of a long text, and difflib is slow on long runs of
    # equal (or repeated) lines.
    head = _common_prefix(old, new)
    tail = _common_suffix(old[head:], new[head:])
    old_mid, new_mid = old[head : len(old) - tail], new[head : len(new) - tail]
    changes: list[tuple[int, int, str]] = []  # (start, end) in old, and what goes there
    old_lines, new_lines = old_mid.splitlines(keepends=True), new_mid.splitlines(keepends=True)
    old_starts, new_starts = _starts(old_lines), _starts(new_lines)
    lines = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, a1, a2, b1, b2 in lines.get_opcodes():
        if tag == "equal":
            continue
        a_start, a_end = old_starts[a1], old_starts[a2]
        b_start, b_end = new_starts[b1], new_starts[b2]
        changes += _within(old_mid[a_start:a_end], new_mid[b_start:b_end], head + a_start)
    ops: list[ClientOp] = []
    for start, end, put in sorted(changes, reverse=True):
        if end > start:
            ops.append(ClientOp("delete", start, length=end - start))
        if put:
            ops.append(ClientOp("insert", start, content=put))
    return ops


def _within(old: str, new: str, offset: int) -> list[tuple[int, int, str]]:
    """The changes inside one changed block, by characters when the block is small enough."""
    head = _common_prefix(old, new)
    tail = _common_suffix(old[head:], new[head:])
    offset += head
    old, new = old[head : len(old) - tail], new[head : len(new) - tail]
    if len(old) > _CHARACTER_DIFF_LIMIT or len(new) > _CHARACTER_DIFF_LIMIT or not old or not new:
        return [(offset, offset + len(old), new)] if old or new else []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return [(offset + a1, offset + a2, new[b1:b2]) for tag, a1, a2, b1, b2 in matcher.get_opcodes() if tag != "equal"]


def _common_prefix(a: str, b: str) -> int:
    """How many characters ``a`` and ``b`` start with in common (by halving: C-speed compares)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _common_suffix(a: str, b: str) -> int:
    """How many characters ``a`` and ``b`` end with in common."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[len(a) - mid :] == b[len(b) - mid :]:
            low = mid
        else:
            high = mid - 1
    return low


def _starts(lines: list[str]) -> list[int]:
    """Where each line starts, and one past the end."""
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    return starts
