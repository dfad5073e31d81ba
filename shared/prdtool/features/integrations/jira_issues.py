"""A PRD's user story as a Jira issue: the fields the Jira sync creates or updates it with (REST API
v3), its description in Atlassian Document Format (ADF), and the label that marks a PRD's issues.

Pure functions. The description is small on purpose: the story as a paragraph, its acceptance
criteria as a bullet list under a level-3 heading, and a last paragraph naming (and linking) the
PRD. Inline markdown maps to ADF marks (``**strong**``, ``*em*``, `` `code` ``,
``[text](https://…)`` links, backslash escapes); anything else stays as the text it is. ADF
rejects an empty text node, so none is ever made: a paragraph with no text is left out.

What a sync compares to tell which side changed is here too: ``sent_print`` of the fields it would
send, ``words_print`` of the words an issue has (its summary and its description's text, so Jira
re-shaping a document it keeps, or a status moving, is no change).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from prdtool.engine.user_stories import UserStory

__all__ = [
    "LABEL_PREFIX",
    "MAX_LABEL_CHARS",
    "MAX_SUMMARY_CHARS",
    "edit_fields",
    "inline_nodes",
    "issue_fields",
    "sent_print",
    "story_description",
    "summary",
    "sync_label",
    "words_print",
]

MAX_SUMMARY_CHARS = 255
"""Jira's limit on an issue's summary, counted as Java counts a string's length (UTF-16 code units)."""
MAX_LABEL_CHARS = 255
"""Jira's limit on a label's length."""
LABEL_PREFIX = "prdtool-"
_ELLIPSIS = "…"

Node = dict[str, Any]

_INLINE = re.compile(
    r"\\(?P<escaped>[!-/:-@\[-`{-~])"
    r"|(?P<ticks>`+)(?P<code>.+?)(?P=ticks)"
    r"|\[(?P<label>[^\[\]]+)\]\((?P<href>https?://[^\s()]+)\)"
    r"|\*\*(?=\S)(?P<strong>.+?)(?<=\S)\*\*"
    r"|(?<!\w)__(?=\S)(?P<underscores>.+?)(?<=\S)__(?!\w)"
    r"|\*(?=[^\s*])(?P<em>.+?)(?<=[^\s*])\*"
    r"|(?<!\w)_(?=[^\s_])(?P<underscore>.+?)(?<=[^\s_])_(?!\w)"
)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _with(marks: tuple[Node, ...], mark: Node) -> tuple[Node, ...]:
    if mark["type"] == "code":  # ADF: code goes with a link and with no other mark
        return (*(m for m in marks if m["type"] == "link"), mark)
    if any(m["type"] == mark["type"] for m in marks):
        return marks  # a mark once per text node (a link in a link keeps the outer one)
    return (*marks, mark)


def _text(text: str, marks: tuple[Node, ...] = ()) -> list[Node]:
    if not text:
        return []
    node: Node = {"type": "text", "text": text}
    if marks:
        node["marks"] = list(marks)
    return [node]


def _inline(text: str, marks: tuple[Node, ...]) -> list[Node]:
    nodes: list[Node] = []
    at = 0
    for match in _INLINE.finditer(text):
        nodes += _text(text[at : match.start()], marks)
        at = match.end()
        groups = match.groupdict()
        if groups["escaped"] is not None:
            nodes += _text(groups["escaped"], marks)
        elif groups["code"] is not None:
            nodes += _text(groups["code"], _with(marks, {"type": "code"}))
        elif groups["href"] is not None:
            nodes += _inline(groups["label"], _with(marks, {"type": "link", "attrs": {"href": groups["href"]}}))
        elif (strong := groups["strong"] or groups["underscores"]) is not None:
            nodes += _inline(strong, _with(marks, {"type": "strong"}))
        else:
            nodes += _inline(groups["em"] or groups["underscore"], _with(marks, {"type": "em"}))
    return nodes + _text(text[at:], marks)


def inline_nodes(text: str) -> list[Node]:
    """The text, on one line, as ADF text nodes with the marks its inline markdown stands for;
    neighbours with the same marks are one node, and none is empty."""
    merged: list[Node] = []
    for node in _inline(_one_line(text), ()):
        if merged and merged[-1].get("marks") == node.get("marks"):
            merged[-1] = {**merged[-1], "text": merged[-1]["text"] + node["text"]}
        else:
            merged.append(node)
    return merged


def _paragraph(content: list[Node]) -> list[Node]:
    return [{"type": "paragraph", "content": content}] if content else []


