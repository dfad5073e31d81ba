"""The model reviewer: one structured call reads a PRD and answers with suggestions, which become findings.

``build_review_messages`` asks; the provider's ``complete_json`` answers in JSON of ``REVIEW_SCHEMA``
(strict mode, so a conforming model can answer nothing else); ``parse_review`` trusts none of it
anyway: the answer is validated again, item by item, and every position is decided here from the
document's text, never taken from the model. Pure: no I/O besides logging.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prdtool.engine.markdown import find_section, insertion_point, sections, slugify
from prdtool.features.ai.findings import PRIORITIES, SUGGESTION_TYPES, Finding, Priority, SuggestionType
from prdtool.features.ai.prompts import estimate_tokens
from prdtool.kernel.observability import logger

__all__ = [
    "MAX_SUGGESTIONS",
    "REVIEW_SCHEMA",
    "REVIEW_SCHEMA_NAME",
    "REVIEW_SYSTEM_PROMPT",
    "build_review_messages",
    "parse_review",
]

MAX_SUGGESTIONS = 5
REVIEW_SCHEMA_NAME = "prd_review"

REVIEW_SYSTEM_PROMPT = f"""\
You are a senior product manager reviewing a product requirements document (PRD) while its authors \
write it. Suggest what would improve it most: at most {MAX_SUGGESTIONS} suggestions, fewer when the \
document is in good shape; none rather than filler.

Every suggestion is concrete and about this document's actual content: say what is vague, missing, \
contradictory or risky here, and why it matters. No generic PRD advice.
- type: improvement (make existing content better), missing_section (a section this PRD needs and \
lacks), clarity (ambiguous or vague wording), consistency (two places disagree on names, numbers or \
scope), risk (an unaddressed risk, dependency or edge case).
- priority: high (it blocks building or testing the feature), medium, or low.
- section: the slug of the existing heading the suggestion is about, exactly as listed in the request; \
for missing_section, the slug of the section to add (lowercase words joined by hyphens).
- quote: a short passage (a few words, at most a sentence) copied exactly, character for character, \
from the document, that the suggestion is about; empty when it is about no particular passage.
- suggestedContent: GitHub-flavoured markdown ready to insert into the document as it is: the new or \
rewritten text itself, not advice about it. Do not start it with the heading of the section it goes \
into; for missing_section the heading is added for you.
- title: a short imperative summary; description: one to three sentences saying why.

Do not repeat the findings the request lists as already known, and do not suggest adding what the \
document already covers. Write in the document's language.\
"""

# Characters. Strict mode refuses maxLength (it supports enum and maxItems, not string lengths), so
# the limits are stated to the model in the descriptions and enforced on receipt by the models below.
_LIMITS = {"section": 80, "title": 120, "description": 800, "suggestedContent": 4000, "quote": 300}
_MIN_QUOTE = 3  # a shorter quote would be found anywhere: it places nothing
_KNOWN_SHOWN = 40  # known findings listed; a longer list is cut (the oldest ones are kept)
_SECTIONS_SHOWN = 80


def _text_property(description: str, field: str) -> dict[str, Any]:
    return {"type": "string", "description": f"{description} At most {_LIMITS[field]} characters."}


_ITEM_PROPERTIES: dict[str, Any] = {
    "type": {"type": "string", "enum": list(SUGGESTION_TYPES)},
    "section": _text_property("Slug of the heading it is about; for missing_section, of the one to add.", "section"),
    "title": _text_property("Short imperative summary.", "title"),
    "description": _text_property("Why it matters, in one to three sentences.", "description"),
    "priority": {"type": "string", "enum": list(PRIORITIES)},
    "suggestedContent": _text_property("Markdown ready to insert into the document.", "suggestedContent"),
    "quote": _text_property("An exact short passage of the document it is about, or empty.", "quote"),
}

REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["suggestions"],
    "properties": {
        "suggestions": {
            "type": "array",
            "maxItems": MAX_SUGGESTIONS,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": list(_ITEM_PROPERTIES),  # strict mode: every property is required
                "properties": _ITEM_PROPERTIES,
            },
        }
    },
}


class _Review(BaseModel):
    """The answer's top level; its items are validated one by one, so one bad item sinks no other."""

    model_config = ConfigDict(extra="ignore")

    suggestions: list[Any]


