"""The fuzz test's frames: hypothesis strategies for Engine.IO / Socket.IO packets, events of the
API with hostile payloads and native JSON frames, and the frames that once broke a guarantee
(``KNOWN_*``, replayed first by every property)."""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text

from prdtool.api import build_router
from tests.handlers.fuzz_world import CONFLICT, MAIN, MAX_FRAME, VIEW_ONLY, Frame
from tests.support import SECRET, make_token, unsigned_token

ROUTER = build_router()  # every event of the API, as the areas register them

__all__ = [
    "KNOWN_EVENTS",
    "KNOWN_NATIVE",
    "KNOWN_SOCKETIO",
    "PAYLOADS",
    "api_event_frames",
    "frames_from",
    "native_frames",
    "on_the_wire",
    "socketio_events",
    "socketio_frames",
    "to_json",
]

# ---------------------------------------------------------------------------------------- strategies

_SURROGATE = re.compile("[\ud800-\udfff]")


def on_the_wire(body: str) -> str:
    """A text frame is UTF-8 on the wire (API Gateway gets no lone surrogate): a client can only
    send one as the six characters of its JSON escape."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", body)


def to_json(value: Any, spaced: bool = False) -> str:
    """JSON as clients write it: non-ASCII as is, lone surrogates as ``\\uXXXX`` escapes (a text
    frame is UTF-8 on the wire, so a raw one cannot arrive), NaN and Infinity as Python writes them."""
    separators = (", ", ": ") if spaced else (",", ":")
    return on_the_wire(json.dumps(value, ensure_ascii=False, allow_nan=True, separators=separators))


surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
TRICKY = [
    "", " ", "\x00", "\udfff", "\ud800", "a\udfffb", "\ud83d", "😀", "\u202e", "\ufeff", "é", "\n\n",
    "null", "__proto__", "constructor", "0", "-1", "NaN", "%s%n", "'\"\\", "x" * 201, MAIN, VIEW_ONLY, CONFLICT,
    "user_a", "user_n", "server", "user_a#2", "connect", "disconnect", "error:operation", "Bearer ",
]  # fmt: skip
with_surrogates = st.text(alphabet=st.one_of(st.characters(), surrogates), min_size=1, max_size=12)
texts = st.one_of(st.text(max_size=30), st.sampled_from(TRICKY), with_surrogates)
BIG_NUMBERS = [10**30, -(10**30), 2**31, 2**53 + 1, 2**63, 2**64, 10**38, 10**39, 10**400, -1, -(2**63) - 1]
numbers = st.one_of(
    st.integers(-3, 30),
    st.sampled_from(BIG_NUMBERS),
    st.sampled_from([0.5, -0.0, 1e308, 1.0, 5e-324]),
)
# NaN and Infinity are not JSON: the codec refuses the frame (a close). Rarer, so that most hostile
# payloads get as far as their event.
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4), max_leaves=10
)
hostile = st.one_of(json_values, json_values, json_values, non_finite)


def either(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the valid value, sometimes anything at all."""
    return st.one_of(valid, valid, valid, valid, valid, hostile)


