"""The sentences of a PRD's prose, which the vague-wording and contradiction rules judge one at a time:
paragraphs and list items split at ``.``, ``!`` and ``?`` (not after "e.g." and the like), a table row
as one sentence.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator

from prdtool.features.ai.review_rules.document import WORD, Document

__all__ = ["in_sentences", "sentence_spans"]

_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_ABBREVIATIONS = frozenset({"e.g", "i.e", "vs", "approx", "incl", "cf", "etc"})  # "etc." rarely ends one


def _blocks(doc: Document) -> list[tuple[int, int, bool]]:
    """Paragraphs and list items outside code and headings: (start of the text after any list marker,
    end, whether it is a table row)."""
    blocks: list[list[int]] = []
    for line, previous in zip(doc.lines, [None, *doc.lines[:-1]], strict=True):
        if line.kind in ("blank", "code", "heading"):
            continue
        if line.kind == "item" or previous is None or previous.kind in ("blank", "code", "heading"):
            blocks.append([line.content, line.end, doc.is_row(line)])
        else:
            blocks[-1][1] = line.end  # a paragraph's next line
    return [(start, end, bool(row)) for start, end, row in blocks]


def _ends_abbreviation(text: str) -> bool:
    """Whether the text before a full stop ends with "e.g" and the like, which end no sentence."""
    last = text.rsplit(None, 1)[-1:]
    return bool(last) and last[0].lstrip("(").lower() in _ABBREVIATIONS


def sentence_spans(doc: Document) -> list[tuple[int, int]]:
    """The spans of the prose's sentences, stripped; a table row is one, without its outer pipes."""
    pieces = []
    for start, end, row in _blocks(doc):
        begin = start
        for stop in _SENTENCE_END.finditer(doc.prose, start, end):
            if not _ends_abbreviation(doc.prose[max(begin, stop.start() - 8) : stop.start()]):
                pieces.append((begin, stop.end()))
                begin = stop.end()
        pieces.append((begin, begin + len(doc.prose[begin:end].rstrip().rstrip("|")) if row else end))
    spans = []
    for start, end in pieces:
        piece = doc.prose[start:end]
        if WORD.search(piece):
            offset = start + len(piece) - len(piece.lstrip())
            spans.append((offset, offset + len(piece.strip())))
    return spans


def in_sentences(spans: list[tuple[int, int]], matches: Iterator[re.Match[str]]) -> Iterator[tuple[int, re.Match[str]]]:
    """The matches that lie in a sentence, with the sentence's index (one scan of the text, not one per sentence)."""
    starts = [start for start, _ in spans]
    for match in matches:
        i = bisect_right(starts, match.start()) - 1
        if i >= 0 and match.end() <= spans[i][1]:
            yield i, match
