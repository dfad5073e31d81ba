// The API's types. Every event's payload, both ways, is generated from the server's models
// (generated/events.ts, by `make contract`); what the contract does not describe yet (the acks'
// results) is written here.
import type {
  AppliedOperation,
  ClientEvents,
  CRDTOperation,
  DocumentJoined,
  DocumentSynced,
  ServerEvents,
} from "./generated/events.js";

export type * from "./generated/events.js";

export type ClientEventName = keyof ClientEvents;
export type ServerEventName = keyof ServerEvents;
export type VectorClock = Record<string, number>;

/** An op as a client makes it (the spec's CRDTOperation, the clock set by the session). */
export type Operation = Omit<CRDTOperation, "vectorClock">;

export interface ErrorBody {
  code: string;
  message: string;
  data?: Record<string, unknown>;
}

/** What every acknowledgement is: `{ok: true, ...result}` or `{ok: false, error}`. */
export type Ack = ({ ok: true } & Record<string, unknown>) | { ok: false; error: ErrorBody };

/** The head of an answer whose content may come inline, by URL or in parts. */
export type LargeContentHead = Pick<
  DocumentJoined & DocumentSynced,
  "prdId" | "seq" | "currentContent" | "state" | "contentUrl" | "contentUrlExpiresAt" | "parts"
>;

/** The `operation:edit` ack's result. */
export interface EditAck {
  prdId: string;
  seq: number;
  operations: AppliedOperation[];
  vectorClock: VectorClock;
  duplicate: boolean;
}
