import type { ErrorBody } from "./protocol.js";

/** A refused request: the server's error code (docs/events.md#error-codes), or `TIMEOUT` when no
 * answer came in time and `DISCONNECTED` when the connection dropped before it did. */
export class PrdError extends Error {
  readonly code: string;
  readonly data: Record<string, unknown>;

  constructor(code: string, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = "PrdError";
    this.code = code;
    this.data = data;
  }

  static from(body: ErrorBody): PrdError {
    return new PrdError(body.code, body.message, body.data ?? {});
  }

  /** Whether sending the same request again may succeed: the server says so, or it never answered. */
  get retryable(): boolean {
    return this.data.retryable === true || this.code === "TIMEOUT" || this.code === "DISCONNECTED";
  }

  /** How long to wait before that, when the server said (`retryAfter`, in seconds). */
  get retryAfterMs(): number | undefined {
    const after = this.data.retryAfter;
    return typeof after === "number" ? after * 1000 : undefined;
  }
}
