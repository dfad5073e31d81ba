"""Authors typing at once, each on their own Yjs document, and a reference for what they must end at.

Each ``Author`` keeps a pycrdt document with the Yjs client id the server gives its clock key,
makes ops on it (positions in code points, from the automerge-paper trace, clamped to its own
text), and receives the others' entries late: a prefix of the log in seq order, a few entries
behind. Its vector clock says exactly what it has applied, as a client's would. The server must
end at the text of all the authors' documents merged: each op applied on its author's own doc as
its clock says (the model behind PLATFORM.md's check on real concurrent traces).
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prdtool.engine.crdt import ClientOp, Document, client_id_for

__all__ = ["Author", "Received", "converged_text", "trace_patches"]

Received = tuple[int, str, int, bytes]  # an entry as an author gets it: (seq, clock key, counter, update)

TRACE = Path(__file__).resolve().parent / "data" / "automerge-paper.json.gz"


def trace_patches() -> Iterator[tuple[int, int, str]]:
    """The automerge-paper trace's patches ``(position, deleted, inserted)``, in code points."""
    with gzip.open(TRACE) as f:
        for txn in json.load(f)["txns"]:
            yield from (tuple(p) for p in txn["patches"])  # type: ignore[misc]


@dataclass
class Author:
    """One client with its own document, a clock that says what that document holds, and a lag."""

    prd_id: str
    key: str
    document: Document = field(init=False)
    clock: dict[str, int] = field(default_factory=dict)
    seq: int = 0  # the log prefix applied (the author's own entries aside)
    sent: int = 0

    def __post_init__(self) -> None:
        self.document = Document(client_id_for(self.prd_id, self.key))

    def start(self, state: bytes, clock: dict[str, int], seq: int) -> None:
        """Begin from a joined document's state."""
        self.document.apply_update(state)
        self.clock, self.seq = dict(clock), seq

    def make_op(self, patch: tuple[int, int, str]) -> tuple[list[ClientOp], dict[str, int]]:
        """The next op, made on this author's document (it shows at once, as in an editor), and
        the vector clock to send with it."""
        position, deleted, inserted = patch
        text = self.document.content
        position = min(position, len(text))
        ops = []
        if deleted and position < len(text):
            ops.append(ClientOp("delete", position, length=min(deleted, len(text) - position)))
        if inserted or not ops:
            ops.append(ClientOp("insert", position, content=inserted or "x"))
        self.sent += 1
        self.clock[self.key] = self.sent
        self.document.edit(ops, "utf-32")
        return ops, dict(self.clock)

    def receive(self, log: Sequence[Received], upto: int) -> None:
        """Apply the log's entries up to seq ``upto``, in order (``log[i]`` holds seq ``i + 1``);
        the author's own are in its document already."""
        for seq, key, counter, update in log[self.seq : max(self.seq, upto)]:
            if key != self.key:
                self.document.apply_update(update)
                self.clock[key] = max(self.clock.get(key, 0), counter)
            self.seq = seq

    def receive_lagging(self, log: Sequence[Received], rng: random.Random, lag: int) -> None:
        """Receive all but the last few entries (up to ``lag``), as a client whose broadcasts
        are still in flight."""
        self.receive(log, len(log) - rng.randint(0, lag))


def converged_text(authors: list[Author]) -> str:
    """What every replica ends at once it has every author's ops: their documents merged."""
    merged = Document()
    for author in authors:
        merged.apply_update(author.document.state())
    return merged.content
