"""Anchors inside the CRDT (Yjs relative positions): a place sticks to its character through any
edit from any replica, in text with multi-byte characters too (where pycrdt's own index
conversion is wrong, y-crdt/pycrdt#382)."""

from __future__ import annotations

import random

import pytest
from pycrdt import Assoc, StickyIndex

from prdtool.engine.anchors import anchors_at, indexes_of_anchors
from prdtool.engine.crdt import ClientOp, Document
from prdtool.engine.positions import byte_offset


def _doc(text: str, client: int = 1) -> Document:
    return Document.with_content(text, client)


def _replica(of: Document, client: int) -> Document:
    other = Document(client_id=client)
    other.apply_update(of.state())
    return other


def _insert(document: Document, index: int, text: str) -> None:
    document.edit([ClientOp("insert", index, content=text)], "utf-32")


def _delete(document: Document, start: int, end: int) -> None:
    document.edit([ClientOp("delete", start, length=end - start)], "utf-32")


def _sync(into: Document, source: Document) -> None:
    into.apply_update(source.update_since(into.state_vector()))


@pytest.mark.parametrize("text", ["plain ascii text", "héllo wörld 😀 ok", "😀😀😀abc", "中文的文本\n第二行"])
def test_an_anchor_is_where_it_was_made(text: str) -> None:
    document = _doc(text)
    indexes = list(range(len(text) + 1))
    assert indexes_of_anchors(document, anchors_at(document, indexes)) == indexes


def test_pycrdt_alone_names_the_wrong_character_after_a_multi_byte_one() -> None:
    # Why anchors_at does not simply call sticky_index: this is what it works around.
    document = _doc("😀é b")  # "b" is Yjs clock 4: 😀 counts two units, é and the space one each
    naive = document.text.sticky_index(byte_offset(document.content, 3), Assoc.AFTER)
    assert naive.to_json()["item"]["clock"] != 4
    [ours] = anchors_at(document, [3])
    assert StickyIndex.decode(ours, document.text).to_json()["item"]["clock"] == 4
    assert indexes_of_anchors(document, [ours]) == [3]


def test_a_selection_follows_inserts_before_inside_and_after_it() -> None:
    document = _doc("Intro. The login flow needs 2FA. Outro.")
    start, end = 7, 32  # "The login flow needs 2FA."
    anchors = anchors_at(document, [start, end])
    other = _replica(document, 2)
    _insert(other, 0, "Ünïcödé 😀 preface. ")  # before
    _insert(other, other.content.index("login ") + 6, "✨ ")  # inside
    _insert(other, len(other.content), " Appendix 😀.")  # after
    _sync(document, other)
    new_start, new_end = indexes_of_anchors(document, anchors)
    assert document.content[new_start:new_end] == "The login ✨ flow needs 2FA."


def test_text_typed_at_the_selections_start_stays_outside_and_at_its_end_joins() -> None:
    document = _doc("aaa[sel]bbb")
    anchors = anchors_at(document, [3, 8])
    _insert(document, 8, "+")
    _insert(document, 3, "-")
    start, end = indexes_of_anchors(document, anchors)
    assert document.content[start:end] == "[sel]+"


def test_deletes_before_and_inside_shrink_and_move_the_selection() -> None:
    document = _doc("0123456789[selected text]tail")
    anchors = anchors_at(document, [10, 25])
    other = _replica(document, 2)
    _delete(other, 2, 6)  # before
    _delete(other, 6 + 1, 6 + 10)  # "selected " inside
    _sync(document, other)
    start, end = indexes_of_anchors(document, anchors)
    assert document.content[start:end] == "[text]"


def test_a_selection_whose_text_is_deleted_collapses_where_it_was() -> None:
    document = _doc("keep [gone entirely] keep")
    anchors = anchors_at(document, [5, 20])
    _delete(document, 4, 21)
    start, end = indexes_of_anchors(document, anchors)
    assert start == end == 4
    assert document.content == "keepkeep"


def test_anchors_survive_a_reload_from_the_encoded_state() -> None:
    document = _doc("ab😀cd")
    anchors = anchors_at(document, [3, 5])
    _delete(document, 0, 1)
    reloaded = Document.from_updates([document.state()])
    assert indexes_of_anchors(reloaded, anchors) == [2, 4]


def test_an_anchor_at_the_end_follows_the_end() -> None:
    document = _doc("abc")
    [end] = anchors_at(document, [3])
    _insert(document, 3, "def")
    assert indexes_of_anchors(document, [end]) == [6]


def test_an_anchor_of_another_document_is_unknown_not_a_crash() -> None:
    mine, theirs = _doc("abcdef", client=5), _doc("abcdef", client=6)
    [foreign] = anchors_at(theirs, [2])
    assert indexes_of_anchors(mine, [foreign]) == [None]


def test_anchors_are_yjs_relative_positions() -> None:
    document = _doc("é😀xyz")
    [anchor] = anchors_at(document, [2])  # at "x": after é (1 unit) and 😀 (2 units)
    assert StickyIndex.decode(anchor, document.text).to_json() == {"item": {"client": 1, "clock": 3}, "assoc": 0}


def test_random_edits_from_two_replicas_keep_every_surviving_anchor_on_its_character() -> None:
    rng = random.Random(12)
    pool = iter(
        chr(c) for c in [*range(0x41, 0x5B), *range(0xE0, 0x100), *range(0x4E00, 0x5E00), *range(0x1F600, 0x1F650)]
    )
    for _ in range(40):
        text = "".join(next(pool) for _ in range(rng.randint(5, 15)))
        document = _doc(text)
        marked = rng.sample(range(len(text)), 3)
        anchors = anchors_at(document, marked)
        other = _replica(document, 2)
        for _ in range(rng.randint(1, 6)):
            for replica in (document, other):
                size = len(replica.content)
                if size > 2 and rng.random() < 0.4:
                    start = rng.randrange(size - 1)
                    _delete(replica, start, min(size, start + rng.randint(1, 3)))
                else:
                    _insert(replica, rng.randint(0, size), "".join(next(pool) for _ in range(rng.randint(1, 3))))
            _sync(document, other)
            _sync(other, document)
        assert document.content == other.content
        now = document.content
        for index, where in zip(marked, indexes_of_anchors(document, anchors), strict=True):
            character = text[index]
            assert where is not None
            if character in now:
                assert where == now.index(character)
            else:  # deleted: between the surviving neighbours it had
                left = [now.index(c) for c in text[:index] if c in now]
                right = [now.index(c) for c in text[index + 1 :] if c in now]
                assert (max(left) + 1 if left else 0) <= where <= (min(right) if right else len(now))


def test_an_unknown_anchor_does_not_move_the_others() -> None:
    mine, theirs = _doc("abcdefgh", client=6), _doc("zzzz", client=5)  # its id sorts first
    [foreign] = anchors_at(theirs, [1])
    known = anchors_at(mine, [2, 6])
    assert indexes_of_anchors(mine, [foreign, *known]) == [None, 2, 6]
