"""Version labels: semantic versions, each greater than the one before.

Only the versions function needs this (creating a version); everything else compares labels by
the order they were recorded in.
"""

from __future__ import annotations

from typing import Literal

import semver

from prdtool.kernel.errors import AppError, ErrorCode

__all__ = ["Bump", "next_label", "parse_label"]

Bump = Literal["major", "minor", "patch"]


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
