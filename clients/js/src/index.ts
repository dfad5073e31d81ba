export { PrdClient, type ClientOptions, type ConnectionStatus, type OpenOptions, type TokenSource } from "./client.js";
export {
  DocumentSession,
  PendingEdit,
  type Change,
  type EditState,
  type Loaded,
  type RemoteChange,
  type Resync,
  type SessionOptions,
} from "./document.js";
export { PrdError } from "./errors.js";
export { fromBase64, toBase64 } from "./base64.js";
export type * from "./protocol.js";
