"""Case 5: fan-out. One op broadcast to rooms of 1, 10 and 100 sessions, through the real gateway
handler on moto with a real HTTP management API: handler time and posts per op. Beside the room
of 100, its floors, each part timed alone in the same run: the room of 1's edit plus the gateway's
own sender posting one frame to the 99 others; that plus the room read (as a Query of the sessions,
and as a one-item roster would read it, which is not built); and plus the coalescing lease a room
this large needs."""

from __future__ import annotations

import time

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from bench.harness import Figure, Result, count_aws_calls, figure, split
from bench.stack import BenchStack, Writer
from prdtool.engine.fan_out import LEASE_MS
from prdtool.kernel.sender import SOCKETIO, encode_event

CASE = "5. Fan-out"
ROOMS = (1, 10, 100)
OPS = 12


def run() -> list[Result]:
    results, medians = [], {}
    for size in ROOMS:
        with BenchStack() as s:
            owner = s.client("owner")
            prd_id = s.call(owner, "document:create", {"title": "Fan-out", "content": "x"})["prdId"]
            s.call(owner, "document:share", {"prdId": prd_id, "userId": "member", "role": "editor"})
            writer, *others = [Writer(s, "member", prd_id) for _ in range(size)]  # one user, one session per tab
            times, posts, spent = [], [], []
            for n in range(OPS):
                with count_aws_calls() as calls:
                    start = time.perf_counter()
                    writer.edit({"type": "insert", "position": 0, "content": f"{n % 10}"})
                    times.append((time.perf_counter() - start) * 1000)
                posts.append(calls.of("apigatewaymanagementapi"))
                spent.append((times[-1], split(times[-1] / 1000, calls)))
            ms = figure(times)
            medians[size] = ms.median
            results.append(Result(
                CASE, f"room of {size}", ms.show("ms", 2),
                f"posts per op {figure([float(p) for p in posts]).median:.0f} (the ack and {size - 1} others, "
                f"posted concurrently); {ms.median / size:.2f} ms per session; "
                f"time: {sorted(spent)[len(spent) // 2][1]}",
            ))  # fmt: skip
            if size == ROOMS[0]:
                small_read = _room_read_alone(s, prd_id)
            if size == ROOMS[-1]:
                posts_alone = _posts_alone(s, [o.connection for o in others])
                room_read = _room_read_alone(s, prd_id)
                roster_read = _roster_read_alone(s, prd_id)
                lease = _lease_alone(s, prd_id)
    small, large = ROOMS[0], ROOMS[-1]
    ratio = medians[large] / medians[small]
    floor = (medians[small] + posts_alone.median) / medians[small]
    # What a room of 100 pays over a room of 1 on this stack whatever the edit path, as long as it
    # learns the room by reading it: the posts, and the read of 100 sessions less that of 1.
    read_floor = (medians[small] + posts_alone.median + room_read.median - small_read.median) / medians[small]
    roster_floor = (medians[small] + posts_alone.median + roster_read.median - small_read.median) / medians[small]
    # A room this large must coalesce (docs/scaling.md: one post per entry reaches the account's
    # throttle from ~44 typists), and coalescing needs its lease: claim, catch up, release, head.
    coalescing_floor = roster_floor + lease.median / medians[small]
    results += [
        Result(CASE, f"room of {large} / room of {small}", f"{ratio:.1f}x", "handler time ratio"),
        Result(CASE, f"{large - 1} posts alone, through the gateway's sender", posts_alone.show("ms", 1),
               "one operation:applied frame to each of the room's other sessions, nothing else"),
        Result(CASE, f"room of {large}'s floor / room of {small}", f"{floor:.1f}x",
               f"(room of {small} + those posts) / room of {small}; the room of {large} is "
               f"{medians[large] / (medians[small] + posts_alone.median):.2f}x its floor"),
        Result(CASE, f"the room read alone, {large} sessions", room_read.show("ms", 1),
               "one Query, the addresses projected: moto's time (its response serializer, per item), where "
               "DynamoDB serves ~15 KB in one request of 4 read units"),
        Result(CASE, f"room of {large} without moto's room read / room of {small}",
               f"{(medians[large] - room_read.median) / medians[small]:.1f}x",
               "the rest: the coalescing holder's lease (claim and release), its catch-up read and look at "
               "the log's head, and the posts"),
        Result(CASE, f"room of {large}'s floor with its room read / room of {small}", f"{read_floor:.1f}x",
               f"(room of {small} + the posts + the room read of {large} less the room read of {small} "
               f"({small_read.show('ms', 1)})) / room of {small}: what any edit path that reads the room pays "
               f"here; the room of {large} is {medians[large] / medians[small] / read_floor:.2f}x it"),
        Result(CASE, f"the same room as one item, {large} sessions (not built)", roster_read.show("ms", 1),
               f"a GetItem of one item holding the {large} addresses as a map (a roster), converted to "
               f"dicts: the read a one-item roster would make. That floor: {roster_floor:.1f}x"),
        Result(CASE, f"the fan-out lease alone, room of {large}", lease.show("ms", 1),
               "the coalescing holder's requests with nothing else: claim the lease, catch up on the log, "
               "release it, look at the log's head"),
        Result(CASE, f"room of {large}'s floor, coalescing, with a roster / room of {small}",
               f"{coalescing_floor:.1f}x",
               f"the roster's floor plus the lease: the least a room of {large} pays here with the fan-out "
               f"it needs, even with the room read as one item"),
    ]  # fmt: skip
    return results


