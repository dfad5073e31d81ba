"""The edit pipeline: every operation, from any client, becomes the next entry of the update log.

For each op: recognise a retry (its clock key and counter, or its opId, already name an entry);
wait briefly for a missing predecessor of the same session; make it on the author's view of the
document (the document as the author's vector clock says they saw it, so a stale op keeps its
intent); then append it at the next seq with a conditional write. Losing that race means another
Lambda wrote first: read the entries it wrote, and try again with the same update.

A warm Lambda keeps loaded documents (``LoadedDocument``): an op costs no read before its write,
since the conditional write itself says whether the cache was current. The cache is an
optimisation only: every part of it can be rebuilt from the snapshots and the log.

What an acknowledged op means: its entry is in the log, and every later load holds it (a cold
load refuses to serve a document whose log has a hole, rather than serve it without some edits).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from prdtool.engine.crdt import AppliedOp, ClientOp, EditError, client_id_for
from prdtool.engine.loaded_document import AuthorView, BeforeOrigin, LoadedDocument, LogGap, Origin, covers
from prdtool.engine.positions import DEFAULT_ENCODING, PositionEncoding
from prdtool.engine.snapshots import SnapshotStore
from prdtool.engine.update_log import LogEntry, SeqTaken, UpdateLog
from prdtool.kernel.errors import AppError, ErrorCode
from prdtool.kernel.observability import logger

__all__ = ["Applied", "Author", "DeletionGuard", "Editor", "LoadedDocument", "Submission"]

# Told of an edit that makes a document smaller, before it is written: (document, author, size
# before, size after). It may refuse the edit by raising; what it returns (if anything) runs once
# the edit is written, and never fails it.
DeletionGuard = Callable[[LoadedDocument, str, int, int], Callable[[], None] | None]

# The clock key the server writes under: a document's seed, and the resolutions it makes for people.
SERVER_KEY = "server"
MAX_ATTEMPTS = 25  # writes of one op; each lost race costs a read of what the winner wrote
PREDECESSOR_WAIT_S = 1.0
FIRST_WAIT_S = 0.05  # then doubling: a predecessor usually arrives within a few ms
CACHED_DOCUMENTS = 32


@dataclass(frozen=True)
class Author:
    user_id: str
    clock_key: str
    encoding: PositionEncoding = DEFAULT_ENCODING


@dataclass(frozen=True)
class Submission:
    """One client transaction: client ops (one, or a batch) or a Yjs update, with its vector clock.
    Without the author's own key in ``clock``, the next counter is assigned when it is written."""

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
class _Made:
    """A submission as a Yjs update. ``applied`` and ``size`` are what it does to the current
    document as of ``at_seq`` when it was made on a view holding all of it; else they are found
    by trying the update (``LoadedDocument.observe``)."""

    update: bytes
    view: AuthorView | None = None
    client_id: int | None = None
    applied: list[AppliedOp] | None = None
    size: tuple[int, int] = (0, 0)  # the text's UTF-8 size before and after
    at_seq: int | None = None


