// The connection: a stock socket.io-client with the token, typed requests whose acks are promises,
// and, after every reconnect, `session:recover` for the open documents before their edits resume.
import { Emitter } from "@socket.io/component-emitter";
import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";

import { fromBase64, toBase64 } from "./base64.js";
import { DocumentSession, type Loaded, type SessionOptions } from "./document.js";
import { PrdError } from "./errors.js";
import type {
  Ack,
  DocumentSynced,
  ClientEventName,
  ClientEvents,
  DocumentJoined,
  DocumentPart,
  LargeContentHead,
  OperationApplied,
  RecoveredSession,
  ServerEvents,
} from "./protocol.js";

/** A token, or a function that fetches a fresh one (called on every connect and before expiry). */
export type TokenSource = string | (() => string | Promise<string>);

export interface ClientOptions {
  /** The stage's WebSocket URL: `ws://127.0.0.1:3000/prod` from `make dev`, or the stack's
   * `WebSocketUrl` output (`wss://<api>.execute-api.<region>.amazonaws.com/<stage>`). */
  url: string;
  token: TokenSource;
  /** `/ws` (the spec's) or `/`. */
  namespace?: string;
  /** How long a request waits for its ack before it counts as lost (then edits are sent again). */
  ackTimeoutMs?: number;
  /** Passed to socket.io-client's `io()` as they are. */
  socket?: Partial<ManagerOptions & SocketOptions>;
}

/** `connecting` until the first CONNECT; `recovering` after a reconnect, until the open documents
 * have caught up; `closed` after `close()`. */
export type ConnectionStatus = "connecting" | "connected" | "disconnected" | "recovering" | "closed";

interface LocalEvents {
  status: (status: ConnectionStatus) => void;
  recovered: (sessions: RecoveredSession[]) => void;
  error: (error: PrdError) => void;
}

type Handler<E> = E extends keyof ServerEvents ? (data: ServerEvents[E]) => void : (...args: never[]) => void;

export interface OpenOptions extends Partial<Omit<ClientEvents["document:join"], "prdId">>, SessionOptions {}

export class PrdClient {
  /** The socket itself, for anything this class does not wrap. */
  readonly socket: Socket;
  status: ConnectionStatus = "connecting";
  /** Who the server says this is (from `session:info` at each connect). */
  userId: string | undefined;
  readonly documents = new Map<string, DocumentSession>();

  private readonly local = new Emitter<LocalEvents, LocalEvents>();
  private readonly ackTimeoutMs: number;
  private readonly token: TokenSource;
  private readonly parts = new Map<string, DocumentPart[]>();
  private readonly partWaiters = new Map<string, () => void>();
  private connectedOnce = false;
  private refusedInARow = 0;
  private readyWaiters: Array<() => void> = [];

  constructor(options: ClientOptions) {
    const endpoint = new URL(options.url.replace(/^ws/, "http"));
    const path = endpoint.pathname.replace(/\/+$/, "") || "/socket.io";
    this.ackTimeoutMs = options.ackTimeoutMs ?? 15_000;
    this.token = options.token;
    this.socket = io(`${endpoint.origin}${options.namespace ?? "/ws"}`, {
      path,
      transports: ["websocket"],
      // Asked again at every (re)connect, so a reconnect after expiry brings a fresh token.
      auth: (give) => void this.currentToken().then((token) => give({ token }), () => give({})),
      ...options.socket,
    });
    this.socket.on("connect", () => void this.connected());
    this.socket.on("disconnect", (reason) => {
      this.setStatus(this.status === "closed" ? "closed" : "disconnected");
      // The server ended the session (an expired token): socket.io-client does not come back by
      // itself then, but a token source that can give a fresh token can.
      if (reason === "io server disconnect" && typeof this.token === "function" && this.status !== "closed") {
        this.socket.connect();
      }
    });
    this.socket.on("connect_error", (error: Error & { data?: { reason?: string } }) => {
      const reason = error.data?.reason;
      if (reason === "token_expired" && typeof this.token === "function" && ++this.refusedInARow <= 3) {
        this.socket.connect(); // the auth callback fetches a fresh token
      } else if (!this.socket.active) {
        this.local.emit("error", new PrdError("UNAUTHORIZED", error.message, error.data ?? {}));
      }
    });
    this.socket.on("session:expiring", () => void this.refreshToken());
    this.socket.on("operation:applied", (event: OperationApplied) => this.documents.get(event.prdId)?.applied(event));
    this.socket.on("document:part", (part: DocumentPart) => this.addPart(part));
  }

