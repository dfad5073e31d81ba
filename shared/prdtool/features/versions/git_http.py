"""Git's read-only "dumb" HTTP protocol for a history whose objects are loose objects in S3.

A pure function, so any HTTP front can serve it: ``git clone`` asks for ``info/refs``, ``HEAD``
and then each object it lacks, which is an S3 body as stored. No pygit2 here (it runs in a
function without that library).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["GitHttpAnswer", "GitRef", "answer"]

_LOOSE = re.compile(r"objects/[0-9a-f]{2}/[0-9a-f]{38}")
_TEXT = "text/plain"


@dataclass(frozen=True)
class GitRef:
    """A ref and what it points at; for an annotated tag, ``peeled`` is the commit it tags."""

    name: str
    oid: str
    peeled: str | None = None


@dataclass(frozen=True)
class GitHttpAnswer:
    """An HTTP answer: status, content type and body."""

    status: int
    content_type: str
    body: bytes


_NOT_FOUND = GitHttpAnswer(404, _TEXT, b"not found\n")


def info_refs(refs: list[GitRef]) -> bytes:
    """The ``info/refs`` file as ``git update-server-info`` writes it: sorted, peeled tags after."""
    lines = []
    for ref in sorted(refs, key=lambda r: r.name.encode()):
        lines.append(f"{ref.oid}\t{ref.name}\n")
        if ref.peeled is not None:
            lines.append(f"{ref.peeled}\t{ref.name}^{{}}\n")
    return "".join(lines).encode()


def answer(
    path: str, refs: Callable[[], list[GitRef]], head: str | None, fetch_object: Callable[[str], bytes | None]
) -> GitHttpAnswer:
    """Answer a GET of ``path`` (below the repository's root, without the query string).

    ``head`` is the ref HEAD points at (None for an empty repository); ``fetch_object`` returns
    the stored body of a key ``objects/xx/yyyy...``, or None.
    """
    if path == "info/refs":
        # Plain text, not the smart protocol's advertisement, even to ?service=git-upload-pack:
        # that is how git knows to fall back to the dumb protocol.
        return GitHttpAnswer(200, _TEXT, info_refs(refs()))
    if path == "HEAD":
        return GitHttpAnswer(200, _TEXT, f"ref: {head}\n".encode()) if head else _NOT_FOUND
    if path == "objects/info/packs":
        return GitHttpAnswer(200, _TEXT, b"")  # loose objects only
    if _LOOSE.fullmatch(path):
        body = fetch_object(path)
        return _NOT_FOUND if body is None else GitHttpAnswer(200, "application/x-git-loose-object", body)
    return _NOT_FOUND  # objects/info/alternates and http-alternates among them: there are none