class _Suggestion(BaseModel):
    """One item of the answer, cleaned: strings without NULs and surrounding whitespace, ``section`` a slug."""

    model_config = ConfigDict(extra="ignore")

    type: SuggestionType
    section: str = Field(min_length=1, max_length=_LIMITS["section"])
    title: str = Field(min_length=1, max_length=_LIMITS["title"])
    description: str = Field(max_length=_LIMITS["description"])
    priority: Priority
    suggested_content: str = Field(alias="suggestedContent", min_length=1, max_length=_LIMITS["suggestedContent"])
    quote: str = Field(default="", max_length=_LIMITS["quote"])

    @field_validator("section", "title", "description", "suggested_content", "quote", mode="before")
    @classmethod
    def _clean(cls, value: object) -> object:
        # NUL ends strings in C-based tools and some stores; whitespace-only content is no content
        return value.replace("\0", "").strip() if isinstance(value, str) else value

    @field_validator("section")
    @classmethod
    def _slug(cls, value: str) -> str:
        slug = slugify(value)  # models sometimes answer the heading's title rather than its slug
        if not slug:
            raise ValueError("the section has no slug")
        return slug

    @field_validator("title")
    @classmethod
    def _keyable(cls, value: str) -> str:
        if not slugify(value):
            raise ValueError("the title has no words to key the finding by")
        return value


def _one_line(text: str, limit: int = 160) -> str:
    return " ".join(text.split())[:limit]


def _request_head(title: str, text: str, known: Sequence[Finding]) -> str:
    """What the model needs before the document: its title, every heading's slug, the known findings."""
    headings = sections(text)
    parts = [f"Document title: {_one_line(title) or '(untitled)'}"]
    if headings:
        listed = "\n".join(f"- {s.slug}: {_one_line(s.title)}" for s in headings[:_SECTIONS_SHOWN])
        parts.append(f"Sections of the document (slug: heading):\n{listed}")
    else:
        parts.append("The document has no headings yet.")
    if known:
        listed = "\n".join(f"- {_one_line(f.title)} (section: {f.section})" for f in known[:_KNOWN_SHOWN])
        parts.append(f"Already known findings, do not repeat them:\n{listed}")
    return "\n\n".join(parts)


def _cut_note(shown: int, total: int) -> str:
    return (
        f"The document is longer than shown: only its first {shown} of {total} characters are included. "
        "The list of sections above is complete: do not suggest adding a section it lists."
    )


def _keep_start(text: str, room: int) -> str:
    """The start of the text within ``room`` characters, ending at a line or word break when one is near."""
    cut = text[: max(0, room)]
    for separator, reach in (("\n", 400), (" ", 40)):  # a whole line first, else a whole word
        index = cut.rfind(separator, max(0, len(cut) - reach))
        if index > 0:
            return cut[:index].rstrip()
    return cut


def build_review_messages(
    title: str, text: str, known: Sequence[Finding], budget_tokens: int = 6000
) -> list[dict[str, str]]:
    """The chat messages asking for a review of the document, within ``budget_tokens`` (as counted by
    ``estimate_tokens`` over both messages).

    The user message holds the title, the slug of every heading (of the whole document, so a cut one
    is not said to lack them), the known findings (title and section, so the model does not repeat
    them) and the document. Over budget, the document is cut: its start is kept, and the message
    says it was cut. Should the rest alone not fit, the document is left out and the messages are
    over budget."""
    head = _request_head(title, text, known)
    room = (budget_tokens - estimate_tokens(REVIEW_SYSTEM_PROMPT)) * 4  # characters left for the user message

    def user(document: str, note: str = "") -> str:
        return "\n\n".join(part for part in (head, f"<document>\n{document}\n</document>", note) if part)

    message = user(text)
    if len(message) > room:
        # the note with the total in place of the count shown is at least as long as the real one
        space = room - len(user("", _cut_note(len(text), len(text))))
        document = _keep_start(text, space)
        message = user(document, _cut_note(len(document), len(text)))
    return [{"role": "system", "content": REVIEW_SYSTEM_PROMPT}, {"role": "user", "content": message}]


def _errors(exc: ValidationError) -> list[str]:
    # where and what only: the inputs are the document's or the model's text, which stay out of logs
    return [":".join([*map(str, e["loc"]), e["type"]]) for e in exc.errors(include_input=False)][:10]


