// Drives one stock socket.io-client through a scenario given as JSON, and prints what it saw as
// JSON. The assertions live in the Python tests (tests/e2e/test_node_client.py).
//
// Scenario: {url, options, emits: [{event, data, ack}], listen: [event], waitMs, until}: after the
// emits, wait waitMs, or less once the event named by `until` has come (then 500 ms more).
import { io } from "socket.io-client";

const scenario = JSON.parse(process.argv[2]);
const seen = { connected: false, connectErrors: [], acks: [], events: [], pings: 0, disconnects: [] };

const socket = io(scenario.url, { reconnectionDelay: 100, reconnectionDelayMax: 200, ...scenario.options });
socket.on("connect_error", (err) => seen.connectErrors.push({ message: err.message, data: err.data ?? null }));
socket.on("disconnect", (reason) => seen.disconnects.push(reason));
for (const name of scenario.listen ?? []) {
  socket.on(name, (...args) => seen.events.push({ event: name, args }));
}
socket.io.on("open", () => socket.io.engine.on("ping", () => { seen.pings += 1; }));
const arrived = scenario.until
  ? new Promise((resolve) => socket.once(scenario.until, () => setTimeout(resolve, 500)))
  : new Promise(() => {});

const connected = new Promise((resolve) => socket.once("connect", () => resolve(true)));
const refused = new Promise((resolve) => socket.once("connect_error", () => resolve(false)));
const timeout = new Promise((resolve) => setTimeout(() => resolve(false), 10000).unref());

if (await Promise.race([connected, refused, timeout])) {
  seen.connected = true;
  for (const { event, data, ack } of scenario.emits ?? []) {
    if (ack) {
      seen.acks.push(await socket.timeout(5000).emitWithAck(event, data));
    } else {
      socket.emit(event, data);
    }
  }
}
await Promise.race([arrived, new Promise((resolve) => setTimeout(resolve, scenario.waitMs ?? 0))]);
seen.stillConnected = socket.connected;
seen.active = socket.active; // false: the client has given up and will not reconnect by itself
console.log(JSON.stringify(seen)); // before close(), whose own "disconnect" is not the server's doing
socket.close();
