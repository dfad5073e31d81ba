// One joined PRD: its place in the update log (seq and vector clock), the edits not yet saved,
// and catching up on whatever this client missed. The client keeps the ordering rules of
// docs/editing.md so that an application only applies what it is given.
import { Emitter } from "@socket.io/component-emitter";

import { fromBase64, toBase64 } from "./base64.js";
import { PrdError } from "./errors.js";
import type {
  AppliedOperation,
  ClientEvents,
  DocumentSynced,
  DocumentJoined,
  EditAck,
  ErrorBody,
  Operation,
  OperationApplied,
  RecoveredSession,
  VectorClock,
} from "./protocol.js";

/** A local change: a Yjs update, one op, or ops applied as one transaction. */
export type Change = { update: Uint8Array } | { operation: Operation } | { operations: Operation[] };

/** `local`: not sent yet (offline, or behind an earlier edit); `sent`: on its way, no answer yet;
 * `saved`: the update log has it (the ack said so); `failed`: refused, it changed nothing. */
export type EditState = "local" | "sent" | "saved" | "failed";

/** What others changed, in seq order: ops with positions as applied, and the Yjs update of them. */
export interface RemoteChange {
  seq: number;
  operations: AppliedOperation[];
  update?: Uint8Array;
}

/** The whole document again, when the server could not send what was missed op by op. */
export interface Resync {
  seq: number;
  content: string;
  state: Uint8Array;
}

/** The document as the join, or a full resync, gave it. */
export interface Loaded {
  currentContent: string;
  state: Uint8Array;
}

/** What a session needs of the client that holds it. */
export interface Channel {
  readonly userId: string | undefined;
  readonly ready: boolean;
  request<E extends "operation:edit" | "document:sync" | "document:leave">(
    event: E,
    data: ClientEvents[E],
  ): Promise<Record<string, unknown>>;
  loadLarge(head: DocumentSynced | DocumentJoined): Promise<Loaded>;
  forget(prdId: string): void;
}

interface DocumentEvents {
  remote: (change: RemoteChange) => void;
  resync: (resync: Resync) => void;
  edit: (edit: PendingEdit) => void;
  error: (error: PrdError) => void;
}

let sessionTag = Math.random().toString(36).slice(2, 10);
if (typeof globalThis.crypto?.randomUUID === "function") sessionTag = globalThis.crypto.randomUUID().slice(0, 8);
let editCount = 0;

/** One local change on its way to the update log. */
export class PendingEdit {
  /** Names the edit to the server: sent again after a reconnect, it is answered, never applied twice. */
  readonly opId = `${sessionTag}-${Date.now().toString(36)}-${++editCount}`;
  state: EditState = "local";
  /** Where it landed in the log, once saved. */
  seq?: number;
  error?: PrdError;
  /** Resolves with the ack once saved; rejects with the server's refusal. */
  readonly saved: Promise<EditAck>;
  /** A plain op's clock is the one its author saw: taken when the edit is made, not when it is sent. */
  readonly seen: VectorClock;
  /** A plain op's (clock key, counter) as last sent, to know it in what is caught up after a reconnect. */
  sentAs?: { key: string; counter: number };
  settle!: { resolve: (ack: EditAck) => void; reject: (error: PrdError) => void };

  constructor(
    public change: Change,
    seen: VectorClock,
  ) {
    this.seen = seen;
    this.saved = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.saved.catch(() => undefined); // a refusal is also told by state and the session's `edit` event
  }
}

export interface SessionOptions {
  /** How long a gap in seq may stay open before asking the server for what is missing: a post and
   * an ack can overtake each other. */
  gapGraceMs?: number;
  /** Combine Yjs updates not yet sent into one (Y.mergeUpdates), so fast typing is one request. */
  mergeUpdates?: (updates: Uint8Array[]) => Uint8Array;
  /** The Yjs doc's state vector (Y.encodeStateVector): catch-ups then carry the update it lacks. */
  stateVector?: () => Uint8Array;
}

