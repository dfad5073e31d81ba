"""Case 5: fan-out. One op broadcast to rooms of 1, 10 and 100 sessions, through the real gateway
handler on moto with a real HTTP management API: handler time and posts per op. Beside the room
of 100, its floor: the room of 1's edit plus the gateway's own sender posting one frame to the 99
others, with nothing else of the edit path."""

from __future__ import annotations

import time

from bench.harness import Figure, Result, count_aws_calls, figure, split
from bench.stack import BenchStack, Writer
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
            if size == ROOMS[-1]:
                posts_alone = _posts_alone(s, [o.connection for o in others])
                room_read = _room_read_alone(s, prd_id)
    small, large = ROOMS[0], ROOMS[-1]
    ratio = medians[large] / medians[small]
    floor = (medians[small] + posts_alone.median) / medians[small]
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


def _room_read_alone(s: BenchStack, prd_id: str) -> Figure:
    """The Query that tells the gateway who is in the room, on its own."""
    documents = s.functions("gateway").services.documents
    times = []
    for _ in range(OPS):
        start = time.perf_counter()
        list(documents.room_addresses(prd_id))
        times.append((time.perf_counter() - start) * 1000)
    return figure(times)