def fields(required: dict[str, Any], optional: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """An object with these fields (each sometimes hostile), now and then one missing or a stray one."""
    nothing: st.SearchStrategy[Any] = st.just([])
    return st.builds(
        _merge,
        st.fixed_dictionaries(
            {k: either(v) for k, v in required.items()}, optional={k: either(v) for k, v in (optional or {}).items()}
        ),
        st.one_of(nothing, nothing, nothing, st.lists(st.sampled_from(sorted(required)), max_size=1))
        if required
        else nothing,
        st.one_of(st.just({}), st.just({}), st.dictionaries(texts, json_values, max_size=2)),
    )


def _merge(payload: dict[str, Any], dropped: list[str], extra: dict[str, Any]) -> dict[str, Any]:
    return {**extra, **{k: v for k, v in payload.items() if k not in dropped}}


prd_ids = st.one_of(st.just(MAIN), st.just(MAIN), st.just(VIEW_ONLY), st.just("prd_nope"), texts)
positions = st.one_of(st.integers(0, 26), st.just(7), numbers)
clock_keys = st.one_of(st.sampled_from(["server", "user_a", "user_n", "user_b", "user_a#2"]), texts)
# The baseline's log: the content (server 1), then one op each of user_a and user_n (in conflict).
clocks = st.one_of(
    st.fixed_dictionaries({"server": st.just(1), "user_a": st.integers(0, 3), "user_n": st.integers(0, 2)}),
    st.fixed_dictionaries({"server": st.just(1), "user_n": st.integers(0, 3), "user_a": st.integers(0, 2)}),
    st.dictionaries(clock_keys, st.one_of(st.integers(0, 3), numbers, scalars), max_size=4),
)
attribute_values = st.one_of(json_values, st.sampled_from([10**30, 2**63, -(2**63) - 1]), non_finite)
attributes = st.dictionaries(
    st.one_of(st.sampled_from(["bold", "italic", "header"]), texts), attribute_values, max_size=3
)
contents = st.one_of(
    texts, with_surrogates, st.text(min_size=1, max_size=8), st.builds(lambda n: "x" * n, st.integers(1, 30_000))
)
operation = fields(
    {"type": st.sampled_from(["insert", "delete", "retain", "format"]), "position": positions},
    {"length": positions, "content": contents, "attributes": attributes, "vectorClock": clocks},
)


@st.composite
def yjs_updates(draw: st.DrawFn) -> str:
    """Base64 Yjs updates: noise, real text edits from another client, and what a PRD must refuse."""
    kind = draw(st.sampled_from(["noise", "text", "formatted", "truncated", "map", "array", "embed", "not base64"]))
    if kind == "noise":
        return base64.b64encode(draw(st.binary(max_size=64))).decode()
    if kind == "not base64":
        return draw(st.one_of(texts, st.just("AAA"), st.just("@@@@")))
    doc = Doc(client_id=draw(st.integers(1, 2**32 - 1)))
    if kind == "map":
        doc.get(draw(st.sampled_from(["other", "content"])), type=Map)["k"] = 1
    elif kind == "array":
        doc.get(draw(st.sampled_from(["other", "content"])), type=Array).append(1)
    else:
        text = doc.get("content", type=Text)
        text.insert(0, draw(st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=20)))
        if kind == "formatted":
            text.format(0, 1, {draw(st.sampled_from(["bold", "x"])): draw(st.one_of(st.booleans(), st.integers()))})
        if kind == "embed":
            text.insert_embed(0, {"a": 1})
    update = doc.get_update()
    if kind == "truncated":
        update = update[: draw(st.integers(0, len(update) - 1))]
    return base64.b64encode(update).decode()