def _posts_alone(s: BenchStack, connections: list[str]) -> Figure:
    """What posting one frame to ``connections`` costs the gateway, with none of the edit's work:
    the sender, its thread pool, botocore and the fake management API."""
    sender = s.functions("gateway").services.sender()
    applied = {
        "prdId": "prd", "seq": 7, "newVectorClock": {"server": 1, "member": 7},
        "operation": {"userId": "member", "type": "insert", "position": 0, "content": "7",
                      "vectorClock": {"server": 1, "member": 7}},
        "update": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd",
    }  # fmt: skip
    frame = encode_event(SOCKETIO, "/ws", "operation:applied", applied)
    times = []
    for _ in range(OPS):
        start = time.perf_counter()
        report = sender.deliver_many(connections, frame)
        times.append((time.perf_counter() - start) * 1000)
        assert len(report.delivered) == len(connections), report
        s.fake.posts.clear()
    return figure(times)


def _roster_read_alone(s: BenchStack, prd_id: str) -> Figure:
    """The room read as a one-item roster would make it (not built): the same sessions' addresses
    as one map in one item of the documents table, read whole by a consistent GetItem."""
    services = s.functions("gateway").services
    table = services.settings.documents_table
    sessions = {a.connection_id: {k: v for k, v in a.attribute_values.items() if k not in ("prd_id", "item")}
                for a in services.documents.room_addresses(prd_id)}  # fmt: skip
    client = boto3.client("dynamodb")
    serialize, deserialize = TypeSerializer().serialize, TypeDeserializer().deserialize
    key = {"prd_id": {"S": prd_id}, "item": {"S": "bench-roster"}}
    client.put_item(TableName=table, Item={**key, "sessions": serialize(sessions)})
    times = []
    for _ in range(OPS):
        start = time.perf_counter()
        item = client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
        assert len(deserialize(item["sessions"])) == len(sessions)
        times.append((time.perf_counter() - start) * 1000)
    client.delete_item(TableName=table, Key=key)
    return figure(times)


def _lease_alone(s: BenchStack, prd_id: str) -> Figure:
    """What the coalescing holder's requests cost on their own: the lease claimed (for any entry
    not sent yet), the document caught up on the log, the lease released, the log's head read."""
    services = s.functions("gateway").services
    documents, times = services.documents, []
    for n in range(OPS):
        start = time.perf_counter()
        claim = documents.claim_fan_out(prd_id, f"bench-{n}", 10**9, services.clock(), LEASE_MS)
        assert claim is not None
        loaded = services.editor.load(prd_id)
        assert documents.release_fan_out(prd_id, f"bench-{n}", loaded.seq, services.clock())
        services.log.head(prd_id)
        times.append((time.perf_counter() - start) * 1000)
    return figure(times)


def _room_read_alone(s: BenchStack, prd_id: str) -> Figure:
    """The Query that tells the gateway who is in the room, on its own."""
    documents = s.functions("gateway").services.documents
    times = []
    for _ in range(OPS):
        start = time.perf_counter()
        list(documents.room_addresses(prd_id))
        times.append((time.perf_counter() - start) * 1000)
    return figure(times)
