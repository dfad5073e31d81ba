// The server's answers and events the client itself reads, as docs/events.md describes them. The
// client events' payloads are generated from the server's models (generated/client-events.ts);
// the server's events join them there once the contract lists them too.
import type { ClientEvents } from "./generated/client-events.js";

export type ClientEventName = keyof ClientEvents;
export type VectorClock = Record<string, number>;

/** An op as the spec's CRDTOperation: positions in UTF-16 code units unless joined with utf-32. */
export interface Operation {
  type: "insert" | "delete" | "retain" | "format";
  position: number;
  length?: number;
  content?: string;
  attributes?: Record<string, unknown>;
}

/** An op as applied by the server, with who made it (and its seq when several entries come at once). */
export interface AppliedOperation extends Operation {
  userId: string;
  seq?: number;
  vectorClock?: VectorClock;
}

export interface ErrorBody {
  code: string;
  message: string;
  data?: Record<string, unknown>;
}

/** What every acknowledgement is: `{ok: true, ...result}` or `{ok: false, error}`. */
export type Ack = ({ ok: true } & Record<string, unknown>) | { ok: false; error: ErrorBody };

/** The head of `document:joined` (and of a full resync), whose content may come by URL or in parts. */
export interface LargeContentHead {
  prdId: string;
  seq: number;
  currentContent?: string | null;
  state?: string | null;
  contentUrl?: string;
  contentUrlExpiresAt?: number;
  parts?: number;
}

export interface PresenceSession {
  userId: string;
  userName?: string;
  sessionId: string;
  mode?: "view" | "comment" | "edit";
  status?: string;
  color?: string;
  cursor?: { line: number; ch: number } | null;
  selection?: { start: { line: number; ch: number }; end: { line: number; ch: number } } | null;
  lastActivity?: string;
}

export interface DocumentJoined extends LargeContentHead {
  version: string;
  vectorClock: VectorClock;
  clockKey?: string;
  sessionId: string;
  color?: string;
  positionEncoding: "utf-16" | "utf-32";
  activeSessions: PresenceSession[];
  [field: string]: unknown;
}

export interface OperationApplied {
  prdId: string;
  seq: number;
  fromSeq?: number; // a coalesced window: the entries after fromSeq up to seq, but the receiver's own
  newVectorClock: VectorClock;
  operation?: AppliedOperation;
  operations?: AppliedOperation[];
  update?: string;
  resync?: boolean; // too large for a frame: fetch it with document:sync
}

/** `document:synced`, and each document of `session:recovered` once its names are read as these. */
export interface CatchUp extends LargeContentHead {
  vectorClock: VectorClock;
  fromSeq?: number;
  operations?: AppliedOperation[] | null;
  update?: string;
  fullResync?: boolean;
}

export interface RecoveredSession extends Partial<LargeContentHead> {
  prdId: string;
  seq?: number;
  fromSeq?: number;
  missedOperations?: AppliedOperation[] | null;
  currentVectorClock?: VectorClock;
  clockKey?: string | null;
  update?: string;
  fullResync?: boolean;
  error?: ErrorBody;
}

export interface EditAck {
  prdId: string;
  seq: number;
  operations: AppliedOperation[];
  vectorClock: VectorClock;
  duplicate: boolean;
}

export interface DocumentPart {
  prdId: string;
  seq: number;
  part: number;
  parts: number;
  currentContent: string;
  state: string;
}

/** The server's events this package reads; any other event is delivered untyped. */
export interface ServerEvents {
  "document:joined": DocumentJoined;
  "document:part": DocumentPart;
  "operation:applied": OperationApplied;
  "presence:updated": PresenceSession & { prdId: string };
  "session:expiring": { expiresAt: string | number; refreshWith: string };
  "error:auth": ErrorBody;
  "error:operation": ErrorBody & { operation: string | null };
}

export type { ClientEvents };