  /** True while connected and every open document has caught up: edits go out. */
  get ready(): boolean {
    return this.status === "connected";
  }

  /** Resolves once connected (and, after a reconnect, recovered). */
  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Send a client event and wait for its ack: resolves with the result's fields, rejects with a
   * `PrdError` carrying the server's code (or `TIMEOUT`, `DISCONNECTED`). While the connection is
   * down, or being recovered, it waits: sent before its documents are rejoined, a request would be
   * refused as coming from outside the room. */
  async request<E extends ClientEventName>(
    event: E,
    data: ClientEvents[E],
    options: { timeoutMs?: number } = {},
  ): Promise<Record<string, unknown>> {
    if (!this.ready) await this.whenReady();
    return this.send(event, data, options);
  }

  /** A request now, ready or not (connecting and recovering use it). */
  private async send(
    event: ClientEventName,
    data: unknown,
    { timeoutMs }: { timeoutMs?: number } = {},
  ): Promise<Record<string, unknown>> {
    const wait = timeoutMs ?? this.ackTimeoutMs;
    // socket.io-client would buffer it and send it at the next connect, before recovery: refuse.
    if (!this.socket.connected) throw new PrdError("DISCONNECTED", `Not connected: ${event} was not sent`);
    let ack: Ack;
    try {
      ack = await this.socket.timeout(wait).emitWithAck(event, data);
    } catch (error) {
      // socket.io-client fails a pending ack with "socket has been disconnected" when the link
      // drops, and with "operation has timed out" when none came.
      const lost = String((error as Error)?.message ?? error).includes("disconnected");
      throw lost
        ? new PrdError("DISCONNECTED", `The connection dropped before ${event} was answered`)
        : new PrdError("TIMEOUT", `No answer to ${event} within ${wait} ms`);
    }
    if (!ack.ok) throw PrdError.from(ack.error);
    const { ok: _ok, ...result } = ack;
    return result;
  }

  /** Listen to a server event (`presence:updated`, `comment:added`, ...) or to the client's own
   * `status`, `recovered` and `error`. Returns the function that stops listening. */
  on<E extends keyof LocalEvents>(event: E, handler: LocalEvents[E]): () => void;
  on<E extends keyof ServerEvents>(event: E, handler: Handler<E>): () => void;
  on(event: string, handler: (data: never) => void): () => void;
  on(event: string, handler: (...args: never[]) => void): () => void {
    if (event === "status" || event === "recovered" || event === "error") {
      this.local.on(event, handler as never);
      return () => this.local.off(event, handler as never);
    }
    this.socket.on(event, handler as never);
    return () => this.socket.off(event, handler as never);
  }

  /** Join a PRD (edit mode unless told) and keep it: its seq, clock and edits, across reconnects. */
  async open(prdId: string, options: OpenOptions = {}): Promise<DocumentSession> {
    const { gapGraceMs, mergeUpdates, stateVector, ...join } = options;
    await this.whenReady();
    const joined = (await this.request("document:join", { prdId, mode: "edit", ...join })) as unknown as DocumentJoined;
    const loaded = await this.loadLarge(joined);
    const session = new DocumentSession(this, joined, loaded, join.mode ?? "edit", {
      gapGraceMs,
      mergeUpdates,
      stateVector,
    });
    this.documents.set(prdId, session);
    return session;
  }

  /** Stop: no reconnect; open documents' unsaved edits are dropped. */
  close(): void {
    this.setStatus("closed");
    for (const session of this.documents.values()) session.close(new PrdError("INVALID_STATE", "The client was closed"));
    this.documents.clear();
    this.socket.close();
  }

