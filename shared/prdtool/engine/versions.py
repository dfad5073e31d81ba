"""Versions as clients see them: labels (semver), the payload of a version, what a joining client
has not seen, and whether the live text is still what was approved.

The git history itself (commits, tags, diffs) is ``prdtool.features.versions``, in the one
function that loads pygit2; what every other function needs about versions is here, from the
document's records alone.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Literal

import semver

from prdtool.engine.comment_threads import iso
from prdtool.engine.document_records import DocumentMeta, Version
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.parts import fitting

if TYPE_CHECKING:
    from prdtool.engine.services import Services

__all__ = [
    "FIRST_LABEL",
    "Bump",
    "approved_by",
    "content_sha256",
    "decisions_of",
    "history_prefix",
    "latest_label",
    "next_label",
    "parse_label",
    "version_payload",
    "versions_since",
]

Bump = Literal["major", "minor", "patch"]
# What a document without versions reports as its version.
FIRST_LABEL = "0.0.0"
# At most this many versions in document:joined's versionsSince (version:list pages on from there).
MAX_VERSIONS_SINCE = 50
# Of document:joined's one frame, what versionsSince may take (changelogs are up to 5,000 characters).
VERSIONS_SINCE_BUDGET = 20_000


def parse_label(label: str, field: str = "version") -> semver.Version:
    """A version label as semver (``1.3.0``, ``2.0.0-rc.1``); VALIDATION_FAILED otherwise."""
    try:
        return semver.Version.parse(label)
    except (ValueError, TypeError) as exc:
        message = f"{field}: {label!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.3.0)"
        raise AppError(ErrorCode.VALIDATION_FAILED, message, {"field": field}) from exc


def next_label(latest: str, wanted: str | None, bump: Bump) -> str:
    """The label of a new version: ``wanted`` when it is greater than ``latest``, else ``latest``
    bumped. VALIDATION_FAILED for a label that is not semver or not greater."""
    current = semver.Version.parse(latest)
    if wanted is None:
        return str({"major": current.bump_major, "minor": current.bump_minor, "patch": current.bump_patch}[bump]())
    label = parse_label(wanted)
    if label <= current:
        message = f"version: {wanted} is not greater than the latest version, {latest}"
        raise AppError(ErrorCode.VALIDATION_FAILED, message, {"field": "version", "latest": latest})
    return str(label)


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
    """Who granted the version's latest approval, when: ``[{id, name, at}]``."""
    if approvals is None or version.approval_id is None:
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
    """What ``document:joined`` adds for a client that last saw ``last_known``: ``versionsSince``,
    the versions it has not seen, oldest first (the latest of them, as many as fit
    ``VERSIONS_SINCE_BUDGET`` and ``MAX_VERSIONS_SINCE``), and ``versionsSinceCursor``, the
    ``version:list`` cursor of the older ones when some were left out. Nothing when it has seen
    them all, or names no version."""
    if last_known is None or not meta.version_count:
        return {}
    try:
        known = semver.Version.parse(last_known)
    except (ValueError, TypeError):
        return {}  # not a label of ours: the client gets the latest in ``version`` and lists the rest
    if known >= semver.Version.parse(latest_label(meta)):
        return {}
    newer: list[Version] = []
    found = services.documents.versions(meta.prd_id, None, MAX_VERSIONS_SINCE + 1)
    for version in found:
        if semver.Version.parse(version.version) <= known:
            break
        newer.append(version)
    shown = fitting([version_payload(v) for v in newer[:MAX_VERSIONS_SINCE]], VERSIONS_SINCE_BUDGET)
    cut = len(shown) < len(newer)
    cursor = str(int(newer[len(shown) - 1].ordinal)) if cut else None
    return {"versionsSince": list(reversed(shown)), "versionsSinceCursor": cursor}
