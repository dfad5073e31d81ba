// A Yjs provider over the PRD API: binds a Y.Doc to a PRD (local transactions go out as
// `operation:edit {update}`, everyone else's come in as updates) and maps an awareness to
// presence, so any Yjs editor binding (y-codemirror.next, y-prosemirror, y-quill) works on it.
import * as encoding from "lib0/encoding";
import { applyAwarenessUpdate, type Awareness, removeAwarenessStates } from "y-protocols/awareness";
import * as Y from "yjs";

import type { PrdClient } from "./client.js";
import type { DocumentSession, RemoteChange, Resync } from "./document.js";
import type { ClientEvents, PresenceUpdated } from "./protocol.js";

export interface YjsProviderOptions {
  /** Join mode: `edit` (default), `comment` or `view` (the doc then never sends). */
  mode?: "edit" | "comment" | "view";
  /** Mapped to presence both ways: the local `cursor` ({anchor, head} relative positions, as editor
   * bindings set it) to `presence:cursor`, the others' presence to remote awareness states. */
  awareness?: Awareness;
  /** The Y.Text the PRD is in: `content` on the server. */
  textName?: string;
}

type Place = { line: number; ch: number };
type RemoteState = { user: { name: string; color: string; colorLight: string }; cursor: unknown; [field: string]: unknown };

/** Awareness keeps a remote state 30 s after its last update: the server tells cursor moves only,
 * so the states it gave are renewed well within that. */
const RENEW_MS = 10_000;
const CURSOR_EVERY_MS = 50;

export class YjsProvider {
  readonly text: Y.Text;
  private readonly remote = new Map<string, { id: number; clock: number; state: RemoteState }>();
  private readonly stop: Array<() => void> = [];
  private cursorTimer: ReturnType<typeof setTimeout> | undefined;
  private lastCursor = "";

  private constructor(
    readonly session: DocumentSession,
    readonly doc: Y.Doc,
    readonly awareness: Awareness | undefined,
    private readonly client: PrdClient,
    textName: string,
  ) {
    this.text = doc.getText(textName);
  }

  /** Join `prdId` and bind `doc` to it: the doc holds the PRD's text when this resolves. */
  static async open(client: PrdClient, prdId: string, doc = new Y.Doc(), options: YjsProviderOptions = {}): Promise<YjsProvider> {
    const session = await client.open(prdId, {
      mode: options.mode ?? "edit",
      mergeUpdates: Y.mergeUpdates,
      stateVector: () => Y.encodeStateVector(doc),
    });
    const provider = new YjsProvider(session, doc, options.awareness, client, options.textName ?? "content");
    provider.bind();
    return provider;
  }

  /** Edits made locally and not yet in the log. */
  get unsaved(): number {
    return this.session.pending.length;
  }

  /** Stop sending and receiving; the doc keeps what it has. */
  destroy(): void {
    clearTimeout(this.cursorTimer);
    for (const stop of this.stop.splice(0)) stop();
    if (this.awareness) removeAwarenessStates(this.awareness, [...this.remote.values()].map((r) => r.id), this);
    this.remote.clear();
  }

  /** Tell the room this user is typing, idle or away. */
  setStatus(status: "typing" | "idle" | "away"): Promise<unknown> {
    return this.client.request("presence:status", { prdId: this.session.prdId, status });
  }

  private bind(): void {
    const { doc, session } = this;
    Y.applyUpdate(doc, session.initial.state, this);
    const onUpdate = (update: Uint8Array, origin: unknown) => {
      if (origin !== this && session.mode === "edit") session.edit({ update });
    };
    doc.on("update", onUpdate);
    this.stop.push(() => doc.off("update", onUpdate));
    const onRemote = ({ update }: RemoteChange) => update && Y.applyUpdate(doc, update, this);
    const onResync = ({ state }: Resync) => Y.applyUpdate(doc, state, this); // Yjs merges it with what is here
    session.on("remote", onRemote);
    session.on("resync", onResync);
    this.stop.push(() => session.off("remote", onRemote), () => session.off("resync", onResync));
    if (!this.awareness) return;
    const awareness = this.awareness;
    for (const other of session.joined.activeSessions) this.show(other);
    this.stop.push(
      this.client.on("presence:updated", (presence) => presence.prdId === session.prdId && this.show(presence)),
    );
    const onChange = (_: unknown, origin: unknown) => {
      if (origin !== this) this.cursorMoved();
    };
    awareness.on("change", onChange);
    this.stop.push(() => awareness.off("change", onChange));
    const renew = setInterval(() => this.renew(), RENEW_MS);
    this.stop.push(() => clearInterval(renew));
  }