class Editor:
    """Applies submissions to documents; one per warm function instance."""

    def __init__(
        self,
        log: UpdateLog,
        clock: Callable[[], int],
        max_document_bytes: int,
        sleep: Callable[[float], None] = time.sleep,
        snapshots: SnapshotStore | None = None,
        deletion_guard: DeletionGuard | None = None,
    ) -> None:
        self._log = log
        self._deletion_guard = deletion_guard
        self._snapshots = snapshots
        self._now = clock
        self._max_bytes = max_document_bytes
        self._sleep = sleep
        self._cache: OrderedDict[str, LoadedDocument] = OrderedDict()

    # ---------------------------------------------------------------- loading

    def load(self, prd_id: str, catch_up: bool = True, snapshot_seq: int | None = None) -> LoadedDocument:
        """The document from the cache (caught up with the log unless told not to), else from the
        latest snapshot and the log since; ``snapshot_seq`` (the document record's) names the
        latest snapshot, so it is read without listing the snapshots."""
        loaded = self._cache.get(prd_id)
        if loaded is not None and catch_up:
            try:
                self._catch_up(loaded)
            except LogGap:  # held so long that the entries after it expired: start afresh
                loaded = None
        if loaded is None:
            loaded = self._load_cold(prd_id, snapshot_seq)
            self._cache[prd_id] = loaded
            while len(self._cache) > CACHED_DOCUMENTS:
                self._cache.popitem(last=False)
        self._cache.move_to_end(prd_id)
        return loaded

    def forget(self, prd_id: str) -> None:
        self._cache.pop(prd_id, None)

    def _load_cold(self, prd_id: str, snapshot_seq: int | None = None) -> LoadedDocument:
        """From the latest snapshot (the named one when it is still kept), then the log after it.
        The log must resume exactly after the snapshot: a hole is refused (and repaired by a
        snapshot that covers it, if there is one), never served as a document with edits missing."""
        snapshot = None
        if self._snapshots is not None:
            named = self._snapshots.at(prd_id, snapshot_seq) if snapshot_seq else None
            snapshot = named or self._snapshots.latest(prd_id)
        while True:
            origin = Origin(snapshot.seq, dict(snapshot.clock), snapshot.state) if snapshot else Origin()
            loaded = LoadedDocument(prd_id, origin)
            try:
                self._catch_up(loaded)
                return loaded
            except LogGap as gap:
                repair = self._snapshots.covering(prd_id, gap.found - 1) if self._snapshots else None
                if repair is None or repair.seq <= origin.seq:
                    raise AppError(
                        ErrorCode.DOCUMENT_UNAVAILABLE,
                        "The document's history is incomplete on the server; it cannot be served",
                        {"prdId": prd_id, "retryable": False},
                    ) from gap
                snapshot = repair

    def _catch_up(self, loaded: LoadedDocument) -> None:
        for entry in self._log.since(loaded.prd_id, loaded.seq):
            loaded.add(entry)

    def _reach_back(self, loaded: LoadedDocument, clock: dict[str, int]) -> None:
        """Give ``loaded`` an origin old enough for ``clock``: an older snapshot (or the empty
        document) that ``clock`` has fully seen, plus the log entries from there to the current
        origin. STALE_STATE only when the log no longer holds them."""
        older = self._snapshots.older_than(loaded.prd_id, loaded.origin.seq) if self._snapshots else iter(())
        candidates = (Origin(s.seq, dict(s.clock), s.state) for s in older)
        for origin in (*candidates, Origin()):
            if not covers(clock, origin.clock):
                continue
            entries = list(self._log.between(loaded.prd_id, origin.seq, loaded.origin.seq))
            if [e.seq for e in entries] == list(range(origin.seq + 1, loaded.origin.seq + 1)):
                loaded.extend_back(origin, entries)
                return
            break  # entries have expired: an older origin would need even more of them
        raise AppError(
            ErrorCode.STALE_STATE,
            "The operation was made against a state older than the server keeps; resync and retry",
            {"suggestedResolution": "retry_with_latest", "seq": loaded.seq},
        )

    # ---------------------------------------------------------------- submitting

    def submit(self, prd_id: str, author: Author, submission: Submission) -> Applied:
        """Apply one submission; a retried one gets its first answer back (``duplicate``)."""
        loaded = self.load(prd_id, catch_up=False)
        earlier = self._earlier_answer(loaded, author, submission, read_log=True) or self._await_predecessors(
            loaded, author, submission
        )
        if earlier is not None:
            return Applied(earlier, dict(loaded.clock), duplicate=True)
        return self._commit(loaded, author, submission)

    def submit_as_server(
        self, prd_id: str, user_id: str, key: str, op_id: str, make_ops: Callable[[LoadedDocument], list[ClientOp]]
    ) -> Applied:
        """An edit the server makes on ``user_id``'s behalf (a conflict resolution), under clock
        key ``key`` with the next counter, named by ``op_id``. ``make_ops`` turns the current
        document into the ops (positions in code points); it is called again after a lost race,
        so a server edit is always made against the latest state: concurrent server edits never
        reuse a counter, or the Yjs ids of one another."""
        author = Author(user_id, key, "utf-32")
        for _ in range(MAX_ATTEMPTS):
            loaded = self.load(prd_id)
            submission = Submission(ops=make_ops(loaded), batch=True, op_id=op_id)
            earlier = self._earlier_answer(loaded, author, submission, read_log=True)
            if earlier is not None:
                return Applied(earlier, dict(loaded.clock), duplicate=True)
            try:
                return self._commit(loaded, author, submission, retry_in_place=False)
            except SeqTaken:
                continue
        raise _busy()

    def _commit(
        self, loaded: LoadedDocument, author: Author, submission: Submission, retry_in_place: bool = True
    ) -> Applied:
        """Make the submission's update once, then write it at the next seq until a write wins."""
        given = (submission.clock or {}).get(author.clock_key)
        made: _Made | None = None
        guarded = False
        written_then: Callable[[], None] | None = None
        try:
            made = self._make(loaded, author, submission, given)
            for _ in range(MAX_ATTEMPTS):
                if made.at_seq == loaded.seq:
                    applied, size = made.applied or [], made.size
                else:
                    applied, size = self._try_update(loaded, made.update)
                _check_size(size, self._max_bytes)
                if self._deletion_guard is not None and size[1] < size[0] and not guarded:
                    # Before the write: a mass deletion's restore point exists before the deletion does.
                    written_then = self._deletion_guard(loaded, author.user_id, size[0], size[1])
                    guarded = True
                counter = given if given is not None else loaded.clock.get(author.clock_key, 0) + 1
                seen = loaded.clock if submission.clock is None else submission.clock  # a server edit: all
                entry = LogEntry(
                    prd_id=loaded.prd_id,
                    seq=loaded.seq + 1,
                    update=made.update,
                    ops=applied,
                    author=author.user_id,
                    clock_key=author.clock_key,
                    counter=counter,
                    clock={**seen, author.clock_key: counter},
                    at=self._now(),
                    op_id=submission.op_id,
                    batch=submission.batch,
                )
                try:
                    self._log.append(entry)
                except SeqTaken:
                    if not retry_in_place:
                        raise
                    # Another Lambda wrote first: read what it wrote and try again. The update
                    # stands (the author's view did not change); where it lands is found anew.
                    self._catch_up(loaded)
                    earlier = self._earlier_answer(loaded, author, submission, read_log=False)
                    if earlier is not None:  # it was this very op (a retry racing its original)
                        _forget_made(loaded, made)
                        return Applied(earlier, dict(loaded.clock), duplicate=True)
                    continue
                loaded.add(entry)
                if made.view is not None:  # the view holds the op: it made it
                    made.view.clock[author.clock_key] = counter
                    # Made on the document as of the seq before: it is now the document as of this one.
                    made.view.at_seq = entry.seq if made.at_seq == entry.seq - 1 else None
                loaded.refused.discard((author.clock_key, counter))
                if written_then is not None:
                    _after_written(written_then)
                return Applied(entry, dict(loaded.clock))
            raise _busy()
        except BaseException as exc:
            # Nothing of this op may stay in what the instance keeps: it is not in the log.
            if made is not None:
                _forget_made(loaded, made)
            if given is not None and isinstance(exc, AppError) and exc.code != ErrorCode.RATE_LIMITED:
                loaded.refused.add((author.clock_key, given))
            raise

    def _make(self, loaded: LoadedDocument, author: Author, submission: Submission, given: int | None) -> _Made:
        """The submission as a Yjs update; ops are made on the author's view."""
        if submission.update is not None:
            return _Made(submission.update)
        assert submission.ops is not None
        # What the author had seen when making the op: their clock, their own earlier ops
        # included. A server edit (no clock) is made against everything.
        seen = dict(loaded.clock) if submission.clock is None else dict(submission.clock)
        if given is not None:
            seen[author.clock_key] = given - 1
        client_id = client_id_for(loaded.prd_id, author.clock_key)
        try:
            view = loaded.view(client_id, seen)
        except BeforeOrigin:
            self._reach_back(loaded, seen)
            view = loaded.view(client_id, seen)
        size_before = view.document.byte_length
        current = covers(seen, loaded.clock)  # the view holds the whole current document
        try:
            # What the edit does is needed only when made on the current document (else it is
            # found by trying the update on it): read back from pycrdt only where formatting may be.
            edit = view.document.edit(submission.ops, author.encoding, formatted=current and loaded.formatted)
        except BaseException as exc:
            loaded.drop_view(client_id)  # whatever failed, the view may hold part of the batch
            if isinstance(exc, EditError):
                raise AppError(ErrorCode.INVALID_OPERATION, str(exc)) from exc
            raise
        if current:
            # Made on a view holding the whole current document: what it did there is what it
            # does to the document, as of this seq.
            size = (size_before, view.document.byte_length)
            return _Made(edit.update, view, client_id, edit.applied, size, loaded.seq)
        return _Made(edit.update, view, client_id)

    @staticmethod
    def _try_update(loaded: LoadedDocument, update: bytes) -> tuple[list[AppliedOp], tuple[int, int]]:
        try:
            return loaded.observe(update)
        except EditError as exc:
            raise AppError(ErrorCode.INVALID_UPDATE, f"The Yjs update cannot be applied: {exc}") from exc

    # ---------------------------------------------------------------- retries and order

    def _earlier_answer(
        self, loaded: LoadedDocument, author: Author, submission: Submission, read_log: bool
    ) -> LogEntry | None:
        """The entry this submission already made, if it is a retry. ``read_log``: also look in
        the log's indexes (once per submission: the instance may not hold the entry)."""
        if submission.op_id:
            earlier = loaded.find_op_id(submission.op_id)
            if earlier is None and read_log:
                earlier = self._log.find_client_op(loaded.prd_id, submission.op_id)
            if earlier is not None:
                return earlier
        # With or without an opId, a counter already used names an op that is in the log.
        counter = (submission.clock or {}).get(author.clock_key)
        if counter is None or counter > loaded.clock.get(author.clock_key, 0):
            return None
        earlier = loaded.find(author.clock_key, counter)
        if earlier is None and read_log:
            # Not held: it is older than the instance's origin.
            earlier = self._log.find(loaded.prd_id, author.clock_key, counter, loaded.origin.seq)
        if earlier is None:
            raise AppError(
                ErrorCode.VALIDATION_FAILED,
                f"vectorClock[{author.clock_key!r}] = {counter} was already used by another op",
                {"expected": loaded.clock.get(author.clock_key, 0) + 1},
            )
        return earlier

    def _await_predecessors(self, loaded: LoadedDocument, author: Author, submission: Submission) -> LogEntry | None:
        """Wait until the document holds everything the op's clock says its author had seen (an
        earlier op of the same session may still be on its way: API Gateway does not order
        concurrent invocations). Returns the op's own entry if it arrived meanwhile."""
        waited, delay = 0.0, FIRST_WAIT_S
        while (missing := _first_missing(loaded, author, submission)) is not None:
            before = loaded.seq
            self._catch_up(loaded)
            if loaded.seq != before:
                earlier = self._earlier_answer(loaded, author, submission, read_log=False)
                if earlier is not None:
                    return earlier
                continue
            key, counter = missing
            current = loaded.clock.get(key, 0)
            if missing in loaded.refused:
                # This instance refused that op: it will not arrive. The client sends the next op
                # under the refused op's counter (a refused op does not use its counter up).
                raise _out_of_order(key, counter, current, refused=True)
            if waited >= PREDECESSOR_WAIT_S:
                raise _out_of_order(key, counter, current)
            self._sleep(delay)
            waited += delay
            delay = min(delay * 2, PREDECESSOR_WAIT_S - waited) or FIRST_WAIT_S
        return None