# Well-formed edits of the main PRD, hostile only in their values: they reach the engine.
good_op = st.fixed_dictionaries(
    {"type": st.sampled_from(["insert", "delete", "retain", "format"]), "position": positions},
    optional={"length": positions, "content": contents, "attributes": attributes},
)
well_formed_edits = st.one_of(
    st.builds(lambda op, clock: {"prdId": MAIN, "operation": {**op, "vectorClock": clock}}, good_op, clocks),
    st.builds(
        lambda ops, clock: {"prdId": MAIN, "operations": ops, "vectorClock": clock},
        st.lists(good_op, min_size=1, max_size=4),
        clocks,
    ),
    st.builds(
        lambda update, clock: {"prdId": MAIN, "update": update} | ({"vectorClock": clock} if clock else {}),
        yjs_updates(),
        st.one_of(st.none(), clocks),
    ),
)
edit_payloads = st.one_of(
    well_formed_edits,
    well_formed_edits,
    well_formed_edits,
    fields({"prdId": prd_ids, "operation": operation}, {"opId": texts}),
    fields({"prdId": prd_ids, "operations": st.lists(operation, min_size=1, max_size=4), "vectorClock": clocks}),
    fields({"prdId": prd_ids, "update": yjs_updates()}, {"vectorClock": clocks, "opId": texts}),
    fields({"prdId": prd_ids, "operations": st.builds(lambda n: [{}] * n, st.integers(1000, 1500))}),
    fields({"prdId": prd_ids}, {"operation": operation, "operations": st.lists(operation), "update": yjs_updates()}),
)
place = fields({"line": positions, "ch": positions})
PAYLOADS: dict[str, st.SearchStrategy[Any]] = {
    "document:create": fields({"title": texts}, {"content": contents}),
    "document:share": fields(
        {"prdId": prd_ids, "userId": st.one_of(st.sampled_from(["user_b", "user_q"]), texts), "role": texts}
    ),
    "document:join": fields(
        {"prdId": prd_ids, "mode": st.sampled_from(["view", "edit", "comment"])},
        {"lastKnownVersion": texts, "positionEncoding": st.sampled_from(["utf-16", "utf-32", "utf-8"])},
    ),
    "document:leave": fields({"prdId": prd_ids}),
    "document:update": fields({"prdId": prd_ids}, {"title": texts, "status": texts}),
    "operation:edit": edit_payloads,
    "presence:cursor": fields(
        {"prdId": prd_ids, "cursor": place}, {"selection": fields({"start": place, "end": place})}
    ),
    "presence:status": fields({"prdId": prd_ids, "status": st.sampled_from(["typing", "idle", "away", "gone"])}),
    "ai:generate": fields(
        {"prdId": prd_ids, "prompt": texts, "section": texts, "streamId": texts},
        {"context": fields({}, {"previousContent": texts, "relatedSections": st.lists(texts, max_size=25)})},
    ),
    "conflict:resolve": fields(
        {"conflictId": st.one_of(st.just(CONFLICT), texts), "resolution": st.sampled_from(["manual", "auto", "ai"])},
        {
            "chosenOperations": st.lists(st.one_of(st.sampled_from(["operation_1", "operation_2"]), texts), max_size=3),
            "mergedContent": contents,
        },
    ),
    "session:recover": fields(
        {"activeSessions": st.lists(prd_ids, max_size=30)},
        {"lastVectorClocks": st.dictionaries(prd_ids, clocks, max_size=3)},
    ),
    "document:sync": fields({"prdId": prd_ids, "sinceSeq": positions}),
    "session:info": fields({}),
}
for _name in ("ai:stream-pause", "ai:stream-resume", "ai:stream-cancel"):
    PAYLOADS[_name] = fields({"streamId": texts})
suggestion_ids = st.one_of(st.builds(lambda p: f"sug_1795602600000abcdef01_{p}", prd_ids), texts)
PAYLOADS["ai:suggestion-apply"] = fields({"suggestionId": suggestion_ids, "prdId": prd_ids})
PAYLOADS["ai:suggestion-dismiss"] = fields(
    {"suggestionId": suggestion_ids, "reason": st.sampled_from(["not_relevant", "incorrect", "already_done", "other"])},
    {"note": texts, "prdId": prd_ids},
)
PAYLOADS["ai:suggestion-list"] = fields({"prdId": prd_ids})
for _name in ROUTER.events - set(PAYLOADS):
    # A new area's events until it adds a strategy above: any JSON at all.
    PAYLOADS[_name] = json_values
assert set(PAYLOADS) == ROUTER.events, "every event of the API is fuzzed"

event_names = st.one_of(
    st.sampled_from(sorted(ROUTER.events)),
    st.sampled_from(["connect", "disconnect", "newListener", ""]),
    texts,
    numbers,
)
api_events = st.sampled_from(sorted(ROUTER.events)).flatmap(lambda name: st.tuples(st.just(name), PAYLOADS[name]))
any_events = st.one_of(api_events, api_events, st.tuples(event_names, json_values))
ACK_IDS = ["1", "0", "007", "9" * 30, "9" * 5000, "²", "٤", "¹²", "1٤", "-1"]
ack_ids = st.one_of(st.none(), st.none(), st.integers(0, 10**6).map(str), st.sampled_from(ACK_IDS))
namespaces = st.sampled_from(["", "", "", "/ws,", "/,", "/admin,", "/ws", "/\udfff,", "/ws,/ws,"])


def deep(n: int, kind: str) -> str:
    return {"list": "[" * n + "]" * n, "open": "[" * n, "object": '{"a":' * n + "1" + "}" * n}[kind]


