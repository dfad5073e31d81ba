"""The document engine: client ops in, Yjs updates out, and updates back as applied ops."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prdtool.crdt import ClientOp, Document, EditError, client_id_for


def doc(content: str, client: str = "a") -> Document:
    return Document.with_content(content, client_id_for("prd_1", client))


def test_client_ids_are_stable_per_document_and_key() -> None:
    assert client_id_for("prd_1", "user_1") == client_id_for("prd_1", "user_1")
    assert len({client_id_for("prd_1", f"user_{i}") for i in range(1000)}) == 1000
    assert client_id_for("prd_1", "user_1") != client_id_for("prd_2", "user_1")


def test_insert_delete_format_in_utf16_units_with_emoji() -> None:
    d = doc("a😀b")
    d.edit([ClientOp("insert", 3, content="X")], "utf-16")  # after the emoji (2 UTF-16 units)
    assert d.content == "a😀Xb"
    d.edit([ClientOp("delete", 1, length=2)], "utf-16")
    assert d.content == "aXb"
    d.edit([ClientOp("format", 0, length=2, attributes={"bold": True})], "utf-16")
    assert d.text.diff() == [("aX", {"bold": True}), ("b", None)]
    d.edit([ClientOp("retain", 2, length=1, attributes={"italic": True})], "utf-16")
    assert d.text.diff()[-1] == ("b", {"italic": True})


def test_a_batch_counts_each_position_in_the_text_the_previous_ops_left() -> None:
    d = doc("hello world")
    d.edit([ClientOp("delete", 6, length=5), ClientOp("insert", 6, content="there 中文")], "utf-16")
    assert d.content == "hello there 中文"


@pytest.mark.parametrize(
    "ops",
    [
        [ClientOp("insert", 10, content="x")],  # past the end
        [ClientOp("insert", 2, content="x")],  # inside the emoji's surrogate pair
        [ClientOp("delete", 0, length=9)],
        [ClientOp("insert", 0, content="")],
        [ClientOp("delete", 0)],
        [ClientOp("format", 0, length=1)],
        [ClientOp("insert", 0, content="ok"), ClientOp("delete", 3, length=9)],  # the second op spoils the batch
    ],
)
def test_ops_that_do_not_fit_change_nothing(ops: list[ClientOp]) -> None:
    d = doc("a😀b")
    before = d.state()
    with pytest.raises(EditError):
        d.edit(ops, "utf-16")
    assert d.state() == before and d.content == "a😀b"


def test_applying_an_update_reports_the_ops_in_both_units() -> None:
    server, author = doc("a😀b", "server"), Document(client_id_for("prd_1", "author"))
    author.doc.apply_update(server.state())
    update = author.edit([ClientOp("insert", 3, content="中"), ClientOp("delete", 4, length=1)], "utf-16")
    applied = server.apply(update)
    assert server.content == "a😀中"
    assert [op.as_client_op("utf-16") for op in applied] == [
        {"type": "insert", "position": 3, "content": "中"},
        {"type": "delete", "position": 4, "length": 1},
    ]
    assert [op.as_client_op("utf-32") for op in applied] == [
        {"type": "insert", "position": 2, "content": "中"},
        {"type": "delete", "position": 3, "length": 1},
    ]
    assert server.apply(update) == []  # applying it again changes nothing


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=20), st.lists(st.tuples(st.integers(0, 40), st.text(min_size=1, max_size=4)), max_size=6))
def test_replaying_applied_ops_on_a_plain_string_gives_the_server_text(start: str, inserts: list) -> None:
    """What a plain client does with operation:applied: splice the ops into its own copy."""
    server = doc(start, "server")
    mirror = server.content
    for pos, content in inserts:
        editor = Document(client_id_for("prd_1", "e"))
        editor.doc.apply_update(server.state())
        position = min(pos, len(editor.content))
        update = editor.edit([ClientOp("insert", position, content=content)], "utf-32")
        for op in server.apply(update):
            mirror = (
                mirror[: op.position32]
                + (op.content or "")
                + mirror[op.position32 + (0 if op.content else op.length32) :]
            )
    assert mirror == server.content


def test_from_updates_rebuilds_the_same_text() -> None:
    d = doc("abc")
    updates = [d.state()]
    sv = d.state_vector()
    d.edit([ClientOp("insert", 3, content="def")], "utf-16")
    updates.append(d.update_since(sv))
    assert Document.from_updates(updates).content == "abcdef"
    with pytest.raises(EditError):
        d.edit([ClientOp("delete", 0, length=7)], "utf-32")


def test_updates_touching_other_types_or_adding_embeds_are_refused() -> None:
    from pycrdt import Map

    for make in (
        lambda d: d.doc.get("other", type=Map).__setitem__("x", 1),
        lambda d: d.text.insert_embed(1, {"image": "x.png"}),
    ):
        server, client = doc("abc"), Document(7)
        client.doc.apply_update(server.state())
        before = client.state_vector()
        make(client)
        with pytest.raises(EditError):
            server.apply(client.update_since(before))


def test_content_follows_updates_applied_straight_to_the_doc() -> None:
    # Content is kept between reads; however the Doc changes, a read sees the change.
    doc = Document(client_id=1)
    other = Document(client_id=2)
    assert doc.content == ""
    other.edit([ClientOp("insert", 0, content="hello world")], "utf-16")
    doc.doc.apply_update(other.state())  # behind the Document's back
    assert doc.content == "hello world"
    sv = other.state_vector()
    other.edit([ClientOp("delete", 0, length=6)], "utf-16")  # a delete: the state vector stays
    doc.doc.apply_update(other.update_since(sv))
    assert doc.content == "world"
    other.edit([ClientOp("delete", 0, length=1), ClientOp("insert", 0, content="W")], "utf-16")  # same length
    doc.apply(other.update_since(doc.state_vector()))
    assert doc.content == "World" == other.content
    doc.text.insert(5, "!")  # straight on the Text
    assert doc.content == "World!"
