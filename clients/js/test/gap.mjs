// A post that never arrives: the first `operation:applied` a reader should get is dropped before
// the client sees it. The next one shows the gap; the client asks for what it missed.
import * as Y from "yjs";
import { YjsProvider } from "../dist/yjs.js";
import { connect, createShared, finish, settings, until } from "./scenario.mjs";

const { tokens, users, words } = settings;
const [writer, reader] = tokens.map((token) => connect(token));
const prdId = await createShared(writer, users.slice(1));
const typing = await YjsProvider.open(writer, prdId, new Y.Doc());
const reading = await YjsProvider.open(reader, prdId, new Y.Doc(), { mode: "view" });

let dropped = 0;
const deliver = reader.socket.onevent.bind(reader.socket);
reader.socket.onevent = (packet) => {
  if (packet.data?.[0] === "operation:applied" && dropped === 0) return void dropped++;
  deliver(packet);
};
const syncs = [];
const request = reader.request.bind(reader);
reader.request = (event, data, options) => {
  if (event === "document:sync") syncs.push(data);
  return request(event, data, options);
};

for (const word of words) {
  typing.text.insert(typing.text.length, word);
  await typing.session.pending[0]?.saved;
}
await until(() => reading.text.toString() === typing.text.toString(), "the reader to catch up", 10_000).catch(() => {});
finish({
  writer: typing.text.toString(),
  reader: reading.text.toString(),
  dropped,
  syncs: syncs.map(({ sinceSeq, stateVector }) => ({ sinceSeq, withStateVector: Boolean(stateVector) })),
  readerSeq: reading.session.seq,
  writerSeq: typing.session.seq,
});