export class DocumentSession extends Emitter<DocumentEvents, DocumentEvents> {
  readonly prdId: string;
  readonly mode: string;
  /** The key this session counts its ops under (edit mode), e.g. `user_123` or `user_123#2`. */
  clockKey: string | undefined;
  /** The last seq up to which this client has every entry of the log. */
  seq: number;
  /** The vector clock as of `seq`. */
  vectorClock: VectorClock;
  readonly joined: DocumentJoined;
  readonly initial: Loaded;
  options: SessionOptions;
  closed = false;

  private readonly queue: PendingEdit[] = [];
  private readonly ahead = new Map<number, VectorClock | undefined>(); // seqs known past `seq`
  private ownCounter: number;
  private readonly retiredKeys: VectorClock = {}; // clock keys this session had before a reconnect
  private pumping = false;
  private gapTimer: ReturnType<typeof setTimeout> | undefined;
  private syncing: Promise<void> | undefined;

  constructor(
    private readonly channel: Channel,
    joined: DocumentJoined,
    loaded: Loaded,
    mode: string,
    options: SessionOptions = {},
  ) {
    super();
    this.prdId = joined.prdId;
    this.mode = mode;
    this.joined = joined;
    this.initial = loaded;
    this.clockKey = joined.clockKey ?? undefined;
    this.seq = joined.seq;
    this.vectorClock = { ...joined.vectorClock };
    this.ownCounter = joined.clockKey ? (joined.vectorClock[joined.clockKey] ?? 0) : 0;
    this.options = options;
  }

  /** Edits not saved yet, oldest first. */
  get pending(): readonly PendingEdit[] {
    return this.queue;
  }

  /** Make a change: it is sent when the connection allows, one at a time, and sent again after a
   * reconnect until the log has it. */
  edit(change: Change): PendingEdit {
    if (this.closed) throw new PrdError("INVALID_STATE", `${this.prdId} was left`);
    const last = this.queue[this.queue.length - 1];
    const merge = this.options.mergeUpdates;
    // Only into an edit never sent: one that was sent keeps its opId's content, or a resend would be
    // answered as a duplicate and the rest lost.
    if (merge && "update" in change && last?.state === "local" && "update" in last.change) {
      last.change = { update: merge([last.change.update, change.update]) };
      return last;
    }
    const edit = new PendingEdit(change, { ...this.vectorClock });
    this.queue.push(edit);
    this.emit("edit", edit);
    void this.pump();
    return edit;
  }

  /** Leave the room; edits not saved yet are dropped (their promises reject). */
  async leave(): Promise<void> {
    this.close(new PrdError("INVALID_STATE", `${this.prdId} was left`));
    await this.channel.request("document:leave", { prdId: this.prdId });
  }

