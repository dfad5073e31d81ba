"""The contradiction rule: requirements ("must", "shall", "will not", ...) that say the same thing
but for a negation, or but for their quantities ("200 ms" against "1 s"). Each sentence is reduced
to a claim (its words, with every modal the same and quantities in base units) and compared by
dictionary lookup, so the rule is linear in the number of sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prdtool.features.ai.findings import Finding
from prdtool.features.ai.review_rules.document import Document, excerpt, normalized, short_hash
from prdtool.features.ai.review_rules.sentences import in_sentences

__all__ = ["find_contradictions"]

_REQUIREMENT = re.compile(
    r"\b(?=[chmnswCHMNSW])"  # the first letters of what follows
    r"(?i:must|sh(?:all|ould)|w(?:ill|on['\u2019]t)|needs? to|ha(?:s|ve) to|can(?:not|['\u2019]t| not))\b"
)
_TOKEN = re.compile(r"[$€£]?\d+(?:[.,]\d+)*(?:%|[a-z]+)?|[a-z]+(?:['\u2019][a-z]+)?")
_NUMBER = re.compile(r"([$€£]?)(\d+(?:[.,]\d+)*)(%|[a-z]*)")
_LABEL = re.compile(
    r"[*_\s]*[A-Za-z]{1,6}[-_]?\d+(?:\.\d+)*[*_]*\s*[:.)\]\u2013\u2014-]+[*_]*\s+"
)  # "NFR-3:", "**FR1.**"
_CONTRACTIONS = {
    "cannot": ("can", "not"),
    "can't": ("can", "not"),
    "won't": ("will", "not"),
    "mustn't": ("must", "not"),
    "shouldn't": ("should", "not"),
    "shan't": ("shall", "not"),
}
_MODALS = frozenset({"must", "shall", "should", "will", "can"})
_NEEDS = frozenset({"need", "needs", "has", "have"})  # before "to"
_NEGATIONS = frozenset({"not", "never"})
_STOP_WORDS = frozenset({"a", "an", "the", "also", "always"})
_UNITS: dict[str, tuple[str, float]] = {  # a unit: its dimension, and its size in that dimension's base unit
    unit: (dimension, size)
    for units, dimension, size in (
        ("ms msec millisecond milliseconds", "s", 0.001),
        ("s sec secs second seconds", "s", 1.0),
        ("min mins minute minutes", "s", 60.0),
        ("h hr hrs hour hours", "s", 3600.0),
        ("d day days", "s", 86400.0),
        ("week weeks", "s", 604800.0),
        ("month months", "s", 2592000.0),  # 30 days
        ("year years", "s", 31536000.0),
        ("b byte bytes", "b", 1.0),
        ("kb", "b", 1e3),
        ("mb", "b", 1e6),
        ("gb", "b", 1e9),
        ("tb", "b", 1e12),
        ("kib", "b", 1024.0),
        ("mib", "b", 1024.0**2),
        ("gib", "b", 1024.0**3),
        ("% percent", "%", 1.0),
        ("px pixels", "px", 1.0),
        ("rps qps", "rps", 1.0),
        ("usd eur gbp", "money", 1.0),
    )
    for unit in units.split()
}
_Quantity = tuple[str, float]
_NUMERIC = frozenset("0123456789$€£")


@dataclass(frozen=True)
class _Claim:
    shape: str  # the words, modals as "must", quantities as "#", negation removed
    quantities: tuple[_Quantity, ...]
    negated: bool
    span: tuple[int, int]


def _quantity(tokens: list[str], i: int) -> tuple[_Quantity | None, int]:
    """The measured quantity starting at token i ("200 ms", "2s", "99.9%", "$5") and the tokens it takes."""
    number = _NUMBER.fullmatch(tokens[i]) if tokens[i][0] in _NUMERIC else None
    if number is None:
        return None, 1
    currency, digits, unit = number.groups()
    value = float(digits.replace(",", "")) if digits.count(".") <= 1 else 0.0
    if currency:
        return ("money", value), 1
    following = tokens[i + 1] if i + 1 < len(tokens) else ""
    unit, taken = (unit, 1) if unit else (following, 2)
    if unit not in _UNITS:
        return None, 1  # a bare number labels ("tier 1", "step 3"): it is part of what the sentence says
    dimension, factor = _UNITS[unit]
    return (dimension, round(value * factor, 9)), taken  # "200 ms" and "0.2 s" are the same


def _claim(text: str, span: tuple[int, int]) -> _Claim | None:
    """The sentence as a requirement, or None if it is not one (no modal, or too short to compare)."""
    label = _LABEL.match(text)
    raw = _TOKEN.findall(text[label.end() if label else 0 :].lower().replace("\u2019", "'"))
    tokens = [part for token in raw for part in _CONTRACTIONS.get(token, (token,))]
    words: list[str] = []
    quantities: list[_Quantity] = []
    negated = modal = False
    i = 0
    while i < len(tokens):
        token, following = tokens[i], tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in _MODALS or (token in _NEEDS and following == "to"):
            step = 2 if token in _NEEDS else 1
            negation = (tokens[i + step] if i + step < len(tokens) else "") in _NEGATIONS
            if token != "can" or negation:  # "can" alone grants, it does not require
                # every modal is the same claim: "should" against "must not" is still a conflict
                words.append("must")
                modal, negated = True, negated or negation
                i += step + (1 if negation else 0)
                continue
        quantity, taken = _quantity(tokens, i)
        if quantity is not None:
            quantities.append(quantity)
            words.append("#")
        elif token not in _STOP_WORDS:
            words.append(token)
        i += taken
    if not modal or len(words) < 4:
        return None
    return _Claim(" ".join(words), tuple(quantities), negated, span)


def find_contradictions(doc: Document, spans: list[tuple[int, int]]) -> list[Finding]:
    """Requirements equal but for a negation, or but for their quantities: one dictionary lookup each."""
    by_claim: dict[tuple[str, tuple[_Quantity, ...], bool], _Claim] = {}
    by_shape: dict[tuple[str, bool], _Claim] = {}
    found: dict[str, Finding] = {}
    requirements = dict(in_sentences(spans, _REQUIREMENT.finditer(doc.prose)))
    for i in sorted(requirements):
        span = spans[i]
        claim = _claim(doc.prose[span[0] : span[1]], span)
        if claim is None:
            continue
        earlier = by_claim.get((claim.shape, claim.quantities, not claim.negated))
        if earlier is None and claim.quantities:
            same_shape = by_shape.get((claim.shape, claim.negated))
            if same_shape is not None and same_shape.quantities != claim.quantities:
                earlier = same_shape
        if earlier is not None:
            finding = _contradiction(doc, earlier, claim)
            found.setdefault(finding.key, finding)
        by_claim.setdefault((claim.shape, claim.quantities, claim.negated), claim)
        if claim.quantities:
            by_shape.setdefault((claim.shape, claim.negated), claim)
    return list(found.values())


def _contradiction(doc: Document, earlier: _Claim, later: _Claim) -> Finding:
    section = doc.outline.slug_at(later.span[0])
    earlier_text, later_text = (doc.text[s:e] for s, e in (earlier.span, later.span))
    pair = normalized(earlier_text) + "\n" + normalized(later_text)
    where = doc.outline.at(earlier.span[0])
    place = f'"{where.title}"' if where else "the introduction"
    quoted = excerpt(earlier_text, 80).rstrip(".").replace("|", "/")
    return Finding(
        key=f"contradiction:{section}:{short_hash(pair)}",
        rule="contradiction",
        type="consistency",
        section=section,
        title="Resolve contradicting requirements",
        description=f'"{excerpt(later_text)}" contradicts "{excerpt(earlier_text)}" in {place}. '
        "Decide which one holds and remove the other.",
        priority="high",
        suggested_content=f' (conflicts with "{quoted}" in {place.strip(chr(34))}: keep one)',
        at=later.span[1],
        subject=later.span,
    )