  // ------------------------------------------------------------------ local cursor -> presence

  private cursorMoved(): void {
    if (this.cursorTimer !== undefined) return;
    this.cursorTimer = setTimeout(() => {
      this.cursorTimer = undefined;
      const cursor = this.awareness?.getLocalState()?.cursor as { anchor?: unknown; head?: unknown } | undefined;
      if (!cursor?.anchor || !cursor.head) return;
      const anchor = this.indexOf(cursor.anchor);
      const head = this.indexOf(cursor.head);
      if (anchor === null || head === null) return;
      const data: ClientEvents["presence:cursor"] = { prdId: this.session.prdId, cursor: this.place(head) };
      if (anchor !== head) data.selection = { start: this.place(Math.min(anchor, head)), end: this.place(Math.max(anchor, head)) };
      const key = JSON.stringify(data);
      if (key === this.lastCursor) return; // a change of some other field (the user's name)
      this.lastCursor = key;
      this.client.request("presence:cursor", data).catch(() => undefined); // a lost move is overtaken by the next
    }, CURSOR_EVERY_MS);
  }

  private indexOf(relative: unknown): number | null {
    const position = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(relative), this.doc);
    return position && position.type === this.text ? position.index : null;
  }

  /** A UTF-16 index of the text as the line and column the server counts in. */
  private place(index: number): Place {
    const before = this.text.toString().slice(0, index);
    const lineStart = before.lastIndexOf("\n") + 1;
    return { line: before.split("\n").length - 1, ch: index - lineStart };
  }

  private index({ line, ch }: Place): number {
    const lines = this.text.toString().split("\n");
    let index = 0;
    for (let n = 0; n < Math.min(line, lines.length - 1); n++) index += lines[n].length + 1;
    return index + Math.min(ch, lines[Math.min(line, lines.length - 1)].length);
  }

  // ------------------------------------------------------------------ the others' presence -> awareness

  private show(presence: PresenceUpdated): void {
    const awareness = this.awareness;
    if (!awareness || presence.sessionId === this.session.joined.sessionId) return;
    const known = this.remote.get(presence.sessionId);
    if (presence.status === "offline") {
      if (known) removeAwarenessStates(awareness, [known.id], this);
      this.remote.delete(presence.sessionId);
      return;
    }
    // The RelativePosition itself, as editor bindings put it in an awareness state: its JSON keeps
    // `item: null` at the end of the text, which relativePositionToJSON would drop (and bindings
    // then fail to read the position).
    const at = (place: Place | undefined | null) =>
      place ? Y.createRelativePositionFromTypeIndex(this.text, this.index(place)) : null;
    const head = presence.cursor ?? undefined;
    const anchor = presence.selection
      ? presence.selection.start.line === head?.line && presence.selection.start.ch === head?.ch
        ? presence.selection.end
        : presence.selection.start
      : head;
    const color = presence.color ?? "#64748b";
    const state: RemoteState = {
      user: { name: presence.userName ?? presence.userId, color, colorLight: `${color}33` },
      cursor: head ? { anchor: at(anchor), head: at(head) } : null,
      userId: presence.userId,
      sessionId: presence.sessionId,
      status: presence.status ?? "active",
      mode: presence.mode,
    };
    const entry = known ?? { id: awarenessId(presence.sessionId, this.doc.clientID), clock: 0, state };
    entry.state = state;
    this.remote.set(presence.sessionId, entry);
    this.publish([entry]);
  }

  private renew(): void {
    if (this.remote.size > 0) this.publish([...this.remote.values()]);
  }

  /** Remote states go in as an awareness update of their own, as a peer's would. */
  private publish(entries: Array<{ id: number; clock: number; state: RemoteState }>): void {
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, entries.length);
    for (const entry of entries) {
      entry.clock += 1;
      encoding.writeVarUint(encoder, entry.id);
      encoding.writeVarUint(encoder, entry.clock);
      encoding.writeVarString(encoder, JSON.stringify(entry.state));
    }
    applyAwarenessUpdate(this.awareness!, encoding.toUint8Array(encoder), this);
  }
}

/** A stable awareness id for a server session (Yjs ids are 32-bit): never the doc's own. */
function awarenessId(sessionId: string, own: number): number {
  let hash = 2166136261;
  for (let i = 0; i < sessionId.length; i++) hash = Math.imul(hash ^ sessionId.charCodeAt(i), 16777619) >>> 0;
  return hash === own ? hash ^ 1 : hash;
}
