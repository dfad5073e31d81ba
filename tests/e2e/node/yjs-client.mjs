// A Yjs client of the PRD API: loads `state` from document:join into a Y.Doc, sends its own edits as
// Yjs updates, and applies everyone else's `update` from operation:applied. Prints its final text.
//
// Argument: {url, path, token, prdId, edits: [{index, text} | {index, delete}], waitMs}
import { io } from "socket.io-client";
import * as Y from "yjs";

const { url, path, token, prdId, edits, waitMs } = JSON.parse(process.argv[2]);
const socket = io(url, { path, transports: ["websocket"], auth: { token } });
const doc = new Y.Doc();
const text = doc.getText("content");
const b64 = (bytes) => Buffer.from(bytes).toString("base64");

socket.on("operation:applied", ({ update }) => Y.applyUpdate(doc, Buffer.from(update, "base64"), "server"));
await new Promise((resolve) => socket.once("connect", resolve));
const joined = await socket.timeout(5000).emitWithAck("document:join", { prdId, mode: "edit" });
Y.applyUpdate(doc, Buffer.from(joined.state, "base64"), "server");

const acks = [];
for (const { index, text: inserted, delete: deleted } of edits) {
  const before = Y.encodeStateVector(doc);
  if (deleted) text.delete(index, deleted);
  else text.insert(Math.min(index, text.length), inserted);
  const update = Y.encodeStateAsUpdate(doc, before);
  acks.push(await socket.timeout(5000).emitWithAck("operation:edit", { prdId, update: b64(update) }));
}
await new Promise((resolve) => setTimeout(resolve, waitMs ?? 500));
console.log(JSON.stringify({ text: text.toString(), acks: acks.map((a) => ({ ok: a.ok, seq: a.seq })) }));
socket.close();