  /** The content and Yjs state a head points at: inline, behind a presigned URL, or in parts. */
  async loadLarge(head: LargeContentHead | DocumentSynced | DocumentJoined): Promise<Loaded> {
    if (typeof head.currentContent === "string" && typeof head.state === "string") {
      return { currentContent: head.currentContent, state: fromBase64(head.state) };
    }
    if (head.contentUrl) {
      const response = await fetch(head.contentUrl);
      if (!response.ok) throw new PrdError("NOT_FOUND", `The document's content could not be fetched (${response.status})`);
      const body = (await response.json()) as { currentContent: string; state: string };
      return { currentContent: body.currentContent, state: fromBase64(body.state) };
    }
    if (head.parts) {
      const key = `${head.prdId}@${head.seq}`;
      while ((this.parts.get(key)?.length ?? 0) < head.parts) {
        await new Promise<void>((resolve) => this.partWaiters.set(key, resolve));
      }
      const parts = this.parts.get(key)!.sort((a, b) => a.part - b.part);
      this.parts.delete(key);
      return {
        currentContent: parts.map((p) => p.currentContent).join(""),
        state: fromBase64(parts.map((p) => p.state).join("")),
      };
    }
    throw new PrdError("INVALID_STATE", "The answer carries no content");
  }

  /** For a session that is gone (its document was deleted while away). */
  forget(prdId: string): void {
    this.documents.delete(prdId);
  }

  // ------------------------------------------------------------------ connecting

  private async connected(): Promise<void> {
    this.refusedInARow = 0;
    const again = this.connectedOnce;
    this.connectedOnce = true;
    try {
      const info = await this.send("session:info", {});
      this.userId = String(info.userId);
      if (again && this.documents.size > 0) {
        this.setStatus("recovering");
        await this.recover();
      }
    } catch (error) {
      if (error instanceof PrdError && error.code === "DISCONNECTED") return; // the next connect tries again
      this.local.emit("error", error instanceof PrdError ? error : new PrdError("INTERNAL", String(error)));
    }
    if (!this.socket.connected) return;
    this.setStatus("connected");
    for (const session of this.documents.values()) void session.pump();
  }

  /** Rejoin every open document with what this client last had, and catch each one up. */
  private async recover(): Promise<void> {
    const sessions = [...this.documents.values()];
    const lastVectorClocks: Record<string, Record<string, number>> = {};
    const stateVectors: Record<string, string> = {};
    for (const session of sessions) {
      lastVectorClocks[session.prdId] = session.vectorClock;
      if (session.options.stateVector) stateVectors[session.prdId] = toBase64(session.options.stateVector());
    }
    // At most 20 documents per request (the server's limit).
    const answers: RecoveredSession[] = [];
    for (let i = 0; i < sessions.length; i += 20) {
      const batch = sessions.slice(i, i + 20).map((s) => s.prdId);
      const pick = <T>(all: Record<string, T>) => Object.fromEntries(batch.filter((id) => id in all).map((id) => [id, all[id]]));
      const recovered = await this.send("session:recover", {
        activeSessions: batch,
        lastVectorClocks: pick(lastVectorClocks),
        stateVectors: pick(stateVectors),
      });
      answers.push(...(recovered.sessions as RecoveredSession[]));
    }
    for (const answer of answers) await this.documents.get(answer.prdId)?.recovered(answer);
    this.local.emit("recovered", answers);
  }

  private async currentToken(): Promise<string> {
    return typeof this.token === "function" ? await this.token() : this.token;
  }

  private async refreshToken(): Promise<void> {
    if (typeof this.token !== "function") return; // a fixed token cannot be renewed: the session ends with it
    try {
      await this.send("session:refresh", { token: await this.currentToken() });
    } catch (error) {
      this.local.emit("error", error instanceof PrdError ? error : new PrdError("UNAUTHORIZED", String(error)));
    }
  }

  private setStatus(status: ConnectionStatus): void {
    if (this.status === status) return;
    this.status = status;
    this.local.emit("status", status);
    if (status === "connected") for (const resolve of this.readyWaiters.splice(0)) resolve();
  }

  private addPart(part: DocumentPart): void {
    const key = `${part.prdId}@${part.seq}`;
    const held = this.parts.get(key) ?? [];
    if (!held.some((p) => p.part === part.part)) held.push(part);
    this.parts.set(key, held);
    this.partWaiters.get(key)?.();
    this.partWaiters.delete(key);
  }
}
