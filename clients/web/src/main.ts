// The app: sign in, open or create a PRD, then write it together: the editor in the middle, the
// panels around it. `#prd_123` in the address opens that PRD directly.
import { PrdClient, type ClientEvents } from "@prdtool/client";
import { YjsProvider } from "@prdtool/client/yjs";
import { Awareness } from "y-protocols/awareness";
import * as Y from "yjs";

import { act, errorLine, fill, h } from "./dom.js";
import { PrdEditor } from "./editor.js";
import * as panels from "./panels.js";
import { forget, remembered, signIn, type Identity } from "./signin.js";

const root = document.getElementById("app")!;
const connection = document.getElementById("connection")!;

async function main(): Promise<void> {
  const identity = (await remembered()) ?? (await signIn(root));
  const client = new PrdClient({ url: identity.url, token: identity.token });
  client.on("status", (status) => {
    connection.textContent = status;
    connection.dataset.status = status;
  });
  client.on("error", (error) => {
    if (error.code === "UNAUTHORIZED") {
      forget();
      location.reload();
    }
  });
  await client.whenReady();
  const info = await client.request("session:info", {});
  fill(document.getElementById("who")!, `${info.userName} `,
    h("button", { id: "sign-out", onclick: () => (forget(), client.close(), location.reload()) }, "Sign out"));
  const roles = (info.roles as string[] | undefined) ?? [];
  const prdId = location.hash.slice(1);
  if (prdId) await openPrd(client, identity, prdId, roles.includes("admin"));
  else choosePrd(client, identity, roles.includes("admin"));
}

function choosePrd(client: PrdClient, identity: Identity, isAdmin: boolean): void {
  const id = h("input", { id: "prd-id", value: "prd_123", size: 20 });
  const title = h("input", { id: "prd-title", placeholder: "Checkout v2", size: 20 });
  const error = errorLine();
  const open = (prdId: string) => {
    location.hash = prdId;
    return openPrd(client, identity, prdId, isAdmin);
  };
  fill(root, h("div", { className: "signin" },
    h("section", { className: "card" }, h("h2", {}, "Open a PRD"), id,
      h("button", { id: "prd-open", onclick: act(error, () => open(id.value.trim())) }, "Open")),
    h("section", { className: "card" }, h("h2", {}, "New PRD"), title,
      h("button", { id: "prd-create", onclick: act(error, async () => {
        const created = await client.request("document:create", { title: title.value || "Untitled PRD" });
        await open(String(created.prdId));
      }) }, "Create")),
    error));
}

async function openPrd(client: PrdClient, identity: Identity, prdId: string, isAdmin: boolean): Promise<void> {
  const doc = new Y.Doc();
  const awareness = new Awareness(doc);
  const provider = await YjsProvider.open(client, prdId, doc, { awareness });
  const { joined } = provider.session;
  const color = String(joined.color ?? "#2563eb");
  awareness.setLocalStateField("user", { name: identity.name, color, colorLight: `${color}33` });
  const editorHost = h("div", { id: "editor" });
  const shareWith = h("input", { id: "share-user", placeholder: "user_456", size: 10 });
  const shareRole = h("select", { id: "share-role" }, ...["editor", "commenter", "viewer", "owner"].map((r) => h("option", { value: r }, r)));
  const error = errorLine();
  const saved = h("small", { id: "saved-state" });
  const head = h("div", { className: "doc-head" },
    h("b", { id: "prd-name" }, prdId), ` version ${joined.version} `, saved, " ",
    h("span", {}, "Share with ", shareWith, shareRole,
      h("button", { id: "share", onclick: act(error, () => client.request("document:share", { prdId, userId: shareWith.value.trim(), role: shareRole.value as ClientEvents["document:share"]["role"] })) }, "Share")),
    h("button", { onclick: () => ((location.hash = ""), location.reload()) }, "Other PRD"),
    error);
  const side = h("aside", { id: "panels" });
  fill(root, h("div", { className: "workspace" }, h("div", { className: "main" }, head, editorHost), side));
  const editor = new PrdEditor(editorHost, provider, provider.session.mode === "view");
  provider.session.on("edit", () => {
    const waiting = provider.unsaved;
    saved.textContent = waiting ? `${waiting} unsaved` : "saved";
    saved.dataset.unsaved = String(waiting);
  });
  const ctx: panels.Context = { client, provider, editor, prdId, userId: identity.userId, isAdmin };
  const inboxButton = document.getElementById("inbox-button") as HTMLButtonElement;
  side.append(
    panels.people(ctx),
    panels.inbox(ctx, inboxButton, document.getElementById("unread")!),
    panels.comments(ctx),
    panels.generation(ctx),
    panels.suggestions(ctx),
    panels.versions(ctx),
    panels.conflicts(ctx),
    panels.jira(ctx),
  );
  const metrics = panels.health(ctx, document.getElementById("health")!);
  if (metrics) side.append(metrics);
  // For the browser tests and the curious: the live objects.
  Object.assign(window, { prdtool: { client, provider, editor } });
}

main().catch((error) => fill(root, h("p", { className: "error" }, String(error?.message ?? error))));
