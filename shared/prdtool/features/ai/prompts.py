"""What the AI worker asks a model for, and where the answer goes: pure functions over markdown.

A generated section is appended to the document while it streams, so the worker has to know before
the first chunk where the text lands (``markdown.insertion_point``) and the model has to be told what is
already there without blowing the context budget (``build_messages``). Positions are Python string
indices (code points); ``prdtool.engine.positions`` converts them for clients and pycrdt.

The user message has labelled parts (``Section:``, ``<current>``, ``<related>``, ``Request:``) so a
model reads it unambiguously and the offline provider can parse it back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prdtool.engine.concurrent_edits import MergeRequest
from prdtool.engine.markdown import title_from_slug

__all__ = [
    "MERGE_SYSTEM_PROMPT",
    "SYSTEM_PROMPT",
    "GenerationRequest",
    "build_merge_messages",
    "build_messages",
    "estimate_message_tokens",
    "estimate_tokens",
    "merge_versions",
]

SYSTEM_PROMPT = """\
You are a senior product manager writing one section of a product requirements document (PRD).

Write only the body of the requested section, in GitHub-flavoured markdown:
- No preamble, no closing remarks, no code fences around the answer.
- Do not repeat the section heading: your text is inserted under the existing heading.
- Use ### subheadings where they help, never # or ##.

Content:
- Requirements are concrete, numbered and testable ("The system shall ..."), with numbers where they \
matter (limits, latencies, retention periods).
- Give acceptance criteria as Given/When/Then bullets.
- End with open questions: decisions the team still has to make.

Stay consistent with the rest of the document: reuse its terminology, names and numbers, do not \
contradict the related sections you are shown, and do not repeat what the section already says; \
continue it. If the request is ambiguous, make a reasonable assumption and list it as an open question.\
"""

MERGE_SYSTEM_PROMPT = """\
You reconcile two conflicting edits of one passage of a product requirements document (PRD): two \
people changed the same text at the same time, each without seeing the other's change.

Answer with the merged passage only: no preamble, no explanation, no quotes or code fences. It \
replaces the passage as it stands, so keep its markdown, its line breaks at the start and end, and \
the wording neither edit touched. Keep what each version adds unless the two contradict each other; \
then prefer the more specific one. Never invent requirements neither version states.\
"""

_MIN_EXCERPT = 80  # characters; a shorter excerpt of a section is noise, so it is dropped instead
_OMITTED = "\0omitted"  # stands for current content of which nothing fits


@dataclass(frozen=True)
class GenerationRequest:
    """What the user asked for: ``related`` maps a section name to its text, most relevant first."""

    prompt: str
    section: str
    previous_content: str | None
    related: dict[str, str]
    document_title: str = ""


def estimate_tokens(text: str) -> int:
    """A cheap upper-ish estimate of a text's tokens: one per four characters, rounded up."""
    return (len(text) + 3) // 4


def estimate_message_tokens(messages: list[dict[str, str]]) -> int:
    """``estimate_tokens`` summed over the messages' contents: what ``build_messages`` budgets."""
    return sum(estimate_tokens(message["content"]) for message in messages)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _current_part(previous: str) -> str:
    if not previous:
        return "The section is empty so far."
    if previous == _OMITTED:
        return "The section already has content, too long to show here: continue it, do not repeat it."
    return f"Current content of the section (your text is appended after it):\n<current>\n{previous}\n</current>"


def _related_part(name: str, text: str) -> str:
    return f'<related name="{_one_line(name).replace(chr(34), chr(39))}">\n{text}\n</related>'


def _user_message(request: GenerationRequest, previous: str, related: list[tuple[str, str]]) -> str:
    head = f"Section: {title_from_slug(request.section)}"
    if request.document_title.strip():
        head = f"Document: {_one_line(request.document_title)}\n{head}"
    parts = [head, _current_part(previous)]
    if related:
        blocks = "\n".join(_related_part(name, text) for name, text in related)
        parts.append(f"Related sections of the document, for consistency:\n{blocks}")
    parts.append(f"Request: {request.prompt}")
    return "\n\n".join(parts)


