"""Versions as clients see them: labels (semver), the payload of a version, what a joining client
has not seen, and whether the live text is still what was approved.

The git history itself (commits, tags, diffs) and version labels (semver) are
``prdtool.features.versions``, in the one function that loads pygit2; what every other function
needs about versions is here, from the document's records alone (labels are only compared as
they were recorded, in order, so the gateway needs no semver).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from prdtool.engine.comment_threads import iso
from prdtool.engine.document_records import DocumentMeta, Version
from prdtool.kernel.parts import fitting

if TYPE_CHECKING:
    from prdtool.engine.services import Services

__all__ = [
    "FIRST_LABEL",
    "approved_by",
    "content_sha256",
    "decisions_of",
    "history_prefix",
    "latest_label",
    "version_payload",
    "versions_since",
]

# What a document without versions reports as its version.
FIRST_LABEL = "0.0.0"
# At most this many versions in document:joined's versionsSince (version:list pages on from there).
MAX_VERSIONS_SINCE = 50
# Of document:joined's one frame, what versionsSince may take (changelogs are up to 5,000 characters).
VERSIONS_SINCE_BUDGET = 20_000


def history_prefix(prd_id: str) -> str:
    """Where a document's git objects are in the history bucket (a bare repository's layout)."""
    return f"history/{prd_id}.git/"


def latest_label(meta: DocumentMeta) -> str:
    """The document's version as clients see it: its latest version's label, or ``0.0.0``."""
    return meta.version if meta.version_count else FIRST_LABEL


def content_sha256(text: str) -> str:
    """What tells two texts apart without keeping them: SHA-256 of the UTF-8 text."""
    return hashlib.sha256(text.encode()).hexdigest()


def approved_by(version: Version, approvals: dict[str, list[dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
    """Who approved the version, when: ``[{id, name, at}]`` (none until it is approved)."""
    if approvals is None or version.approval_id is None or version.status != "approved":
        return []
    return [
        {"id": d["id"], "name": d["name"], "at": d["at"]}
        for d in approvals.get(version.approval_id, [])
        if d["decision"] == "granted"
    ]


def version_payload(version: Version) -> dict[str, Any]:
    """A version as ``version:created`` carries it: the spec's fields, plus status and seq."""
    return {
        "prdId": version.prd_id,
        "version": version.version,
        "changelog": version.changelog,
        "author": {"id": version.author_id, "name": version.author_name},
        "commitHash": version.commit_hash,
        "createdAt": iso(int(version.created_at)),
        "status": version.status,
        "seq": int(version.seq),
    }


def decisions_of(raw: str) -> list[dict[str, Any]]:
    """An approval's decisions, as stored (JSON)."""
    decided: list[dict[str, Any]] = json.loads(raw)
    return decided


def versions_since(services: Services, meta: DocumentMeta, last_known: str | None) -> dict[str, Any]:
    """What ``document:joined`` adds for a client that last saw version ``last_known``:
    ``versionsSince``, the versions made after it, oldest first (the latest of them, as many as
    fit ``VERSIONS_SINCE_BUDGET`` and ``MAX_VERSIONS_SINCE``), and ``versionsSinceCursor``, the
    ``version:list`` cursor of the older ones when some were left out. Nothing when it is up to
    date, or names no version of this PRD (it then lists them itself, from ``version``)."""
    if last_known is None or not meta.version_count or last_known == latest_label(meta):
        return {}
    # "0.0.0" is what a client that joined before the first version was told.
    known = 0 if last_known == FIRST_LABEL else services.documents.version_ordinal(meta.prd_id, last_known)
    if known is None:
        return {}
    found = services.documents.versions(meta.prd_id, None, min(int(meta.version_count) - known, MAX_VERSIONS_SINCE + 1))
    newer = [v for v in found if int(v.ordinal) > known]
    shown = fitting([version_payload(v) for v in newer[:MAX_VERSIONS_SINCE]], VERSIONS_SINCE_BUDGET)
    cut = len(shown) < len(newer) or (bool(newer) and int(newer[-1].ordinal) > known + 1)
    cursor = str(int(newer[len(shown) - 1].ordinal)) if cut and shown else None
    return {"versionsSince": list(reversed(shown)), "versionsSinceCursor": cursor}
