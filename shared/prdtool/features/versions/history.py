"""A PRD's version history: a git repository whose objects live in S3, with no local disk.

Each object is one S3 key, ``{prefix}objects/{oid[:2]}/{oid[2:]}``, whose body is git's loose
object format (``zlib(b"<type> <size>\\0" + data)``), so git's dumb HTTP protocol can serve the
bodies as they are (``git_http``). Refs are not kept here: the caller stores them and passes ids.

The only module that imports pygit2 (libgit2 writes and parses the objects and makes the diffs).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any

import pygit2
from botocore.exceptions import ClientError
from pygit2.enums import DiffOption, FileMode, ObjectType

__all__ = ["History", "Signature"]

_OID = re.compile(r"[0-9a-f]{40}")
_TYPE_NAMES = {ObjectType.COMMIT: b"commit", ObjectType.TREE: b"tree", ObjectType.BLOB: b"blob", ObjectType.TAG: b"tag"}
_TYPES = {name: int(kind) for kind, name in _TYPE_NAMES.items()}
# A missing key; without s3:ListBucket, S3 answers 403 AccessDenied instead, which is raised.
_MISSING = {"NoSuchKey", "404"}


@dataclass(frozen=True)
class Signature:
    """Who did something, and when (unix seconds, minutes east of UTC)."""

    name: str
    email: str
    time_s: int
    offset_min: int = 0


def loose_object(kind: int, data: bytes) -> bytes:
    """The loose-object body git stores for an object of that type (an ``ObjectType``)."""
    return zlib.compress(_TYPE_NAMES[ObjectType(kind)] + b" %d\0" % len(data) + data)


def parse_loose_object(body: bytes) -> tuple[int, bytes]:
    """The type and data of a loose-object body; ValueError if it is not one."""
    raw = zlib.decompress(body)
    header, sep, data = raw.partition(b"\0")
    name, _, size = header.partition(b" ")
    if not sep or name not in _TYPES or not size.isdigit() or int(size) != len(data):
        raise ValueError("not a git loose object")
    return _TYPES[name], data


class _S3Odb(pygit2.OdbBackend):
    """An object database backend on S3, for one repository's prefix.

    pygit2 calls the ``*_cb`` methods (its names): ``read_cb(oid) -> (type, data)``,
    ``read_prefix_cb(hex) -> (type, data, oid)``, ``read_header_cb(oid) -> (type, size)``,
    ``exists_cb(oid) -> bool``, ``write_cb(oid, data, type)`` and ``refresh_cb()``. A missing one
    fails the call that needs it with an AttributeError: every write and every miss calls
    ``refresh_cb``, and lookups go through ``read_prefix_cb``. A KeyError means "not found" (libgit2
    then tries again after a refresh); any other exception reaches the caller as raised.
    """

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        super().__init__()
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix
        # Objects never change, so what was read or written once is kept while the instance is
        # warm (``trim`` bounds it).
        self._cache: dict[str, tuple[int, bytes]] = {}
        self.cached_bytes = 0

    def _key(self, oid: str) -> str:
        return f"{self._prefix}objects/{oid[:2]}/{oid[2:]}"

    def read_cb(self, oid: pygit2.Oid) -> tuple[int, bytes]:
        hex_id = str(oid)
        if hex_id not in self._cache:
            try:
                body = self._s3.get_object(Bucket=self._bucket, Key=self._key(hex_id))["Body"].read()
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in _MISSING:
                    raise KeyError(hex_id) from None
                raise
            self._cache[hex_id] = parse_loose_object(body)
            self.cached_bytes += len(self._cache[hex_id][1])
        return self._cache[hex_id]

    def read_prefix_cb(self, hex_prefix: str) -> tuple[int, bytes, pygit2.Oid]:
        # libgit2 looks objects up by "prefix" even with a full id; short ids would need a listing
        # of the bucket, and History never uses them.
        if len(hex_prefix) != 40:
            raise KeyError(hex_prefix)
        oid = pygit2.Oid(hex=hex_prefix)
        kind, data = self.read_cb(oid)
        return kind, data, oid

    def read_header_cb(self, oid: pygit2.Oid) -> tuple[int, int]:
        kind, data = self.read_cb(oid)
        return kind, len(data)

    def exists_cb(self, oid: pygit2.Oid) -> bool:
        # Only what this instance has seen. libgit2 asks before every write (twice, around a
        # refresh), to skip rewriting an object it has; a miss only means an idempotent overwrite
        # of a content-addressed key, where HEAD requests would triple a commit's requests.
        # libgit2 also checks the objects a new one names, but pygit2 has read those (parents,
        # tree, tag target) or we wrote them.
        return str(oid) in self._cache

    def exists_prefix_cb(self, hex_prefix: str) -> pygit2.Oid:
        return self.read_prefix_cb(hex_prefix)[2]

    def write_cb(self, oid: pygit2.Oid, data: bytes, kind: int) -> None:
        hex_id = str(oid)
        self._s3.put_object(Bucket=self._bucket, Key=self._key(hex_id), Body=loose_object(kind, data))
        self._cache[hex_id] = (kind, data)
        self.cached_bytes += len(data)

    def forget(self) -> None:
        """Drop every object kept (they are read again when needed)."""
        self._cache.clear()
        self.cached_bytes = 0

    def refresh_cb(self) -> None:
        """Nothing to refresh: every miss is asked of S3 again."""


def _signature(who: Signature) -> pygit2.Signature:
    # libgit2 rejects angle brackets but writes a newline as is, which would break the object.
    if any(c in who.name + who.email for c in "\n\0"):
        raise ValueError("a signature's name and email are one line each")
    return pygit2.Signature(who.name, who.email, who.time_s, who.offset_min)


def _message(text: str) -> str:
    # git ends every message it writes with a newline; so do we, so logs read as git's.
    return text if text.endswith("\n") else text + "\n"


def changed_lines(old: str, new: str) -> list[tuple[int, int, int, int]]:
    """Where two texts differ, by lines, as libgit2 finds it (its Myers diff, no context):
    ``(a1, a2, b1, b2)``, old lines [a1, a2) became new lines [b1, b2), 0-based."""
    patch = pygit2.Patch.create_from(
        old.encode(), new.encode(), context_lines=0, interhunk_lines=0, flag=DiffOption.FORCE_TEXT
    )
    blocks = []
    for hunk in patch.hunks:
        # A side with no lines names the line it comes after (1-based): 0-based, where it goes.
        a1 = hunk.old_start - 1 if hunk.old_lines else hunk.old_start
        b1 = hunk.new_start - 1 if hunk.new_lines else hunk.new_start
        blocks.append((a1, a1 + hunk.old_lines, b1, b1 + hunk.new_lines))
    return blocks


class History:
    """One PRD's git history in S3 (``prefix`` like ``"history/prd_abc.git/"``)."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self._backend = _S3Odb(s3, bucket, prefix)
        odb = pygit2.Odb()
        odb.add_backend(self._backend, 1)
        # No path: no refdb on disk is wanted, and nothing here may touch one (see tag()).
        self._repo = pygit2.Repository()
        self._repo.set_odb(odb)

    def _commit(self, commit_id: str) -> pygit2.Commit:
        if not _OID.fullmatch(commit_id):
            raise ValueError(f"not a full lowercase commit id: {commit_id!r}")
        try:
            found: object = self._repo[commit_id]  # the stubs miss that a Commit is an Object
        except KeyError:
            raise KeyError(f"unknown commit {commit_id}") from None
        if not isinstance(found, pygit2.Commit):
            raise KeyError(f"{commit_id} is not a commit")
        return found

    def _parents(self, parents: list[str]) -> list[pygit2.Oid]:
        return [self._commit(parent).id for parent in parents]

    def commit(self, files: dict[str, bytes], parents: list[str], author: Signature, message: str) -> str:
        """Commit ``files`` (name -> content, at the tree's root) on ``parents``; the commit id."""
        signature = _signature(author)
        parent_ids = self._parents(parents)
        builder = self._repo.TreeBuilder()
        for name, content in files.items():
            builder.insert(name, self._repo.create_blob(content), FileMode.BLOB)
        tree = builder.write()
        commit = self._repo.create_commit(None, signature, signature, _message(message), tree, parent_ids)
        return str(commit)

    def reparent(self, commit_id: str, parents: list[str]) -> str:
        """The same commit (tree, author, committer, message) on other parents: a rebase."""
        old = self._commit(commit_id)
        new = self._repo.create_commit(
            None, old.author, old.committer, old.raw_message, old.tree_id, self._parents(parents)
        )
        return str(new)

    def tag(self, name: str, commit_id: str, tagger: Signature, message: str) -> str:
        """Write an annotated tag object for ``commit_id``; its id. No ref is written."""
        if not pygit2.reference_is_valid_name(f"refs/tags/{name}"):
            raise ValueError(f"not a valid tag name: {name!r}")
        self._commit(commit_id)
        who = _signature(tagger)
        offset = abs(who.offset)
        sign = "-" if who.offset < 0 else "+"
        # Repository.create_tag also writes refs/tags/<name> into a refdb, which for a repository
        # without a path is the current directory. pygit2 has no call for the object alone
        # (libgit2's git_tag_annotation_create), so this is that object's canonical text.
        text = (
            f"object {commit_id}\ntype commit\ntag {name}\n"
            f"tagger {who.name} <{who.email}> {who.time} {sign}{offset // 60:02d}{offset % 60:02d}\n"
            f"\n{_message(message)}"
        )
        return str(self._repo.odb.write(ObjectType.TAG, text.encode()))

    def trim(self, max_bytes: int) -> None:
        """Forget the objects kept once they pass ``max_bytes``; call it between operations only
        (libgit2 checks that the objects a new one names exist in what is kept)."""
        if self._backend.cached_bytes > max_bytes:
            self._backend.forget()

    def author_of(self, commit_id: str) -> tuple[str, str]:
        """The commit's author: name and e-mail."""
        author = self._commit(commit_id).author
        return author.name, author.email

    def parents_of(self, commit_id: str) -> list[str]:
        """The commit's parents' ids, in order."""
        return [str(parent) for parent in self._commit(commit_id).parent_ids]

    def read_file(self, commit_id: str, path: str) -> bytes | None:
        """A file's content at that commit, or None if it has none there; KeyError if unknown."""
        tree = self._commit(commit_id).tree
        try:
            entry = tree[path]
        except KeyError:
            return None
        return entry.data if isinstance(entry, pygit2.Blob) else None

    def diff(self, old: bytes, new: bytes, old_name: str, new_name: str) -> str:
        """libgit2's unified diff, as ``git diff`` writes it (``--- a/<old_name>``, ``+++ b/<new_name>``).

        Empty when the contents are equal.
        """
        patch = pygit2.Patch.create_from(
            old, new, old_as_path=old_name, new_as_path=new_name, flag=DiffOption.INDENT_HEURISTIC
        )
        return patch.data.decode("utf-8", "replace")
