"""A document as a warm instance holds it: the committed state, the entries since its origin, and
each author's view of it.

``origin`` is the oldest state the instance can rebuild from (a snapshot, the empty document, or
where older entries were folded in). ``entries`` are every committed entry after it, with no gap,
indexed by seq, by (clock key, counter) and by opId, so finding an op costs the same however long
the history. Views are kept at each author's last clock (an author's clock only grows), so
bringing one up to date costs the entries the author has not seen yet, never the history.

Nothing here does I/O or outlives its usefulness: every part is derived from the log and may be
dropped at any moment. While an op is being committed, its Yjs update may sit in the current
document or the trial replica before the log has it (``pending``); it is either committed (and
then belongs there) or the replica holding it is rebuilt.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prdtool.engine.crdt import AppliedOp, Document
from prdtool.engine.update_log import LogEntry

__all__ = ["KEPT_ENTRIES", "KEPT_VIEWS", "AuthorView", "BeforeOrigin", "LoadedDocument", "LogGap", "Origin", "covers"]

# Entries kept in memory after the origin; past this, the older half is folded into the origin.
KEPT_ENTRIES = 5000
_FOLDED = (KEPT_ENTRIES + 1) // 2  # entries a fold moves into the origin (it folds half, past KEPT_ENTRIES)
# Per document, the authors whose view is kept, so an op costs its own size, not the document's.
KEPT_VIEWS = 8


@dataclass(frozen=True)
class Origin:
    """A state to build from: the document as of ``seq`` (``state`` None: the empty document)."""

    seq: int = 0
    clock: dict[str, int] = field(default_factory=dict)
    state: bytes | None = None


class LogGap(Exception):
    """The log does not continue where the state held ends: entries are missing (expired)."""

    def __init__(self, prd_id: str, expected: int, found: int) -> None:
        super().__init__(f"{prd_id}: the log resumes at seq {found}, not {expected}")
        self.expected = expected
        self.found = found


class BeforeOrigin(Exception):
    """A view was asked for at a clock older than the origin: older entries must be read back."""


@dataclass
class AuthorView:
    """One author's Doc (with their Yjs client id), holding exactly the entries ``clock`` covers.
    ``at_seq``: the seq it equals the document as of, when it holds exactly the entries up to one
    (then later entries are spliced into its text rather than read back from pycrdt)."""

    document: Document
    clock: dict[str, int]
    at_seq: int | None = None


def covers(clock: dict[str, int], other: dict[str, int]) -> bool:
    """Whether ``clock`` has seen everything ``other`` has."""
    return all(clock.get(key, 0) >= counter for key, counter in other.items())


class LoadedDocument:
    """The document as of ``seq``, with its vector clock ``clock``."""

    def __init__(self, prd_id: str, origin: Origin | None = None) -> None:
        self.prd_id = prd_id
        self.origin = origin or Origin()
        self.document = self._rebuilt()
        # Whether the current text may carry formatting (see Document.edit): once it may, it may.
        self.formatted = bool(self.origin.state) and self.document.has_formatting()
        self.seq = self.origin.seq
        self.clock = dict(self.origin.clock)
        self.entries: list[LogEntry] = []
        self._by_op: dict[tuple[str, int], LogEntry] = {}
        self._by_op_id: dict[str, LogEntry] = {}
        self.views: OrderedDict[int, AuthorView] = OrderedDict()
        # A second replica of the current state, where updates are tried before they are
        # committed, so a lost race leaves the current document clean. Caught up lazily.
        self._trial: Document | None = None
        self._trial_seq = 0
        # Uncommitted updates that each replica holds (see the module docstring).
        self._pending: bytes | None = None
        self._trial_pending: bytes | None = None
        # (clock key, counter) of ops this instance refused: a later op waiting for one of them
        # waits for nothing.
        self.refused: set[tuple[str, int]] = set()
        self._checkpoints: list[Origin] = []  # states a fold can take as the origin (see add)

    # ---------------------------------------------------------------- entries

    @property
    def first_held(self) -> int:
        """The first seq held as an entry (the ones before are in the origin)."""
        return self.origin.seq + 1

    def add(self, entry: LogEntry) -> None:
        """Add the next committed entry (read from the log, or just written by this instance)."""
        if entry.seq != self.seq + 1:
            raise LogGap(self.prd_id, self.seq + 1, entry.seq)
        if self._pending is None:
            self.document.apply_known(entry.update, entry.ops)
        elif entry.update == self._pending:
            self._pending = None  # the document tried it before it was committed: it holds it
        else:  # it holds another update: the entry's ops do not describe its text
            self.document.apply_update(entry.update)
        if self._trial_pending is not None and entry.update == self._trial_pending:
            # The trial tried it: it holds it. Exactly the entries up to here, if it was tried
            # right after the one before; else it lacks some in between: make a new one when needed.
            self._trial_pending = None
            if self._trial_seq == entry.seq - 1:
                self._trial_seq = entry.seq
            else:
                self._trial = None
        self._index(entry)
        self.entries.append(entry)
        self.formatted = self.formatted or any(op.attributes for op in entry.ops)
        self.seq = entry.seq
        self.clock[entry.clock_key] = max(self.clock.get(entry.clock_key, 0), entry.counter)
        if entry.seq % _FOLDED == 0 and self._pending is None:
            # Where a fold may put the origin: the document is that state right now, so keep it
            # (one encode per _FOLDED entries) rather than replay the folded entries at the fold.
            self._checkpoints.append(Origin(entry.seq, dict(self.clock), self.document.state()))
        if len(self.entries) > KEPT_ENTRIES:
            self._fold()

    def extend_back(self, origin: Origin, entries: list[LogEntry]) -> None:
        """Move the origin back to ``origin``: ``entries`` are exactly the ones between it and the
        current origin (the caller checked), read back from the log."""
        for entry in entries:
            self._index(entry)
        self.entries[:0] = entries
        self.origin = origin

    def find(self, clock_key: str, counter: int) -> LogEntry | None:
        return self._by_op.get((clock_key, counter))

    def find_op_id(self, op_id: str) -> LogEntry | None:
        return self._by_op_id.get(op_id)

    def entries_after(self, seq: int, upto: int | None = None) -> list[LogEntry]:
        """The entries held with ``seq < entry.seq <= upto`` (default: to the end), in seq order."""
        start = max(0, seq - self.origin.seq)
        stop = len(self.entries) if upto is None else max(start, upto - self.origin.seq)
        return self.entries[start:stop]

    def concurrent_with(self, entry: LogEntry) -> Iterator[LogEntry]:
        """Entries before ``entry`` that its author had not seen, found through the clock index."""
        for key, latest in self.clock.items():
            if key == entry.clock_key:
                continue
            for counter in range(entry.clock.get(key, 0) + 1, latest + 1):
                other = self._by_op.get((key, counter))
                if other is not None and other.seq < entry.seq:
                    yield other

    def _index(self, entry: LogEntry) -> None:
        self._by_op[(entry.clock_key, entry.counter)] = entry
        if entry.op_id:
            self._by_op_id[entry.op_id] = entry

    def _fold(self) -> None:
        """Move the older entries into the origin: up to the oldest checkpoint past it (at most
        _FOLDED entries), else half of them, rebuilt."""
        ahead = [c for c in self._checkpoints if c.seq > self.origin.seq]
        count = ahead[0].seq - self.origin.seq if ahead else len(self.entries) // 2
        folded, self.entries = self.entries[:count], self.entries[count:]
        clock = dict(self.origin.clock)
        for entry in folded:
            clock[entry.clock_key] = max(clock.get(entry.clock_key, 0), entry.counter)
            self._by_op.pop((entry.clock_key, entry.counter), None)
            if entry.op_id:
                self._by_op_id.pop(entry.op_id, None)
        if ahead:
            self.origin, self._checkpoints = ahead[0], ahead[1:]
        else:
            self.origin = Origin(folded[-1].seq, clock, self._rebuilt(folded).state())
        if self._trial_seq < self.origin.seq:
            # It could no longer be caught up from the entries held: the next try makes a new one.
            self._trial, self._trial_pending = None, None

    # ---------------------------------------------------------------- authors' views

    def view(self, client_id: int, clock: dict[str, int]) -> AuthorView:
        """The document as an author with ``clock`` saw it, as that author (``client_id``): kept
        and caught up when it can be, else built. Raises ``BeforeOrigin`` when ``clock`` has not
        seen everything the origin holds."""
        kept = self.views.pop(client_id, None)
        if kept is not None and not self._catch_up_view(kept, clock):
            kept = None
        view = kept or self._new_view(client_id, clock)
        self.views[client_id] = view
        while len(self.views) > KEPT_VIEWS:
            self.views.popitem(last=False)
        return view

    def drop_view(self, client_id: int) -> None:
        self.views.pop(client_id, None)

    def _catch_up_view(self, view: AuthorView, clock: dict[str, int]) -> bool:
        """Apply the entries ``clock`` covers and the view lacks; False when it cannot be done
        (the view has seen more than ``clock``, or entries it needs are no longer held)."""
        missing: list[LogEntry] = []
        for key, have in view.clock.items():
            if have > clock.get(key, 0):
                return False
        if view.at_seq is not None and view.at_seq >= self.origin.seq and covers(clock, self.clock):
            # It was the document as of a seq, and must become the document now: every entry since.
            for entry in self.entries_after(view.at_seq):
                view.document.apply_known(entry.update, entry.ops)
            view.clock, view.at_seq = dict(self.clock), self.seq
            return True
        for key, want in clock.items():
            for counter in range(view.clock.get(key, 0) + 1, want + 1):
                made = self._by_op.get((key, counter))
                if made is None:
                    return False
                missing.append(made)
        for entry in sorted(missing, key=lambda e: e.seq):  # in seq order, so nothing waits as pending
            view.document.apply_update(entry.update)
        view.clock.update({key: want for key, want in clock.items() if want})
        view.at_seq = None
        return True

    def _new_view(self, client_id: int, clock: dict[str, int]) -> AuthorView:
        view = Document(client_id)
        if covers(clock, self.clock):
            # It has seen everything: a copy of the current document is one encode and decode.
            assert self._pending is None, "views are made before an op is tried"
            view.apply_update(self.document.state())
            view.now_reads(self.document.content, self.document.byte_length)
            return AuthorView(view, dict(self.clock), self.seq)
        if not covers(clock, self.origin.clock):
            raise BeforeOrigin()
        if self.origin.state:
            view.apply_update(self.origin.state)
        seen = dict(self.origin.clock)
        for entry in self.entries:
            if entry.counter <= clock.get(entry.clock_key, 0):
                view.apply_update(entry.update)
                seen[entry.clock_key] = entry.counter
        return AuthorView(view, seen)

    # ---------------------------------------------------------------- trying an uncommitted update

    def observe(self, update: bytes) -> tuple[list[AppliedOp], tuple[int, int]]:
        """What ``update`` does to the current text, and the text's UTF-8 size before and after, found by
        applying it to a replica of the current document that does not hold it yet. The replica
        keeps it as pending until ``add`` commits it or ``abandon`` drops it. Raises the replica's
        ``EditError`` (after dropping the replica) when the update is refused."""
        if self._trial_pending is None:
            replica = self._caught_up_trial()
            self._trial_pending = update
        elif self._pending is None:
            replica = self.document  # the trial holds this update already (a race was lost)
            self._pending = update
        else:  # both hold it (two races lost in a row): the trial starts afresh from the log
            self._trial, self._trial_seq = self._rebuilt(self.entries), self.seq
            replica = self._trial
            self._trial_pending = update
        before = replica.byte_length
        try:
            return replica.apply(update), (before, replica.byte_length)
        except BaseException:
            self.abandon(update)
            raise

    def abandon(self, update: bytes | None) -> None:
        """``update`` will not be committed: rebuild what holds it."""
        if update is None:
            return
        if self._trial_pending == update:
            self._trial, self._trial_pending = None, None
        if self._pending == update:
            self.document, self._pending = self._rebuilt(self.entries), None

    def _caught_up_trial(self) -> Document:
        if self._trial is None:
            if self._pending is None:  # a copy of the current document: one encode and decode
                self._trial = Document()
                self._trial.apply_update(self.document.state())
                self._trial.now_reads(self.document.content, self.document.byte_length)
            else:  # the current document holds an uncommitted update: only the log is clean
                self._trial = self._rebuilt(self.entries)
            self._trial_seq = self.seq
        for entry in self.entries_after(self._trial_seq):
            self._trial.apply_known(entry.update, entry.ops)
        self._trial_seq = self.seq
        return self._trial

    def _rebuilt(self, entries: Iterable[LogEntry] = ()) -> Document:
        return Document.from_updates(([self.origin.state] if self.origin.state else []) + [e.update for e in entries])
