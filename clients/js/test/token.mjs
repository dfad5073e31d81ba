// A token source that first gives an expired token: the refused CONNECT asks it again, and the
// client connects with the next one, which expires within the server's warning time: the
// server's `session:expiring` makes the client send `session:refresh` with the last one.
import { connect, finish, settings, until } from "./scenario.mjs";

const tokens = [...settings.tokens];
let asked = 0;
const client = connect(async () => {
  asked++;
  return tokens.length > 1 ? tokens.shift() : tokens[0];
});
const errors = [];
client.on("error", (error) => errors.push(error.code));
await client.whenReady();
const info = await client.request("session:info", {});
const refreshed = [];
const send = client.socket.emit.bind(client.socket);
client.socket.emit = (event, ...rest) => {
  if (event === "session:refresh") refreshed.push(rest[0].token);
  return send(event, ...rest);
};
await until(() => refreshed.length > 0, "session:refresh", 30_000);
await new Promise((resolve) => setTimeout(resolve, 500)); // its answer
const after = await client.request("session:info", {});
client.close();
finish({ asked, userId: info.userId, errors, refreshed: refreshed.map((t) => t === settings.tokens[2]), after: after.userId });