def _find_quote(text: str, quote: str, section: str) -> tuple[int, int] | None:
    """The quote's span, in its section first (a short passage may recur), else anywhere; whitespace
    may differ, since models re-wrap lines. None when it is too short or not in the text."""
    if len(quote) < _MIN_QUOTE:
        return None
    loose = re.compile(r"\s+".join(re.escape(word) for word in quote.split()))
    found = find_section(text, section)
    ranges = ([(found.start, found.end)] if found else []) + [(0, len(text))]
    for start, end in ranges:
        index = text.find(quote, start, end)
        if index >= 0:
            return index, index + len(quote)
        match = loose.search(text, start, end)
        if match:
            return match.span()
    return None


def _block_end(text: str, index: int) -> int:
    """The end of the paragraph (or list, or table: the run of non-blank lines) holding ``index``, so
    an insertion there does not split it; a heading is a block of its own."""
    headings = {section.start for section in sections(text)}
    end = text.find("\n", index)
    if end < 0:
        return len(text)
    if text.rfind("\n", 0, index) + 1 in headings:
        return end
    while end + 1 < len(text):
        start = end + 1
        following = text.find("\n", start)
        following = len(text) if following < 0 else following
        if not text[start:following].strip() or start in headings:
            break
        end = following
    return end


def _without_heading(content: str, slug: str) -> str:
    """The content without a first line that repeats the heading of the section it goes into."""
    headings = sections(content)
    if headings and headings[0].start == 0 and headings[0].slug == slug:
        newline = content.find("\n")
        return "" if newline < 0 else content[newline:].strip()
    return content


def _placed(suggestion: _Suggestion, text: str) -> tuple[int, str, tuple[int, int] | None]:
    """Where the suggestion's content goes, the content as it is inserted there (separator and, for a
    new section, heading included), and the span it is about."""
    section, content = suggestion.section, suggestion.suggested_content
    span = _find_quote(text, suggestion.quote, section)
    if span is not None:  # right after the passage's paragraph, as a paragraph of its own
        return _block_end(text, span[1]), "\n\n" + _without_heading(content, section), span
    at, prefix = insertion_point(text, section)
    if find_section(text, section) is not None:  # at the end of the section
        return at, prefix + _without_heading(content, section), None
    if sections(content) and sections(content)[0].start == 0:  # a new section the model gave its heading
        return at, prefix[: len(prefix) - len(prefix.lstrip("\n"))] + content, None
    return at, prefix + content, None  # a new section at the end, under insertion_point's heading


def _finding(suggestion: _Suggestion, text: str) -> Finding | None:
    at, content, span = _placed(suggestion, text)
    if not content.strip():  # the content was only the heading of its own section
        return None
    return Finding(
        key=f"model:{suggestion.section}:{slugify(suggestion.title)[:60].rstrip('-')}",
        rule="model",
        type=suggestion.type,
        section=suggestion.section,
        title=suggestion.title,
        description=suggestion.description,
        priority=suggestion.priority,
        suggested_content=content,
        at=at,
        subject=span,
    )


def parse_review(answer: str, text: str) -> list[Finding]:
    """The findings of a model's answer to ``build_review_messages``, over the ``text`` it reviewed.

    An answer that is not JSON of the schema's top level (an object with a ``suggestions`` list) gives
    none: it is logged and never shown. Items that fail validation (a bad enum, an empty or too long
    field) are dropped and the others kept, at most ``MAX_SUGGESTIONS``, each once by key.

    Each finding's ``suggested_content`` is exactly what to insert at ``at``: after the paragraph
    holding its quote when the quote is in the text (``subject`` is then the quote's span), else at
    the end of its section, else at the end of the document under a new heading."""
    try:
        review = _Review.model_validate_json(answer.replace("\0", ""))
    except ValidationError as exc:
        logger.warning("the model's review is not JSON of the review schema; dropped", extra={"errors": _errors(exc)})
        return []
    findings: list[Finding] = []
    dropped: list[str] = []
    for item in review.suggestions:
        if len(findings) == MAX_SUGGESTIONS:
            break
        try:
            suggestion = _Suggestion.model_validate(item)
        except ValidationError as exc:
            dropped += _errors(exc)
            continue
        finding = _finding(suggestion, text)
        if finding is not None and all(finding.key != other.key for other in findings):
            findings.append(finding)
    if dropped:
        logger.warning("the model's review had invalid suggestions; dropped", extra={"errors": dropped})
    return findings