deep_json = st.builds(deep, st.sampled_from([100, 1000, 5000, 10_000]), st.sampled_from(["list", "open", "object"]))


@st.composite
def padded(draw: st.DrawFn, build: Callable[[str], str]) -> str:
    """``build(pad)`` grown to just under, at, or just over the 32 KB frame (UTF-8 bytes)."""
    target = draw(st.sampled_from([MAX_FRAME - 1, MAX_FRAME, MAX_FRAME + 1, MAX_FRAME + 500]))
    filler = draw(st.sampled_from(["x", "é", "😀"]))
    room = target - len(build("").encode())
    pad = filler * max(0, room // len(filler.encode()))
    return build(pad + "x" * (target - len(build(pad).encode())))


@st.composite
def socketio_events(draw: st.DrawFn) -> str:
    """``42[/ns,][ack]["event", payload...]``, some with binary attachments (``45``)."""
    name, payload = draw(any_events)
    args = draw(st.sampled_from(["one", "one", "none", "two"]))
    data = [name] + {"one": [payload], "none": [], "two": [payload, payload]}[args]
    kind = draw(st.sampled_from(["2", "2", "2", "5", "51-"]))
    head = "4" + kind + draw(namespaces) + (draw(ack_ids) or "")
    return head + to_json(data, draw(st.booleans()))


tokens = st.one_of(
    st.builds(make_token, sub=st.sampled_from(["user_a", "user_q"])),
    st.builds(make_token, ttl=st.just(-60)),
    st.builds(make_token, secret=st.just("another-secret-that-is-long-enough-for-hs256-0123456789")),
    st.builds(unsigned_token),
    st.builds(lambda t: "Bearer " + t, st.builds(make_token)),
    st.builds(lambda: make_token(SECRET, sub="")),  # no subject
    st.sampled_from(["a.b.c", "a.b", "eyJhbGciOiJIUzI1NiJ9..", "eyJ.eyJ.x", "e30.e30.", "Bearer", "\udfff"]),
    json_values,
)
connect_packets = st.builds(
    lambda ns, auth, spaced: "40" + ns + ("" if auth is None else to_json(auth, spaced)),
    namespaces,
    st.one_of(st.none(), st.fixed_dictionaries({"token": tokens}), json_values),
    st.booleans(),
)
engineio_frames = st.one_of(
    st.sampled_from(["2", "2probe", "3", "3x", "1", "5", "6", "0{}", "4", "7", "", "x", "40", "41", "41/ws,", "43[1]"]),
    st.builds(lambda b: "b" + base64.b64encode(b).decode(), st.binary(max_size=40)),
    st.builds(lambda t: "b" + t, texts),
    st.builds(lambda t: "4" + t, texts),
    st.builds(lambda p, d: p + d, st.sampled_from(["42", "421", "43", "40", "4", "2"]), deep_json),
    st.builds(lambda n, d: "42" + n + to_json(d), namespaces, json_values),
    st.builds(lambda a, d: "43" + a + to_json(d), st.sampled_from(["1", "9" * 5000, "²"]), json_values),
    st.builds(lambda d: "44" + to_json(d), json_values),
    st.builds(lambda t: t, st.text(max_size=40)),
    st.builds(lambda b: b.decode("utf-8", "replace"), st.binary(max_size=60)),
)
socketio_frames = st.one_of(
    connect_packets,
    engineio_frames,
    engineio_frames,
    socketio_events(),
    padded(lambda pad: '421["session:info",{"pad":"' + pad + '"}]'),
)


@st.composite
def native_frames(draw: st.DrawFn) -> str:
    """``{"action", "data", "id"?}`` with hostile parts, and text that is no such object."""
    shape = draw(st.sampled_from(["event", "event", "event", "loose", "text", "noise", "deep", "padded"]))
    if shape == "text":
        return draw(st.one_of(texts, st.sampled_from(["[1,2]", "null", '"x"', "{", '{"action":5}', "{}"])))
    if shape == "noise":
        return draw(st.binary(max_size=60)).decode("latin-1")
    if shape == "deep":
        return '{"action":"session:info","data":' + draw(deep_json) + "}"
    if shape == "padded":
        return draw(padded(lambda p: to_json({"action": "session:info", "data": {"pad": p}, "id": 1})))
    name, payload = draw(api_events if shape == "event" else st.tuples(event_names, json_values))
    frame: dict[str, Any] = {"action": name, "data": payload}
    ack = draw(st.one_of(st.none(), st.integers(0, 100), st.sampled_from([10**30, -1, "req-1", "", True, 1.5, [1]])))
    if ack is not None:
        frame["id"] = ack
    if shape == "loose":
        frame = draw(st.dictionaries(st.sampled_from(["action", "data", "id", "event"]), json_values)) | (
            {} if draw(st.booleans()) else frame
        )
    return to_json(frame, draw(st.booleans()))


@st.composite
def api_event_frames(draw: st.DrawFn) -> str:
    """An event of the API on the default namespace, with an ack id or without."""
    name, payload = draw(api_events)
    ack = draw(st.one_of(st.none(), st.integers(1, 10**6).map(str)))
    return "42" + (ack or "") + to_json([name, payload], draw(st.booleans()))


def frames_from(sender: st.SearchStrategy[str], bodies: st.SearchStrategy[str]) -> st.SearchStrategy[list[Frame]]:
    """One to three frames, each from one of the world's connections."""
    return st.lists(st.builds(Frame, sender, bodies.map(on_the_wire)), min_size=1, max_size=3)


# ---------------------------------------------------------------------------------------- known frames


_CLOCK = {"server": 1, "user_a": 2, "user_n": 1}  # user_a's next op, having seen the baseline


def _edit(**op: Any) -> str:
    return "421" + to_json(
        ["operation:edit", {"prdId": MAIN, "operation": {"position": 0, **op, "vectorClock": _CLOCK}}]
    )


_BATCH = [{"type": "insert", "position": 0, "content": "x"}, {"type": "insert", "position": 0, "content": "\udfff"}]


# Frames that broke a guarantee once, tried first on every run (each property's @example).
KNOWN_SOCKETIO: list[Any] = [
    '42["session:info",' + "[" * 10_000 + "]" * 10_000 + "]",  # nesting past the recursion limit
    "42" + "[" * 10_000,
    "42" + "9" * 5000 + '["session:info",{}]',  # an ack id past int()'s 4,300 digits
    '42²["session:info",{}]',  # str.isdigit() digits int() refuses
    '42٤["session:info",{}]',  # ... and ones it reads as 4
    "40/ws," + to_json({"token": "a.b.c"}),  # PyJWT's "Not enough segments"
    "40/ws," + to_json({"token": "eyJ.eyJ.x"}),
]
KNOWN_EVENTS: list[Any] = [
    '42["\\udfff",{}]',  # a lone surrogate in an event name, echoed in the reply
    '421["\\udfff",{}]',
    _edit(type="format", length=2, attributes={"bold": 10**30}),  # pycrdt panics (PanicException)
    _edit(type="format", length=2, attributes={"bold": "\udfff"}),
    _edit(type="insert", content="a\udfffb"),
    # A batch whose second insert could not be applied once left the first in the author's view.
    [
        "421" + to_json(["operation:edit", {"prdId": MAIN, "operations": _BATCH, "vectorClock": _CLOCK}]),
        _edit(type="insert", content="y"),
    ],
    '421["document:create",{"title":"t","content":"a\\udfffb"}]',
    # A manual resolution refused after the conflict was settled: reopened, but marked "manual".
    '421["conflict:resolve",{"conflictId":"conflict_FUZZ","resolution":"manual"}]',
    '421["operation:edit",{"prdId":"prd_FUZZ_MAIN","update":"AQEBAQ=="}]',  # pycrdt's "Cannot decode update"
]
KNOWN_NATIVE: list[Any] = [
    '{"action":"session:info","data":' + "[" * 10_000 + "]" * 10_000 + "}",
    '{"action":["session:info"],"data":{}}',
    '{"action":"\\udfff","data":{},"id":1}',
]