def story_description(story: UserStory, prd_title: str, link: str | None) -> Node:
    """The issue's description: the story, its acceptance criteria, and where it comes from."""
    content = _paragraph(inline_nodes(story.title))
    items = [
        {"type": "listItem", "content": paragraph} for c in story.criteria if (paragraph := _paragraph(inline_nodes(c)))
    ]
    if items:
        content.append({"type": "heading", "attrs": {"level": 3}, "content": _text("Acceptance criteria")})
        content.append({"type": "bulletList", "content": items})
    title = _one_line(prd_title)
    source: tuple[Node, ...] = ({"type": "link", "attrs": {"href": link}},) if link else ()
    if source and title:
        content += _paragraph([*_text("From the PRD "), *_text(title, source)])
    else:  # the whole sentence links when the PRD has no title
        content += _paragraph(_text(f"From the PRD {title}".rstrip(), source))
    return {"type": "doc", "version": 1, "content": content}


def _utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def summary(title: str) -> str:
    """The story's title as an issue's summary: plain text (its inline markdown dropped), one line,
    at most ``MAX_SUMMARY_CHARS``, cut at a word with "…" when longer."""
    text = _one_line("".join(node["text"] for node in inline_nodes(title))) or _one_line(title)
    if sum(map(_utf16_units, text)) <= MAX_SUMMARY_CHARS:
        return text
    budget, cut = MAX_SUMMARY_CHARS - len(_ELLIPSIS), 0
    for char in text:
        budget -= _utf16_units(char)
        if budget < 0:
            break
        cut += 1
    if text[cut] != " ":
        space = text.rfind(" ", 0, cut)
        cut = space if space > cut // 2 else cut  # a word longer than half the summary is cut inside
    return text[:cut].rstrip() + _ELLIPSIS


def issue_fields(
    story: UserStory, project_key: str, issue_type: str, label: str, prd_title: str, link: str | None
) -> Node:
    """The ``fields`` of the issue that stands for ``story`` (to create it, or to edit it)."""
    return {
        "project": {"key": project_key},
        "summary": summary(story.title),
        "issuetype": {"name": issue_type},
        "description": story_description(story, prd_title, link),
        "labels": [label],
    }


def edit_fields(fields: Node) -> Node:
    """The fields that update an issue made from ``fields``: all but its project (an issue stays
    where it is) and its labels (the ones people gave it in Jira stay; the sync adds its own)."""
    return {name: value for name, value in fields.items() if name not in ("project", "labels")}


def _print(value: Any) -> str:
    return hashlib.blake2b(json.dumps(value, sort_keys=True, ensure_ascii=False).encode(), digest_size=8).hexdigest()


def sent_print(fields: Node) -> str:
    """16 hex digits standing for what an update would send (``edit_fields``)."""
    return _print(edit_fields(fields))


# The attributes that hold what an inline node says (Atlassian Document Format); a mention by the
# account's id, which stays when the person is renamed.
_WORDS_IN_ATTRS = {
    "mention": ("id",),
    "emoji": ("shortName",),
    "inlineCard": ("url",),
    "blockCard": ("url",),
    "embedCard": ("url",),
    "date": ("timestamp",),
    "status": ("text",),
    "media": ("id", "url"),
}


def _words(node: Any, into: list[str]) -> None:
    if isinstance(node, list):
        for child in node:
            _words(child, into)
    elif isinstance(node, dict):
        if node.get("type") == "text":
            into.append(str(node.get("text") or ""))
            return
        into.append(" ")  # a block, a break or an inline node: words apart
        attrs = node.get("attrs")
        if isinstance(attrs, dict):  # what an inline node stands for: a link card, a date, a status...
            into.extend(f" {attrs[name]} " for name in _WORDS_IN_ATTRS.get(str(node.get("type")), ()) if name in attrs)
        _words(node.get("content"), into)
        into.append(" ")


def words_print(summary_text: str | None, description: Any) -> str:
    """16 hex digits standing for an issue's words: its summary and the text of its description
    (an Atlassian Document, or None), whitespace normalized; marks, attributes and how the text
    is cut into nodes make no difference."""
    found: list[str] = []
    _words(description, found)
    return _print([_one_line(summary_text or ""), _one_line("".join(found))])


def sync_label(prd_id: str) -> str:
    """The label on every issue synced from the PRD: ``prdtool-<prd id>``. Jira's labels have no
    spaces and at most ``MAX_LABEL_CHARS``: an id with whitespace has it made ``_``, one too long is
    cut, and then a hash of the whole id follows, so two ids never share a label."""
    if not prd_id.strip():
        raise ValueError("a PRD id is needed for its label")
    safe = "_".join(prd_id.split())
    label = LABEL_PREFIX + safe
    if safe == prd_id and len(label) <= MAX_LABEL_CHARS:
        return label
    digest = "-" + hashlib.blake2b(prd_id.encode(), digest_size=4).hexdigest()
    return label[: MAX_LABEL_CHARS - len(digest)] + digest
