"""The edit pipeline: every operation, from any client, becomes the next entry of the update log.

For each op: recognise a retry (its clock key and counter, or its opId, already name an entry);
wait briefly for a missing predecessor of the same session; apply it to the document as its author
saw it (so a stale op keeps its intent) and merge the resulting Yjs update into the current
document; then append it at the next seq with a conditional write. Losing that race means another
Lambda wrote first: reload, and retry.

A warm Lambda keeps loaded documents (``LoadedDocument``): in the common case an op costs no read
before its write, since the conditional write itself says whether the cache was current. The cache
is an optimisation only: it is dropped whenever it might be wrong, and rebuilt from the log.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from prdtool.crdt import ClientOp, Document, EditError, client_id_for
from prdtool.errors import AppError, ErrorCode
from prdtool.positions import PositionEncoding
from prdtool.snapshots import SnapshotStore
from prdtool.update_log import LogEntry, SeqTaken, UpdateLog

__all__ = ["Applied", "Author", "Editor", "LoadedDocument", "Submission"]

MAX_ATTEMPTS = 8
PREDECESSOR_WAIT_S = 1.0
CACHED_DOCUMENTS = 32
# Entries kept in memory beyond the base state: a stale op older than these gets STALE_STATE.
KEPT_ENTRIES = 5000
# Per document, the authors whose current view is kept, so an up-to-date op costs its own
# size, not the document's (a fresh view means encoding and decoding the whole document).
KEPT_VIEWS = 8


@dataclass(frozen=True)
class Author:
    user_id: str
    clock_key: str
    encoding: PositionEncoding = "utf-16"


@dataclass(frozen=True)
class Submission:
    """One client transaction: client ops (one, or a batch) or a Yjs update, with its vector clock."""

    ops: list[ClientOp] | None = None
    update: bytes | None = None
    clock: dict[str, int] | None = None
    batch: bool = False
    op_id: str | None = None


@dataclass(frozen=True)
class Applied:
    entry: LogEntry
    clock: dict[str, int]  # the document's vector clock after the entry
    duplicate: bool = False


@dataclass
class LoadedDocument:
    """A document as of ``seq``: a base state, the entries since it, and the current Doc."""

    prd_id: str
    document: Document = field(default_factory=Document)
    seq: int = 0
    clock: dict[str, int] = field(default_factory=dict)
    base_state: bytes | None = None
    base_clock: dict[str, int] = field(default_factory=dict)
    entries: list[LogEntry] = field(default_factory=list)
    views: OrderedDict[int, tuple[Document, int]] = field(default_factory=OrderedDict)

    def add(self, entry: LogEntry, applied_already: bool = False) -> None:
        if not applied_already:
            # The entry already says what it did (entry.ops): no need to observe it again.
            self.document.doc.apply_update(entry.update)
        self.entries.append(entry)
        self.seq = entry.seq
        self.clock[entry.clock_key] = max(self.clock.get(entry.clock_key, 0), entry.counter)
        if len(self.entries) > KEPT_ENTRIES:
            self._fold(len(self.entries) // 2)

    def _fold(self, count: int) -> None:
        folded, self.entries = self.entries[:count], self.entries[count:]
        base = Document.from_updates([self.base_state] if self.base_state else [])
        for entry in folded:
            base.doc.apply_update(entry.update)
            self.base_clock[entry.clock_key] = max(self.base_clock.get(entry.clock_key, 0), entry.counter)
        self.base_state = base.state()

    def find(self, clock_key: str, counter: int) -> LogEntry | None:
        return next((e for e in reversed(self.entries) if e.clock_key == clock_key and e.counter == counter), None)

    def find_op_id(self, op_id: str) -> LogEntry | None:
        return next((e for e in reversed(self.entries) if e.op_id == op_id), None)

    def current_view(self, client_id: int) -> Document:
        """The whole current document as one author's Doc (kept, and caught up, between ops)."""
        kept = self.views.pop(client_id, None)
        first_held = self.entries[0].seq if self.entries else self.seq + 1
        if kept is not None and kept[1] + 1 >= first_held:
            view, at = kept
            # Entries hold consecutive seqs: the ones the view lacks are the tail after ``at``.
            for entry in self.entries[max(0, at + 1 - first_held) :]:
                view.doc.apply_update(entry.update)
        else:
            view = Document(client_id)
            view.doc.apply_update(self.document.state())
        self.views[client_id] = (view, self.seq)
        while len(self.views) > KEPT_VIEWS:
            self.views.popitem(last=False)
        return view

    def view(self, client_id: int, clock: dict[str, int] | None) -> Document:
        """The document as an author with ``clock`` saw it (``None``: all of it), as that author."""
        if clock is None:
            return self.current_view(client_id)
        view = Document(client_id)
        if any(clock.get(key, 0) < counter for key, counter in self.base_clock.items()):
            raise AppError(
                ErrorCode.STALE_STATE,
                "The operation was made against a state older than the server keeps; resync and retry",
                {"suggestedResolution": "retry_with_latest", "seq": self.seq},
            )
        if self.base_state:
            view.doc.apply_update(self.base_state)
        for entry in self.entries:
            if entry.counter <= clock.get(entry.clock_key, 0):
                view.doc.apply_update(entry.update)
        return view


