"""The document engine: client ops in, Yjs updates out, and updates back as applied ops."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Array, Decoder, Doc, Map, Text, get_state

from prdtool.engine.crdt import (
    MAX_ATTRIBUTES,
    AppliedOp,
    ClientOp,
    Document,
    EditError,
    check_op,
    client_id_for,
    splice,
)
from prdtool.engine.positions import PositionEncoding


def doc(content: str, client: str = "a") -> Document:
    return Document.with_content(content, client_id_for("prd_1", client))


def copy_of(document: Document, client: str = "b") -> Document:
    """Another replica holding what ``document`` holds."""
    return Document.from_updates([document.state()], client_id_for("prd_1", client))


def clients_in(update: bytes) -> dict[int, int]:
    """The Yjs client ids whose inserts an update carries, with how many items each (its state vector)."""
    decoder = Decoder(get_state(update))
    return {decoder.read_var_uint(): decoder.read_var_uint() for _ in range(decoder.read_var_uint())}


def refusal(document: Document, ops: list[ClientOp], encoding: PositionEncoding = "utf-16") -> str:
    """The message of the EditError an edit is refused with; the document must be left as it was."""
    before, text = document.state(), document.content
    with pytest.raises(EditError) as info:
        document.edit(ops, encoding)
    assert document.state() == before and document.content == text
    return str(info.value)


def test_client_ids_are_stable_per_document_and_key() -> None:
    # The same on every run, machine and deploy: the log's updates carry the ids made before.
    assert client_id_for("prd_1", "user_1") == 39997724
    assert client_id_for("prd_1", "server") == 989733297
    ids = {client_id_for("prd_1", f"user_{i}") for i in range(1000)}
    assert len(ids) == 1000
    assert all(0 < i < 2**32 for i in ids)  # a Yjs client id is a 32-bit unsigned integer
    assert client_id_for("prd_1", "user_1") != client_id_for("prd_2", "user_1")


def test_a_document_writes_its_client_id_into_what_it_inserts() -> None:
    assert clients_in(Document.with_content("abc", 6).state()) == {6: 3}
    assert clients_in(Document(5).edit([ClientOp("insert", 0, content="hi")], "utf-16").update) == {5: 2}
    replica = Document.from_updates([Document.with_content("abc", 6).state()], client_id=8)
    assert clients_in(replica.edit([ClientOp("insert", 3, content="d")], "utf-16").update) == {8: 1}
    assert clients_in(replica.state()) == {6: 3, 8: 1}


@pytest.mark.parametrize(("x_id", "y_id", "merged"), [(1, 2, "aXYb"), (2, 1, "aYXb")])
def test_concurrent_inserts_at_one_place_are_ordered_by_client_id(x_id: int, y_id: int, merged: str) -> None:
    base = Document.with_content("ab", 5)
    x = Document.from_updates([base.state()], x_id).edit([ClientOp("insert", 1, content="X")], "utf-16").update
    y = Document.from_updates([base.state()], y_id).edit([ClientOp("insert", 1, content="Y")], "utf-16").update
    for first, second in ((x, y), (y, x)):
        server = Document.from_updates([base.state()], 5)
        server.apply(first)
        server.apply(second)
        assert server.content == merged


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
    ("ops", "encoding", "message"),
    [
        ([ClientOp("insert", 10, content="x")], "utf-16", "operation: position 10 is past the end (4) (text length 4)"),
        ([ClientOp("insert", 4, content="x")], "utf-32", "operation: position 4 is past the end (3) (text length 3)"),
        ([ClientOp("insert", 2, content="x")], "utf-16", "operation: position 2 is inside a character (text length 4)"),
        ([ClientOp("delete", 0, length=9)], "utf-16", "operation: position 9 is past the end (4) (text length 4)"),
        ([ClientOp("delete", 1, length=3)], "utf-32", "operation: position 4 is past the end (3) (text length 3)"),
        (
            [ClientOp("format", 0, length=2, attributes={"b": True})],
            "utf-16",
            "operation: position 2 is inside a character (text length 4)",
        ),
        ([ClientOp("insert", -1, content="x")], "utf-32", "operation: position -1 is negative (text length 3)"),
        ([ClientOp("format", 0, length=1)], "utf-16", "operation: format needs attributes"),
        # The second op spoils the batch; it is counted in the text the first one left.
        (
            [ClientOp("insert", 0, content="ok"), ClientOp("delete", 3, length=9)],
            "utf-16",
            "operation 1: position 12 is past the end (6) (text length 6)",
        ),
        (
            [ClientOp("delete", 0, length=1), ClientOp("insert", 3, content="x")],
            "utf-32",
            "operation 1: position 3 is past the end (2) (text length 2)",
        ),
        (
            [ClientOp("insert", 1, content="x"), ClientOp("format", 0, length=1), ClientOp("delete", 0, length=1)],
            "utf-16",
            "operation 1: format needs attributes",
        ),
        (
            [ClientOp("insert", 1, content="\ud83d"), ClientOp("delete", 0, length=1)],
            "utf-16",
            "operation 0: content is not valid Unicode text (it holds a lone surrogate)",
        ),
    ],
)
def test_ops_that_do_not_fit_change_nothing(ops: list[ClientOp], encoding: PositionEncoding, message: str) -> None:
    assert refusal(doc("a😀b"), ops, encoding) == message


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([ClientOp("insert", 0, content="")], "operation: insert needs non-empty content"),
        ([ClientOp("insert", 0)], "operation: insert needs non-empty content"),
        ([ClientOp("delete", 0)], "operation: delete needs a length"),
        ([ClientOp("retain", 0, attributes={"b": True})], "operation: retain needs a length"),
        (
            [ClientOp("insert", 0, content="x"), ClientOp("insert", 0, content="")],
            "operation 1: insert needs non-empty content",
        ),
    ],
)
def test_an_op_missing_its_content_or_length_is_refused(ops: list[ClientOp], message: str) -> None:
    assert refusal(doc("a😀b"), ops) == message


def test_applying_an_update_reports_the_ops_in_both_units() -> None:
    server, author = doc("a😀b", "server"), Document(client_id_for("prd_1", "author"))
    author.apply_update(server.state())
    update = author.edit([ClientOp("insert", 3, content="中"), ClientOp("delete", 4, length=1)], "utf-16").update
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
        editor.apply_update(server.state())
        position = min(pos, len(editor.content))
        update = editor.edit([ClientOp("insert", position, content=content)], "utf-32").update
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


def test_content_follows_every_update_applied_to_the_document() -> None:
    # Content is kept between reads; whatever changes the Doc (through Document), a read sees it.
    doc = Document(client_id=1)
    other = Document(client_id=2)
    assert doc.content == "" and doc.byte_length == 0
    other.edit([ClientOp("insert", 0, content="hello wörld")], "utf-16")
    doc.apply_update(other.state())
    assert doc.content == "hello wörld" and doc.byte_length == 12
    sv = other.state_vector()
    other.edit([ClientOp("delete", 0, length=6)], "utf-16")  # a delete: the state vector stays
    doc.apply_update(other.update_since(sv))
    assert doc.content == "wörld" and doc.byte_length == 6
    other.edit([ClientOp("delete", 0, length=1), ClientOp("insert", 0, content="W")], "utf-16")  # same length
    doc.apply(other.update_since(doc.state_vector()))
    assert doc.content == "Wörld" == other.content
    doc.edit([ClientOp("insert", 5, content="!😀")], "utf-16")
    assert doc.content == "Wörld!😀" == str(doc.text) and doc.byte_length == len(doc.text) == 11


def test_edit_sends_only_what_the_other_side_lacks() -> None:
    d = doc("hello")
    replica = copy_of(d)
    edit = d.edit([ClientOp("insert", 5, content=" world")], "utf-16")
    # The update builds on "hello" and does not send it again: alone it shows nothing yet.
    assert Document.from_updates([edit.update]).content == ""
    assert replica.apply(edit.update) == [AppliedOp("insert", 5, 6, 5, 6, content=" world")]
    assert replica.content == "hello world"


TEXT = "a😀bc😀de"  # each emoji is 2 UTF-16 units and 1 code point
BATCH16 = [
    ClientOp("format", 3, length=2, attributes={"bold": True}),  # "bc"
    ClientOp("insert", 5, content="中", attributes={"italic": True}),  # before the second emoji
    ClientOp("delete", 8, length=1),  # "d"
    ClientOp("insert", 9, content="Z"),  # at the end
]
BATCH32 = [
    ClientOp("format", 2, length=2, attributes={"bold": True}),
    ClientOp("insert", 4, content="中", attributes={"italic": True}),
    ClientOp("delete", 6, length=1),
    ClientOp("insert", 7, content="Z"),
]
# Each at the position it took effect, in the text the ops before it left.
BATCH_APPLIED = [
    AppliedOp("format", 3, 2, 2, 2, attributes={"bold": True}),
    AppliedOp("insert", 5, 1, 4, 1, content="中", attributes={"italic": True}),
    AppliedOp("delete", 8, 1, 6, 1),
    AppliedOp("insert", 9, 1, 7, 1, content="Z"),
]
BATCH_DIFF = [("a😀", None), ("bc", {"bold": True}), ("中", {"italic": True}), ("😀eZ", None)]


@pytest.mark.parametrize(("ops", "encoding"), [(BATCH16, "utf-16"), (BATCH32, "utf-32")])
def test_a_batch_reports_each_op_in_both_units(ops: list[ClientOp], encoding: PositionEncoding) -> None:
    d = doc(TEXT)
    assert d.edit(ops, encoding).applied == BATCH_APPLIED
    assert d.content == "a😀bc中😀eZ" == str(d.text)
    assert d.text.diff() == BATCH_DIFF


def test_applying_a_remote_batch_reports_its_formats_inserts_and_deletes_with_their_attributes() -> None:
    server = doc(TEXT, "server")
    update = copy_of(server, "author").edit(BATCH16, "utf-16").update
    assert server.apply(update) == BATCH_APPLIED
    assert server.content == "a😀bc中😀eZ"
    assert server.text.diff() == BATCH_DIFF
    assert [op.as_client_op("utf-16") for op in BATCH_APPLIED] == [
        {"type": "format", "position": 3, "length": 2, "attributes": {"bold": True}},
        {"type": "insert", "position": 5, "content": "中", "attributes": {"italic": True}},
        {"type": "delete", "position": 8, "length": 1},
        {"type": "insert", "position": 9, "content": "Z"},
    ]
    assert [op.as_client_op("utf-32") for op in BATCH_APPLIED] == [
        {"type": "format", "position": 2, "length": 2, "attributes": {"bold": True}},
        {"type": "insert", "position": 4, "content": "中", "attributes": {"italic": True}},
        {"type": "delete", "position": 6, "length": 1},
        {"type": "insert", "position": 7, "content": "Z"},
    ]


@pytest.mark.parametrize(
    ("ops", "encoding"),
    [
        ([ClientOp("delete", 2, length=2), ClientOp("format", 3, length=3, attributes={"u": "x"})], "utf-16"),
        ([ClientOp("delete", 2, length=1), ClientOp("format", 3, length=2, attributes={"u": "x"})], "utf-32"),
    ],
)
def test_deletes_and_formats_over_emoji_in_the_middle(ops: list[ClientOp], encoding: PositionEncoding) -> None:
    d = doc("ab😀cd😀ef")
    replica = copy_of(d)
    edit = d.edit(ops, encoding)
    applied = [AppliedOp("delete", 2, 2, 2, 1), AppliedOp("format", 3, 3, 3, 2, attributes={"u": "x"})]
    assert edit.applied == applied
    assert [op.as_client_op("utf-16") for op in applied] == [
        {"type": "delete", "position": 2, "length": 2},
        {"type": "format", "position": 3, "length": 3, "attributes": {"u": "x"}},
    ]
    assert [op.as_client_op("utf-32") for op in applied] == [
        {"type": "delete", "position": 2, "length": 1},
        {"type": "format", "position": 3, "length": 2, "attributes": {"u": "x"}},
    ]
    assert d.content == "abcd😀ef"
    assert d.text.diff() == [("abc", None), ("d😀", {"u": "x"}), ("ef", None)]
    assert replica.apply(edit.update) == applied
    assert replica.text.diff() == d.text.diff()


def test_a_format_covers_its_range_only() -> None:
    d = doc("hello world")
    d.edit([ClientOp("format", 6, length=5, attributes={"bold": True})], "utf-16")
    assert d.text.diff() == [("hello ", None), ("world", {"bold": True})]
    d.edit([ClientOp("retain", 1, length=2, attributes={"italic": True})], "utf-32")
    assert d.text.diff() == [("h", None), ("el", {"italic": True}), ("lo ", None), ("world", {"bold": True})]


def test_inserts_carry_their_attributes() -> None:
    d = doc("ab")
    edit = d.edit(
        [ClientOp("insert", 1, content="B", attributes={"bold": True}), ClientOp("insert", 0, content="x")], "utf-16"
    )
    assert edit.applied == [
        AppliedOp("insert", 1, 1, 1, 1, content="B", attributes={"bold": True}),
        AppliedOp("insert", 0, 1, 0, 1, content="x"),
    ]
    assert d.text.diff() == [("xa", None), ("B", {"bold": True}), ("b", None)]
    # Empty attributes are no attributes: nothing to report.
    assert d.edit([ClientOp("insert", 0, content="y", attributes={})], "utf-16").applied == [
        AppliedOp("insert", 0, 1, 0, 1, content="y")
    ]


def test_a_zero_length_op_does_not_end_the_batch() -> None:
    d = doc("abc")
    edit = d.edit(
        [
            ClientOp("delete", 1, length=0),
            ClientOp("format", 1, length=0, attributes={"bold": True}),
            ClientOp("insert", 0, content="x"),
            ClientOp("delete", 1, length=0),
            ClientOp("delete", 3, length=1),
        ],
        "utf-16",
    )
    assert edit.applied == [AppliedOp("insert", 0, 1, 0, 1, content="x"), AppliedOp("delete", 3, 1, 3, 1)]
    assert d.content == "xab" == str(d.text)
    assert d.text.diff() == [("xab", None)]


def test_a_retain_without_attributes_changes_nothing() -> None:
    d = doc("abc")
    before = d.state()
    assert d.edit([ClientOp("retain", 0, length=3)], "utf-16").applied == []
    assert d.state() == before and d.content == "abc"


ACCEPTED: list[dict[str, Any]] = [
    {"n": 2**53 - 1, "m": -(2**53 - 1), "f": 1.5, "z": None, "t": True, "s": "中😀"},
    {"a": [[[1]]]},  # three levels of lists or objects inside an attribute
    {"a": {"b": {"c": {"d": "e"}}}},
    {"a": [{"b": [None, False, "x"]}]},
    {f"k{i}": True for i in range(MAX_ATTRIBUTES)},
]


@pytest.mark.parametrize("attributes", ACCEPTED)
def test_attributes_within_the_limits_are_kept(attributes: dict[str, Any]) -> None:
    d = doc("abc")
    edit = d.edit([ClientOp("format", 0, length=1, attributes=attributes)], "utf-16")
    assert edit.applied == [AppliedOp("format", 0, 1, 0, 1, attributes=attributes)]
    kept = {name: value for name, value in attributes.items() if value is not None}  # null removes one
    assert d.text.diff() == [("a", kept), ("bc", None)]


LONE = "\ud800"
UNICODE = "is not valid Unicode text (it holds a lone surrogate)"


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({LONE: True}, f"an attribute name {UNICODE}"),
        ({"a": "x" + LONE}, f"attribute 'a' {UNICODE}"),
        ({"a": {"b" + LONE: 1}}, f"attribute 'a' {UNICODE}"),
        ({"a": {"b": ["x", LONE]}}, f"attribute 'a' {UNICODE}"),
        ({"a": 2**53}, "attribute 'a': integers must lie within ±(2**53 - 1)"),
        ({"a": [-(2**53)]}, "attribute 'a': integers must lie within ±(2**53 - 1)"),
        ({"a": float("nan")}, "attribute 'a': numbers must be finite"),
        ({"a": {"b": float("inf")}}, "attribute 'a': numbers must be finite"),
        ({"a": [float("-inf")]}, "attribute 'a': numbers must be finite"),
        ({"a": [[[[1]]]]}, "attribute 'a': nested deeper than 4 levels"),
        ({"a": {"b": {"c": {"d": {}}}}}, "attribute 'a': nested deeper than 4 levels"),
        ({"a": (1, 2)}, "attribute 'a': not a JSON value"),
        ({"a": [b"x"]}, "attribute 'a': not a JSON value"),
        ({f"k{i}": True for i in range(MAX_ATTRIBUTES + 1)}, "at most 32 attributes"),
    ],
)
def test_attributes_no_yjs_peer_can_read_back_are_refused(attributes: dict[str, Any], message: str) -> None:
    with pytest.raises(EditError) as info:
        check_op(ClientOp("format", 0, length=1, attributes=attributes))
    assert str(info.value) == message
    assert refusal(doc("abc"), [ClientOp("format", 0, length=1, attributes=attributes)]) == f"operation: {message}"
    insert = ClientOp("insert", 0, content="x", attributes=attributes)
    assert refusal(doc("abc"), [ClientOp("insert", 0, content="x"), insert]) == f"operation 1: {message}"


def test_text_with_a_lone_surrogate_is_refused() -> None:
    assert refusal(doc("abc"), [ClientOp("insert", 1, content="x\udc00")]) == f"operation: content {UNICODE}"
    with pytest.raises(EditError) as info:
        Document.with_content("ab\ud83d", 1)
    assert str(info.value) == f"content {UNICODE}"
    assert Document.with_content("", 1).content == ""


def test_splice_gives_the_text_after_the_ops() -> None:
    d = doc(TEXT)
    edit = d.edit(BATCH16, "utf-16")
    assert splice(TEXT, edit.applied) == d.content == "a😀bc中😀eZ"
    # A format changes no character; an insert of nothing adds none.
    assert (
        splice("abc", [AppliedOp("format", 0, 3, 0, 3, attributes={"b": True}), AppliedOp("insert", 1, 0, 1, 0, "")])
        == "abc"
    )


def test_apply_known_keeps_the_text_without_reading_the_doc(monkeypatch: pytest.MonkeyPatch) -> None:
    author = doc(TEXT, "author")
    replica = copy_of(author, "replica")
    assert replica.content == TEXT
    edit = author.edit(BATCH16, "utf-16")
    reads: list[str] = []
    read = Text.__str__
    monkeypatch.setattr(Text, "__str__", lambda text: reads.append("read") or read(text))
    replica.apply_known(edit.update, edit.applied)
    assert replica.content == "a😀bc中😀eZ"
    later = author.edit([ClientOp("delete", 0, length=3)], "utf-16")
    assert replica.apply(later.update) == later.applied  # apply keeps the text it worked out too
    assert replica.content == "bc中😀eZ"
    assert reads == []
    monkeypatch.undo()
    assert str(replica.text) == "bc中😀eZ"


def test_apply_known_splices_only_a_text_it_still_holds() -> None:
    author = doc("abc", "author")
    replica = copy_of(author, "replica")
    assert replica.content == "abc"
    first = author.edit([ClientOp("insert", 0, content="X")], "utf-16")
    replica.apply_update(first.update)  # its effect not told: "abc" is not spliced into any more
    second = author.edit([ClientOp("insert", 4, content="Y")], "utf-16")
    replica.apply_known(second.update, second.applied)
    assert replica.content == "XabcY" == str(replica.text)
    fresh = Document.from_updates([author.state()])  # never read: nothing kept to splice
    third = author.edit([ClientOp("delete", 0, length=1)], "utf-16")
    fresh.apply_known(third.update, third.applied)
    assert fresh.content == "abcY"


def _other_root(client: Document) -> None:
    client.doc.get("other", type=Map)["x"] = 1


def _embed(client: Document) -> None:
    client.text.insert_embed(1, {"image": "x.png"})


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_other_root, "only the 'content' text may be edited"),
        (_embed, "embeds are not supported in a PRD's text"),
    ],
)
def test_updates_that_put_anything_but_text_in_the_document_are_refused(make: Any, message: str) -> None:
    server = doc("abc")
    client = copy_of(server)
    before = client.state_vector()
    make(client)
    with pytest.raises(EditError) as info:
        server.apply(client.update_since(before))
    assert str(info.value) == message


def test_content_declared_as_an_array_is_refused() -> None:
    # A client that declared "content" as a Y.Array and appended 42: no delta or str() shows the
    # item, but pycrdt counts it in every position.
    server = doc("abc")
    client = Doc(client_id=9)
    client.apply_update(server.state())
    client.get("content", type=Array).append(42)
    with pytest.raises(EditError) as info:
        server.apply(client.get_update(server.state_vector()))
    assert str(info.value) == "only text may be put in 'content'"
    assert server.content == "abc" == str(server.text)


@pytest.mark.parametrize("update", [b"", b"garbage", b"\x01\x01\x07"])
def test_an_update_that_cannot_be_decoded_is_refused(update: bytes) -> None:
    server = doc("abc")
    with pytest.raises(EditError) as info:
        server.apply(update)
    assert str(info.value) == "the update is not a valid Yjs update"
    assert server.content == "abc"


class _Panic(BaseException):
    """What pyo3 makes of a Rust panic: a BaseException that is not an Exception."""


@pytest.mark.parametrize("exit_", [KeyboardInterrupt, SystemExit])
def test_the_interpreters_exits_pass_through(exit_: type[BaseException], monkeypatch: pytest.MonkeyPatch) -> None:
    d = doc("abc")
    update = copy_of(d).edit([ClientOp("insert", 0, content="x")], "utf-16").update

    def fail(*args: object) -> None:
        raise exit_

    monkeypatch.setattr(Text, "insert", fail)
    monkeypatch.setattr(Doc, "apply_update", fail)
    with pytest.raises(exit_):
        d.edit([ClientOp("insert", 0, content="x")], "utf-16")
    with pytest.raises(exit_):
        d.apply(update)


def test_a_failure_inside_pycrdt_is_an_edit_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise _Panic("called `Result::unwrap()` on an `Err` value")

    monkeypatch.setattr(Text, "format", fail)
    with pytest.raises(EditError) as info:
        doc("abc").edit([ClientOp("format", 0, length=1, attributes={"b": True})], "utf-16")
    assert str(info.value) == "the operation cannot be applied to the text"


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"a": [[[[1]]]]}, "attribute 'a': nested deeper than 4 levels"),
        ({f"k{i}": True for i in range(MAX_ATTRIBUTES + 1)}, "at most 32 attributes"),
        ({"a": 2**53}, "attribute 'a': integers must lie within ±(2**53 - 1)"),
    ],
)
def test_a_yjs_peers_attributes_are_held_to_the_same_limits(attributes: dict[str, Any], message: str) -> None:
    # A Yjs client formats straight on its Text, with no check_op of ours in between.
    for make in (lambda text: text.format(1, 2, attributes), lambda text: text.insert(1, "x", attributes)):
        server = doc("abc")
        client = copy_of(server)
        before = client.state_vector()
        make(client.text)
        with pytest.raises(EditError) as info:
            server.apply(client.update_since(before))
        assert str(info.value) == message


def test_in_a_formatted_text_an_insert_reports_the_formatting_it_takes_on() -> None:
    """Yjs gives an insert the attributes of the text before it: where the text may carry
    formatting, what the edit did is read back from pycrdt, not taken from the plan."""
    d = doc("ab")
    d.edit([ClientOp("format", 0, length=2, attributes={"bold": True})], "utf-32")
    planned = Document(client_id_for("prd_1", "b"))
    planned.apply_update(d.state())
    assert d.edit([ClientOp("insert", 1, content="x")], "utf-32", formatted=True).applied == [
        AppliedOp("insert", 1, 1, 1, 1, content="x", attributes={"bold": True})
    ]
    assert planned.edit([ClientOp("insert", 1, content="x")], "utf-32").applied == [
        AppliedOp("insert", 1, 1, 1, 1, content="x")
    ]  # the plan alone does not know
    assert d.text.diff() == [("axb", {"bold": True})] and d.has_formatting() and not doc("ab").has_formatting()


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({1: True}, "attribute names must be strings"),
        ({"a": {1: True}}, "attribute 'a': keys must be strings"),
    ],
)
def test_attribute_keys_that_are_not_strings_are_refused_before_the_doc_is_touched(
    attributes: dict, message: str
) -> None:
    # JSON never makes such keys; the engine's other callers might, and pycrdt panics on them.
    with pytest.raises(EditError) as refused:
        check_op(ClientOp("format", 0, length=1, attributes=attributes))
    assert str(refused.value) == message
    d = doc("abc")
    with pytest.raises(EditError):
        d.edit([ClientOp("insert", 0, content="x"), ClientOp("format", 0, length=1, attributes=attributes)], "utf-32")
    assert d.content == str(d.text) == "abc"
