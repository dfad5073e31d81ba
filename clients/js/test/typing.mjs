// Two people type into one PRD through the Yjs provider; one connection drops in the middle of
// typing (twice: once between edits, once losing an edit's ack) and keeps typing offline.
// Afterwards both docs and the server's text hold every keystroke exactly once.
import * as Y from "yjs";
import { YjsProvider } from "../dist/yjs.js";
import { connect, createShared, finish, recordStates, settings, sleep, until } from "./scenario.mjs";

const { tokens, users, words } = settings;
const clients = tokens.map((token) => connect(token));
const prdId = await createShared(clients[0], users.slice(1));
const providers = [];
for (const client of clients) providers.push(await YjsProvider.open(client, prdId, new Y.Doc()));
const states = recordStates(providers[0].session);
const statuses = [];
clients[0].on("status", (status) => statuses.push(status));

const drops = [];
async function typeWord(index, word, dropAt) {
  const { text } = providers[index];
  for (let n = 0; n < word.length; n++) {
    text.insert(text.length, word[n]);
    if (n === dropAt.between) {
      drops.push("between");
      clients[index].socket.io.engine.close(); // the network goes: no goodbye, as a real drop
    }
    if (n === dropAt.onTheWire) {
      // The ack of the next edit sent is lost with the connection: the server has the edit, the
      // client never hears so.
      const { session } = providers[index];
      const socket = clients[index].socket;
      const onEdit = (edit) => {
        if (edit.state !== "sent") return;
        session.off("edit", onEdit);
        const deliver = socket.onack.bind(socket);
        socket.onack = () => {
          socket.onack = deliver;
          drops.push("on the wire");
          socket.io.engine.close();
        };
      };
      session.on("edit", onEdit);
    }
    await sleep(15);
  }
}

const [first, second] = words;
await Promise.all([
  typeWord(0, first, { between: Math.floor(first.length / 3), onTheWire: Math.floor((2 * first.length) / 3) }),
  typeWord(1, second, {}),
]);
await until(() => providers.every((p) => p.unsaved === 0) && clients.every((c) => c.ready), "every edit saved");
await until(() => providers[0].text.toString() === providers[1].text.toString(), "the two docs to converge");

// The server's own text, as a newcomer gets it.
const witness = connect(tokens[0]);
const fresh = await witness.open(prdId, { mode: "view" });
finish({
  texts: providers.map((p) => p.text.toString()),
  server: fresh.initial.currentContent,
  drops,
  statuses,
  states: [...states.values()],
  seqs: providers.map((p) => p.session.seq),
  serverSeq: fresh.seq,
});