def _cut_at_space(text: str, keep_start: bool) -> str:
    """Drop a word split by a cut, if a space is near (the text only gets shorter)."""
    space = text.rfind(" ", max(0, len(text) - 40)) if keep_start else text.find(" ", 0, 40)
    if space < 0:
        return text
    return text[:space] if keep_start else text[space + 1 :]


def build_messages(request: GenerationRequest, budget_tokens: int = 6000) -> list[dict[str, str]]:
    """The chat messages for generating ``request.section``, within ``budget_tokens`` (as counted by
    ``estimate_message_tokens``).

    The system prompt and the user's prompt are never cut. Over budget, the related sections go first
    (the last one is shortened, or dropped when little of it would remain, until they fit), then the
    current content, of which the end is kept (it is what the new text continues). If even the bare
    labelled request does not fit, the user message is the prompt alone; if that does not fit
    either, the messages are over budget and the caller should refuse the request."""
    system = {"role": "system", "content": SYSTEM_PROMPT}
    room = (budget_tokens - estimate_tokens(SYSTEM_PROMPT)) * 4  # characters left for the user message
    previous = (request.previous_content or "").strip()
    related = [(name, text.strip()) for name, text in request.related.items() if text.strip()]

    user = _user_message(request, previous, related)
    while len(user) > room and related:
        name, text = related.pop()
        # what the last block may take: the room minus everything else, minus its own frame and "…"
        space = room - len(_user_message(request, previous, [*related, (name, "")])) - 1
        if space >= _MIN_EXCERPT:
            related.append((name, _cut_at_space(text[:space], keep_start=True) + "…"))
        user = _user_message(request, previous, related)
    if len(user) > room and previous:
        frame = len(_user_message(request, "…", related)) - 1  # the message without any current content
        space = room - frame - 1
        excerpt = _cut_at_space(previous[len(previous) - space :], keep_start=False) if space > 0 else ""
        previous = "…" + excerpt if len(excerpt) >= _MIN_EXCERPT else _OMITTED
        user = _user_message(request, previous, related)
    if len(user) > room:
        user = request.prompt
    return [system, {"role": "user", "content": user}]


_MERGE_CONTEXT = 600  # characters of the text around the passage shown to the model


def build_merge_messages(request: MergeRequest) -> list[dict[str, str]]:
    """The chat messages asking for one passage reconciling ``version_a`` and ``version_b``."""
    parts = []
    if request.before:
        parts.append(f"Text just before the passage:\n<before>\n{request.before[-_MERGE_CONTEXT:]}\n</before>")
    parts += [
        f"Version A:\n<version_a>\n{request.version_a}\n</version_a>",
        f"Version B:\n<version_b>\n{request.version_b}\n</version_b>",
        f"What an automatic character-level merge produced:\n<auto>\n{request.merged}\n</auto>",
    ]
    if request.after:
        parts.append(f"Text just after the passage:\n<after>\n{request.after[:_MERGE_CONTEXT]}\n</after>")
    parts.append("Request: write the passage reconciling version A and version B.")
    return [{"role": "system", "content": MERGE_SYSTEM_PROMPT}, {"role": "user", "content": "\n\n".join(parts)}]


def merge_versions(messages: list[dict[str, str]]) -> tuple[str, str] | None:
    """The two versions a merge request names (what the offline provider merges), else None."""
    if not messages or messages[0].get("content") != MERGE_SYSTEM_PROMPT:
        return None
    user = messages[-1]["content"]
    found = [re.search(rf"<{tag}>\n(.*?)\n</{tag}>", user, re.DOTALL) for tag in ("version_a", "version_b")]
    if found[0] is None or found[1] is None:
        return None
    return found[0].group(1), found[1].group(1)