class Editor:
    """Applies submissions to documents; one per warm function instance."""

    def __init__(
        self,
        log: UpdateLog,
        clock: Callable[[], int],
        max_document_bytes: int,
        sleep: Callable[[float], None] = time.sleep,
        snapshots: SnapshotStore | None = None,
    ) -> None:
        self._log = log
        self._snapshots = snapshots
        self._now = clock
        self._max_bytes = max_document_bytes
        self._sleep = sleep
        self._cache: OrderedDict[str, LoadedDocument] = OrderedDict()

    def load(self, prd_id: str, catch_up: bool = True) -> LoadedDocument:
        """The document from the cache (caught up with the log unless told not to), else from the log."""
        loaded = self._cache.get(prd_id)
        if loaded is None:
            loaded = self._from_snapshot(prd_id)
            self._catch_up(loaded)
            self._cache[prd_id] = loaded
            while len(self._cache) > CACHED_DOCUMENTS:
                self._cache.popitem(last=False)
        elif catch_up:
            self._catch_up(loaded)
        self._cache.move_to_end(prd_id)
        return loaded

    def forget(self, prd_id: str) -> None:
        self._cache.pop(prd_id, None)

    def submit(self, prd_id: str, author: Author, submission: Submission) -> Applied:
        """Apply one submission; a retried one gets its first answer back (``duplicate``)."""
        loaded = self.load(prd_id, catch_up=False)
        waited = 0.0
        for _ in range(MAX_ATTEMPTS + int(PREDECESSOR_WAIT_S / 0.05)):
            earlier = self._earlier_answer(loaded, author, submission)
            if earlier is not None:
                return Applied(earlier, dict(loaded.clock), duplicate=True)
            counter = self._counter(loaded, author, submission)
            if counter > loaded.clock.get(author.clock_key, 0) + 1 or self._behind(loaded, author, submission):
                # The client has seen more than this instance has: read what it missed. If the
                # gap is this session's own earlier op, it may still be on its way: wait a little.
                if waited >= PREDECESSOR_WAIT_S:
                    raise _out_of_order(counter, loaded.clock.get(author.clock_key, 0))
                before = loaded.seq
                self._catch_up(loaded)
                if loaded.seq == before:
                    self._sleep(0.05)
                    waited += 0.05
                continue
            try:
                return self._apply(loaded, author, submission, counter)
            except SeqTaken:
                self.forget(prd_id)
                loaded = self.load(prd_id)
        raise AppError(ErrorCode.RATE_LIMITED, "The document is too busy; retry", {"retryable": True})

    def _apply(self, loaded: LoadedDocument, author: Author, submission: Submission, counter: int) -> Applied:
        update, from_view = self._update_for(loaded, author, submission)
        size_before = len(loaded.document.text)  # pycrdt counts UTF-8 bytes, as the limit does
        try:
            applied = loaded.document.apply(update)
        except Exception as exc:
            self.forget(loaded.prd_id)
            raise AppError(ErrorCode.INVALID_UPDATE, f"The Yjs update cannot be applied: {exc}") from exc
        size_after = len(loaded.document.text)
        # Only growth past the limit is refused: a document already over it (the limit was
        # lowered since) can still be cut down.
        if size_after > self._max_bytes and size_after > size_before:
            self.forget(loaded.prd_id)  # the cached doc holds the refused edit: drop it
            raise AppError(
                ErrorCode.DOCUMENT_TOO_LARGE,
                f"The document would exceed {self._max_bytes} bytes",
                {"limit": self._max_bytes},
            )
        entry = LogEntry(
            prd_id=loaded.prd_id,
            seq=loaded.seq + 1,
            update=update,
            ops=applied,
            author=author.user_id,
            clock_key=author.clock_key,
            counter=counter,
            clock={**(submission.clock or {}), author.clock_key: counter},
            at=self._now(),
            op_id=submission.op_id,
            batch=submission.batch,
        )
        try:
            self._log.append(entry)
        except SeqTaken:
            raise
        except Exception:
            self.forget(loaded.prd_id)
            raise
        loaded.add(entry, applied_already=True)
        if from_view is not None:
            # The update was made on the author's current view: it holds the entry already.
            loaded.views[from_view] = (loaded.views[from_view][0], entry.seq)
        return Applied(entry, dict(loaded.clock))

    def _update_for(self, loaded: LoadedDocument, author: Author, submission: Submission) -> tuple[bytes, int | None]:
        """The submission as a Yjs update, and the client id of the kept view it was made on (if any)."""
        if submission.update is not None:
            return submission.update, None
        assert submission.ops is not None
        clock = submission.clock or {}
        sees_everything = all(
            clock.get(key, 0) >= counter for key, counter in loaded.clock.items() if key != author.clock_key
        )
        client_id = client_id_for(loaded.prd_id, author.clock_key)
        view = loaded.view(client_id, None if sees_everything else clock)
        try:
            return view.edit(submission.ops, author.encoding), client_id if sees_everything else None
        except EditError as exc:
            raise AppError(ErrorCode.INVALID_OPERATION, str(exc)) from exc

    def _earlier_answer(self, loaded: LoadedDocument, author: Author, submission: Submission) -> LogEntry | None:
        if submission.op_id:
            earlier = loaded.find_op_id(submission.op_id) or self._log.find_client_op(loaded.prd_id, submission.op_id)
            if earlier is not None:
                return earlier
        # With or without an opId, a counter already used names an op that is in the log.
        counter = (submission.clock or {}).get(author.clock_key)
        if counter is None or counter > loaded.clock.get(author.clock_key, 0):
            return None
        earlier = loaded.find(author.clock_key, counter) or self._log.find(loaded.prd_id, author.clock_key, counter)
        if earlier is None:
            raise AppError(
                ErrorCode.VALIDATION_FAILED,
                f"vectorClock[{author.clock_key!r}] = {counter} was already used by another op",
                {"expected": loaded.clock.get(author.clock_key, 0) + 1},
            )
        return earlier

    @staticmethod
    def _counter(loaded: LoadedDocument, author: Author, submission: Submission) -> int:
        given = (submission.clock or {}).get(author.clock_key)
        return given if given is not None else loaded.clock.get(author.clock_key, 0) + 1

    @staticmethod
    def _behind(loaded: LoadedDocument, author: Author, submission: Submission) -> bool:
        clock = submission.clock or {}
        return any(counter > loaded.clock.get(key, 0) for key, counter in clock.items() if key != author.clock_key)

    def _from_snapshot(self, prd_id: str) -> LoadedDocument:
        """A cold document starts from its latest snapshot, so loading it costs the log since."""
        snapshot = self._snapshots.base_for_loading(prd_id) if self._snapshots else None
        if snapshot is None:
            return LoadedDocument(prd_id)
        document = Document.from_updates([snapshot.state])
        return LoadedDocument(
            prd_id, document, snapshot.seq, dict(snapshot.clock), snapshot.state, dict(snapshot.clock)
        )

    def _catch_up(self, loaded: LoadedDocument) -> None:
        for entry in self._log.since(loaded.prd_id, loaded.seq):
            loaded.add(entry)


def _out_of_order(counter: int, current: int) -> AppError:
    return AppError(
        ErrorCode.OUT_OF_ORDER,
        f"Operation {counter} arrived before operation {current + 1} of the same session; retry it",
        {"retryable": True, "expected": current + 1},
    )