  /** Send what is queued, one edit at a time, while the connection is up. */
  async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && this.channel.ready && !this.closed) {
        if (!(await this.sendFirst())) break;
      }
    } finally {
      this.pumping = false;
    }
  }

  /** An `operation:applied` for this document. */
  applied(event: OperationApplied): void {
    const ops = event.operation ? [event.operation] : (event.operations ?? []);
    const fresh = new Set<number>();
    const from = event.fromSeq ?? event.seq - 1; // a coalesced window spans the entries after fromSeq
    for (let seq = from + 1; seq <= event.seq; seq++) {
      if (this.note(seq, seq === event.seq ? event.newVectorClock : undefined)) fresh.add(seq);
    }
    if (event.resync) {
      void this.sync();
    } else if (fresh.size > 0 || event.update) {
      const operations = ops.filter((op) => fresh.has(op.seq ?? event.seq));
      this.emit("remote", { seq: event.seq, operations, update: event.update ? fromBase64(event.update) : undefined });
    }
    this.advance();
  }

  /** Ask for every entry after `seq` (what a gap, or a `resync`, left out). */
  sync(): Promise<void> {
    this.syncing ??= (async () => {
      try {
        const data: ClientEvents["document:sync"] = { prdId: this.prdId, sinceSeq: this.seq };
        if (this.options.stateVector) data.stateVector = toBase64(this.options.stateVector());
        const answer = (await this.channel.request("document:sync", data)) as unknown as DocumentSynced;
        await this.catchUp(answer);
      } catch (error) {
        this.emit("error", error instanceof PrdError ? error : new PrdError("INTERNAL", String(error)));
      } finally {
        this.syncing = undefined;
      }
    })();
    return this.syncing;
  }

  /** This document's part of `session:recovered`, after a reconnect. */
  async recovered(session: RecoveredSession): Promise<void> {
    if (session.error) {
      this.close(PrdError.from(session.error as unknown as ErrorBody));
      this.channel.forget(this.prdId);
      return;
    }
    const clock = session.currentVectorClock ?? {};
    const key = session.clockKey ?? undefined;
    if (this.clockKey && key !== this.clockKey) {
      // Another tab, or the old connection not yet gone, holds the old key: count under the new
      // one, and keep saying the old key's ops were seen (they are this author's own).
      this.retiredKeys[this.clockKey] = Math.max(this.ownCounter, clock[this.clockKey] ?? 0);
      this.ownCounter = key ? (clock[key] ?? 0) : 0;
    }
    this.clockKey = key;
    await this.catchUp({
      ...session,
      prdId: this.prdId,
      seq: session.seq ?? this.seq,
      vectorClock: clock,
      operations: session.missedOperations,
    } as DocumentSynced);
  }

  close(reason: PrdError): void {
    this.closed = true;
    clearTimeout(this.gapTimer);
    for (const edit of this.queue.splice(0)) this.fail(edit, reason);
  }

  // ------------------------------------------------------------------ sending

  /** Send the oldest edit once. False when it must wait for the connection (or a retry delay). */
  private async sendFirst(): Promise<boolean> {
    const edit = this.queue[0];
    const data: ClientEvents["operation:edit"] = { prdId: this.prdId, opId: edit.opId };
    if ("update" in edit.change) {
      data.update = toBase64(edit.change.update);
    } else {
      const clock = this.clockFor(edit);
      if ("operation" in edit.change) data.operation = { ...edit.change.operation, vectorClock: clock };
      else Object.assign(data, { operations: edit.change.operations, vectorClock: clock });
    }
    edit.state = "sent";
    this.emit("edit", edit);
    let ack: EditAck;
    try {
      ack = (await this.channel.request("operation:edit", data)) as unknown as EditAck;
    } catch (caught) {
      const error = caught instanceof PrdError ? caught : new PrdError("INTERNAL", String(caught));
      if (error.code === "DISCONNECTED") return false; // sent again once the session is recovered
      if (error.code === "OUT_OF_ORDER" && typeof error.data.expected === "number") {
        this.ownCounter = error.data.expected - 1; // an earlier op was refused: its counter is free again
        return true;
      }
      if (error.retryable) {
        await sleep(error.retryAfterMs ?? 250);
        return true;
      }
      this.queue.shift();
      this.fail(edit, error);
      this.emit("error", error);
      return true;
    }
    if (this.queue[0] === edit) this.queue.shift();
    this.saved(edit, ack);
    return true;
  }

  /** A plain op's vector clock: what its author saw, and the next counter of this session's key. */
  private clockFor(edit: PendingEdit): VectorClock {
    const key = this.clockKey ?? "";
    const counter = Math.max(this.vectorClock[key] ?? 0, this.ownCounter) + 1;
    const clock: VectorClock = { ...edit.seen };
    for (const [old, count] of Object.entries(this.retiredKeys)) clock[old] = Math.max(clock[old] ?? 0, count);
    clock[key] = counter;
    edit.sentAs = { key, counter };
    return clock;
  }

  private saved(edit: PendingEdit, ack: EditAck): void {
    edit.state = "saved";
    edit.seq = ack.seq;
    if (this.clockKey) this.ownCounter = Math.max(this.ownCounter, ack.vectorClock[this.clockKey] ?? 0);
    this.note(ack.seq, ack.duplicate ? undefined : ack.vectorClock);
    this.advance();
    edit.settle.resolve(ack);
    this.emit("edit", edit);
  }

  private fail(edit: PendingEdit, error: PrdError): void {
    edit.state = "failed";
    edit.error = error;
    edit.settle.reject(error);
    this.emit("edit", edit);
  }

  // ------------------------------------------------------------------ the log's order

  /** Record that entry `seq` is here; false when it already was. */
  private note(seq: number, clock: VectorClock | undefined): boolean {
    if (seq <= this.seq || this.ahead.has(seq)) return false;
    this.ahead.set(seq, clock);
    return true;
  }

  /** Move `seq` over every entry now held without a gap, and watch for one that stays open. */
  private advance(): void {
    while (this.ahead.has(this.seq + 1)) {
      const clock = this.ahead.get(this.seq + 1);
      this.ahead.delete(++this.seq);
      if (clock) this.vectorClock = maxClock(this.vectorClock, clock);
    }
    if (this.ahead.size === 0) {
      clearTimeout(this.gapTimer);
      this.gapTimer = undefined;
    } else if (this.gapTimer === undefined) {
      this.gapTimer = setTimeout(() => {
        this.gapTimer = undefined;
        if (this.ahead.size > 0) void this.sync();
      }, this.options.gapGraceMs ?? 300);
    }
  }

  /** Apply a `document:synced` or a recovered session: missed entries, or the whole document. */
  private async catchUp(answer: DocumentSynced): Promise<void> {
    if (answer.fullResync) {
      const loaded = await this.channel.loadLarge(answer);
      this.emit("resync", { seq: answer.seq, content: loaded.currentContent, state: loaded.state });
      this.vectorClock = { ...answer.vectorClock };
    } else {
      const own = this.ownInFlight(answer.operations ?? []);
      const operations = (answer.operations ?? []).filter((op) => {
        const seq = op.seq ?? 0;
        return seq > this.seq && !this.ahead.has(seq) && seq !== own;
      });
      const update = answer.update ? fromBase64(answer.update) : undefined;
      if (operations.length > 0 || update) this.emit("remote", { seq: answer.seq, operations, update });
      this.vectorClock = maxClock(this.vectorClock, answer.vectorClock);
    }
    if (answer.seq > this.seq) this.seq = answer.seq;
    for (const seq of [...this.ahead.keys()]) if (seq <= this.seq) this.ahead.delete(seq);
    this.advance();
    void this.pump();
  }

  /** The seq of this session's edit still waiting for its ack, when the log has it (the ack was
   * lost with the connection): it is saved, and the application has it already. */
  private ownInFlight(operations: AppliedOperation[]): number | undefined {
    const edit = this.queue[0];
    const sent = edit?.sentAs;
    const op = sent && operations.find((o) => o.userId === this.channel.userId && o.vectorClock?.[sent.key] === sent.counter);
    if (!op?.seq) return undefined;
    // Its ack will not come: take the log's word for it (the opId makes a resend harmless anyway).
    this.queue.shift();
    const ops = operations.filter((o) => o.seq === op.seq);
    this.saved(edit, { prdId: this.prdId, seq: op.seq, operations: ops, vectorClock: op.vectorClock ?? {}, duplicate: true });
    return op.seq;
  }
}

function maxClock(a: VectorClock, b: VectorClock): VectorClock {
  const out = { ...a };
  for (const [key, count] of Object.entries(b)) out[key] = Math.max(out[key] ?? 0, count);
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
