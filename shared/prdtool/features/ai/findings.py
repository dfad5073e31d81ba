"""What a review of a PRD finds: one ``Finding`` per thing worth suggesting, from either reviewer.

The built-in PRD rules (``review_rules``) and the model (``review_model``) both answer with
findings over the document's text as it was reviewed; ``review`` turns new ones into stored
suggestions, anchored in the CRDT, and withdraws the ones no longer found. Positions are code
point indexes into that text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PRIORITIES", "SUGGESTION_TYPES", "Finding", "Priority", "SuggestionType"]

SuggestionType = Literal["improvement", "missing_section", "clarity", "consistency", "risk"]
Priority = Literal["low", "medium", "high"]
SUGGESTION_TYPES: tuple[SuggestionType, ...] = ("improvement", "missing_section", "clarity", "consistency", "risk")
PRIORITIES: tuple[Priority, ...] = ("low", "medium", "high")


@dataclass(frozen=True)
class Finding:
    """One suggestion-to-be.

    ``key`` is its identity across reviews, ``"<rule>:<section>:<subject>"``: the same finding
    found again has the same key (it is not sent twice; a dismissed one is not sent again), and an
    open suggestion whose key a review no longer finds is withdrawn. ``at`` is where
    ``suggested_content`` would be inserted; ``subject`` the stretch of text the finding is about
    (a vague word, a story, a TBD), or None when it is about the document as a whole (a missing
    section): a suggestion whose subject text is deleted is withdrawn.
    """

    key: str
    rule: str
    type: SuggestionType
    section: str  # the slug of the section it is about (a missing section: the one to add)
    title: str
    description: str
    priority: Priority
    suggested_content: str
    at: int
    subject: tuple[int, int] | None = None
