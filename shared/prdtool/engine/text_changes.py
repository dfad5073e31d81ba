"""The fewest edits that turn one text into another, as ops a server edit can submit.

Restoring a version must look to every client like ordinary typing: the ops touch only what
differs, so cursors and comments anchored in unchanged text stay where they are.

Which lines differ is the caller's line diff (``LineDiff``: the versions function uses libgit2's,
linear in practice where difflib is quadratic on texts with many equal lines, such as the blank
lines of markdown); the characters of each changed block are compared here, when it is short.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from prdtool.engine.crdt import ClientOp

__all__ = ["LineBlock", "LineDiff", "lines_of", "ops_between"]

# One changed block: old lines [a1, a2) became new lines [b1, b2) (0-based, lines end at "\n").
LineBlock = tuple[int, int, int, int]
LineDiff = Callable[[str, str], list[LineBlock]]
# Inside a changed block, characters are compared only when both sides are this short (difflib
# is quadratic in the worst case); a longer rewritten block is replaced whole.
_CHARACTER_DIFF_LIMIT = 2_000


def lines_of(text: str) -> list[str]:
    """The text's lines as git counts them: each ends at a newline (the last may not)."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def ops_between(old: str, new: str, line_diff: LineDiff) -> list[ClientOp]:
    """Ops (positions in code points, applied one after another) that turn ``old`` into ``new``.

    ``line_diff`` finds the changed blocks of lines, then the characters of each are compared.
    The ops are ordered from the end of the text backwards, so each position counts in ``old``
    as it is.
    """
    # What both texts start and end with is left alone before anything is compared: a restore
    # usually undoes changes in one part of a long text, and difflib is slow on long runs of
    # equal (or repeated) lines.
    head = _common_prefix(old, new)
    tail = _common_suffix(old[head:], new[head:])
    old_mid, new_mid = old[head : len(old) - tail], new[head : len(new) - tail]
    changes: list[tuple[int, int, str]] = []  # (start, end) in old, and what goes there
    if not old_mid or not new_mid:  # one side is empty: the change is the whole middle
        if old_mid or new_mid:
            changes.append((head, head + len(old_mid), new_mid))
    else:
        old_starts, new_starts = _starts(lines_of(old_mid)), _starts(lines_of(new_mid))
        for a1, a2, b1, b2 in line_diff(old_mid, new_mid):
            a_start, b_start = old_starts[a1], new_starts[b1]
            changes += _within(old_mid[a_start : old_starts[a2]], new_mid[b_start : new_starts[b2]], head + a_start)
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
