// Helpers for the client's scenarios (run by tests/e2e/test_js_client.py against `prdtool-local
// serve`): each scenario reads its settings from argv as JSON and prints what it saw as JSON.
import { PrdClient } from "../dist/index.js";

export const settings = JSON.parse(process.argv[2]);

export function connect(token, options = {}) {
  return new PrdClient({ url: settings.url, token, ackTimeoutMs: 10_000, ...options });
}

/** A new PRD owned by the first client's user, shared as editor with `others` (user ids). */
export async function createShared(owner, others, title = "Client test") {
  await owner.whenReady();
  const { prdId } = await owner.request("document:create", { title });
  for (const userId of others) await owner.request("document:share", { prdId, userId, role: "editor" });
  return prdId;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Wait until `done()` holds (checked every 20 ms), or fail after `ms`. */
export async function until(done, what, ms = 20_000) {
  const start = Date.now();
  while (!done()) {
    if (Date.now() - start > ms) throw new Error(`gave up waiting for ${what}`);
    await sleep(20);
  }
}

/** Every state each edit went through, in order, by opId. */
export function recordStates(session) {
  const states = new Map();
  session.on("edit", (edit) => {
    const seen = states.get(edit.opId) ?? [];
    if (seen[seen.length - 1] !== edit.state) seen.push(edit.state);
    if (edit.state === "saved") edit.saved.then((ack) => ack.duplicate && seen.push("(duplicate)"));
    states.set(edit.opId, seen);
  });
  return states;
}

export function finish(result) {
  console.log(JSON.stringify(result));
  process.exit(0);
}

process.on("unhandledRejection", (error) => {
  console.error(error);
  process.exit(1);
});