def _after_written(then: Callable[[], None]) -> None:
    try:
        then()
    except Exception:  # noqa: BLE001 - the edit is written: what follows it must not undo the answer
        logger.exception("a step after an edit was written failed")


def _check_size(size: tuple[int, int], limit: int) -> None:
    # Only growth past the limit is refused: a document already over it (the limit was lowered
    # since) can still be cut down. pycrdt counts UTF-8 bytes, as the limit does.
    before, after = size
    if after > limit and after > before:
        raise AppError(ErrorCode.DOCUMENT_TOO_LARGE, f"The document would exceed {limit} bytes", {"limit": limit})


def _forget_made(loaded: LoadedDocument, made: _Made) -> None:
    """The op will not be committed from here: nothing made for it may stay in the instance."""
    loaded.abandon(made.update)
    if made.client_id is not None:
        loaded.drop_view(made.client_id)


def _first_missing(loaded: LoadedDocument, author: Author, submission: Submission) -> tuple[str, int] | None:
    """The first (clock key, counter) the op depends on that the document does not hold."""
    clock = submission.clock or {}
    for key, counter in clock.items():
        needed = counter - 1 if key == author.clock_key else counter  # its own counter is this op
        if needed > loaded.clock.get(key, 0):
            return key, loaded.clock.get(key, 0) + 1
    return None


def _out_of_order(key: str, counter: int, current: int, refused: bool = False) -> AppError:
    if refused:
        message = f"Operation {counter} of {key!r} was refused; send this op with counter {counter}"
    else:
        message = f"Operation {counter} of {key!r} has not arrived yet; retry"
    data: dict[str, object] = {"retryable": not refused, "expected": current + 1, "clockKey": key}
    return AppError(ErrorCode.OUT_OF_ORDER, message, data)


def _busy() -> AppError:
    return AppError(ErrorCode.RATE_LIMITED, "The document is too busy; retry", {"retryable": True})
