// The side panels, one per part of the API: who is here, comments, the AI (generation and
// suggestions), versions and approvals, Jira, conflicts, and (admins) live metrics. Each one asks
// with requests and keeps itself current with the server's events.
import type { PrdClient } from "@prdtool/client";
import type { YjsProvider } from "@prdtool/client/yjs";

import { act, errorLine, fill, h } from "./dom.js";
import type { PrdEditor, Place } from "./editor.js";

export interface Context {
  client: PrdClient;
  provider: YjsProvider;
  editor: PrdEditor;
  prdId: string;
  userId: string;
  isAdmin: boolean;
}

type Data = Record<string, any>; // server payloads, read field by field

/** Listen to a server event of this PRD only. */
function onPrd(ctx: Context, event: string, handler: (data: Data) => void): void {
  ctx.client.on(event, (data: Data) => {
    if (!data?.prdId || data.prdId === ctx.prdId) handler(data);
  });
}

function section(title: string, id: string, ...children: Array<Node | null>): HTMLElement {
  return h("section", { className: "panel", id }, h("h3", {}, title), ...children);
}

// ---------------------------------------------------------------------- people

export function people(ctx: Context): HTMLElement {
  const list = h("ul", { className: "people" });
  const awareness = ctx.provider.awareness!;
  const render = () => {
    const rows: HTMLElement[] = [];
    for (const [id, state] of awareness.getStates()) {
      const user = state.user as { name: string; color: string } | undefined;
      if (!user) continue;
      const me = id === awareness.clientID;
      const status = me ? "you" : String(state.status ?? "active");
      rows.push(
        h("li", { "data-user": me ? ctx.userId : state.userId, "data-status": status },
          h("span", { className: "dot", style: `background:${user.color}` }),
          ` ${user.name} `, h("small", {}, status)),
      );
    }
    fill(list, ...rows);
  };
  awareness.on("change", render);
  render();
  return section("Here now", "panel-people", list);
}

// ---------------------------------------------------------------------- comments

export function comments(ctx: Context): HTMLElement {
  const list = h("div", { className: "threads" });
  const content = h("textarea", { id: "comment-text", rows: 2, placeholder: "Comment on the selection; @user_456 mentions" });
  const error = errorLine();
  const refresh = async () => {
    const { threads } = await ctx.client.request("comment:list", { prdId: ctx.prdId });
    render(threads as Data[]);
  };
  const render = (threads: Data[]) => {
    ctx.editor.showAnchors(
      threads.filter((t) => t.selection).map((t) => ({ id: t.commentId, from: t.selection.start, to: t.selection.end })),
    );
    fill(list, ...threads.map((thread) => threadView(ctx, thread, refresh, error)));
  };
  const add = h("button", {
    id: "comment-add",
    onclick: act(error, async () => {
      const text = content.value.trim();
      const { start, end } = ctx.editor.selection();
      const mentions = [...text.matchAll(/@([\w#.-]+)/g)].map((m) => m[1]);
      const hasSelection = start.line !== end.line || start.ch !== end.ch;
      await ctx.client.request("comment:add", {
        prdId: ctx.prdId, content: text, position: start, ...(hasSelection && { selection: { start, end } }),
        ...(mentions.length > 0 && { mentions }),
      });
      content.value = "";
    }),
  }, "Comment");
  onPrd(ctx, "comment:added", () => void refresh());
  onPrd(ctx, "comment:updated", () => void refresh());
  void refresh();
  return section("Comments", "panel-comments", content, add, error, list);
}

function threadView(ctx: Context, thread: Data, refresh: () => Promise<void>, error: HTMLElement): HTMLElement {
  const reply = h("input", { className: "reply-text", placeholder: "Reply" });
  const where = thread.selection ?? { start: thread.position, end: thread.position };
  const body = (c: Data) =>
    h("div", { className: "comment", "data-comment": c.commentId },
      h("b", {}, c.author?.name ?? c.author?.id ?? ""), " ", c.deleted ? h("i", {}, "deleted") : c.content);
  return h("article", { className: `thread${thread.anchor === "orphaned" ? " orphaned" : ""}`, "data-thread": thread.commentId },
    h("blockquote", { onclick: () => ctx.editor.select(where.start as Place, where.end as Place) },
      thread.quote ? `“${thread.quote}”` : `line ${thread.position.line + 1}`),
    body(thread),
    ...(thread.replies ?? []).map(body),
    reply,
    h("button", {
      onclick: act(error, async () => {
        await ctx.client.request("comment:add", {
          prdId: ctx.prdId, content: reply.value, position: thread.position, parentId: thread.commentId,
        });
        await refresh();
      }),
    }, "Reply"),
    h("button", {
      className: "resolve",
      onclick: act(error, async () => {
        await ctx.client.request("comment:resolve", { prdId: ctx.prdId, commentId: thread.commentId });
        await refresh();
      }),
    }, "Resolve"),
  );
}

// ---------------------------------------------------------------------- inbox

export function inbox(ctx: Context, button: HTMLButtonElement, count: HTMLElement): HTMLElement {
  const list = h("ul", { className: "inbox" });
  const error = errorLine();
  const refresh = async () => {
    const { notifications } = await ctx.client.request("notification:list", { limit: 20 });
    const items = notifications as Data[];
    count.textContent = String(items.filter((n) => !n.read).length);
    fill(list, ...items.map((n) =>
      h("li", { className: n.read ? "read" : "unread" },
        `${n.type}: ${n.by?.name ?? ""} ${n.excerpt ?? n.message ?? n.version ?? ""} `,
        h("button", {
          onclick: act(error, async () => {
            await ctx.client.request("notification:read", { notificationIds: [n.notificationId] });
            await refresh();
          }),
        }, "Read"))));
  };
  for (const event of ["notification:mention", "approval:requested", "approval:granted", "approval:rejected"]) {
    ctx.client.on(event, () => void refresh());
  }
  const panel = section("Inbox", "panel-inbox", list, error);
  panel.hidden = true;
  button.hidden = false;
  button.onclick = () => (panel.hidden = !panel.hidden);
  void refresh();
  return panel;
}

// ---------------------------------------------------------------------- AI generation

export function generation(ctx: Context): HTMLElement {
  const prompt = h("input", { id: "ai-prompt", placeholder: "Add OAuth2 requirements", size: 30 });
  const sectionName = h("input", { id: "ai-section", value: "requirements", size: 12 });
  const preview = h("pre", { id: "ai-preview", className: "preview" });
  const state = h("small", { id: "ai-state" });
  const error = errorLine();
  let streamId = "";
  let done = "";
  const control = (what: "pause" | "resume" | "cancel") =>
    h("button", {
      className: `ai-${what}`,
      onclick: act(error, async () => {
        const { status } = await ctx.client.request(`ai:stream-${what}`, { streamId });
        state.textContent = String(status); // paused, streaming, cancelled
      }),
    }, what[0].toUpperCase() + what.slice(1));
  const insert = h("button", {
    id: "ai-insert", disabled: true,
    onclick: () => {
      ctx.editor.insertAtCursor(done);
      insert.disabled = true;
    },
  }, "Insert");
  ctx.client.on("ai:stream-start", (d: Data) => d.streamId === streamId && (state.textContent = "streaming"));
  ctx.client.on("ai:stream-chunk", (d: Data) => d.streamId === streamId && preview.append(d.chunk));
  ctx.client.on("ai:stream-complete", (d: Data) => {
    if (d.streamId !== streamId) return;
    done = d.content;
    preview.textContent = d.content;
    state.textContent = "complete";
    insert.disabled = false;
  });
  ctx.client.on("ai:stream-error", (d: Data) => d.streamId === streamId && (state.textContent = `${d.code}: ${d.message}`));
  const go = h("button", {
    id: "ai-generate",
    onclick: act(error, async () => {
      streamId = `stream_${Date.now().toString(36)}`;
      preview.textContent = "";
      insert.disabled = true;
      state.textContent = "starting";
      const { previousContent } = { previousContent: ctx.provider.text.toString().slice(-2000) };
      await ctx.client.request("ai:generate", {
        prdId: ctx.prdId, prompt: prompt.value || "Add requirements", section: sectionName.value || "requirements",
        streamId, context: { previousContent },
      });
    }),
  }, "Generate");
  return section("AI writer", "panel-ai", prompt, sectionName, go, control("pause"), control("resume"), control("cancel"),
    state, preview, insert, error);
}

// ---------------------------------------------------------------------- AI suggestions

export function suggestions(ctx: Context): HTMLElement {
  const list = h("ul", { className: "suggestions" });
  const error = errorLine();
  const refresh = async () => {
    const { suggestions: open } = await ctx.client.request("ai:suggestion-list", { prdId: ctx.prdId });
    fill(list, ...(open as Data[]).map((s) =>
      h("li", { "data-suggestion": s.suggestionId },
        h("b", {}, s.title), ` ${s.description ?? ""} `,
        h("button", { onclick: act(error, () => ctx.client.request("ai:suggestion-apply", { prdId: ctx.prdId, suggestionId: s.suggestionId }).then(refresh)) }, "Apply"),
        h("button", { onclick: act(error, () => ctx.client.request("ai:suggestion-dismiss", { prdId: ctx.prdId, suggestionId: s.suggestionId, reason: "not_relevant" }).then(refresh)) }, "Dismiss"))));
  };
  for (const event of ["ai:suggestion", "ai:suggestion-applied", "ai:suggestion-dismissed", "ai:suggestion-withdrawn"]) {
    onPrd(ctx, event, () => void refresh());
  }
  if (ctx.provider.session.mode === "edit") void refresh().catch((e) => (error.textContent = e.message));
  return section("Suggestions", "panel-suggestions", list, error);
}

// ---------------------------------------------------------------------- versions and approvals

export function versions(ctx: Context): HTMLElement {
  const changelog = h("input", { id: "version-changelog", placeholder: "What changed", size: 24 });
  const list = h("ul", { className: "versions" });
  const approvals = h("ul", { className: "approvals" });
  const diff = h("pre", { id: "version-diff", className: "preview" });
  const approvers = h("input", { id: "approval-approvers", placeholder: "user_456, ...", size: 16 });
  const error = errorLine();
  const refresh = async () => {
    const [{ versions: all }, { approvals: asked }] = await Promise.all([
      ctx.client.request("version:list", { prdId: ctx.prdId }),
      ctx.client.request("approval:list", { prdId: ctx.prdId }),
    ]);
    fill(list, ...(all as Data[]).map((v) =>
      h("li", { "data-version": v.version },
        h("b", {}, v.version), ` ${v.changelog ?? ""} `, h("small", {}, v.status ?? ""),
        h("button", { onclick: act(error, async () => (diff.textContent = String((await ctx.client.request("version:diff", { prdId: ctx.prdId, from: v.version })).diff || "(no change)"))) }, "Diff"),
        h("button", { onclick: act(error, () => ctx.client.request("version:restore", { prdId: ctx.prdId, version: v.version })) }, "Restore"),
        h("button", {
          className: "approval-request",
          onclick: act(error, async () => {
            const names = approvers.value.split(",").map((s) => s.trim()).filter(Boolean);
            await ctx.client.request("approval:request", { prdId: ctx.prdId, version: v.version, approvers: names, message: `Please review ${v.version}` });
            await refresh();
          }),
        }, "Ask approval"))));
    fill(approvals, ...(asked as Data[]).map((a) => {
      const mine = (a.approvers as Array<string | Data>).some((x) => (typeof x === "string" ? x : x.userId ?? x.id) === ctx.userId);
      return h("li", { "data-approval": a.approvalId, "data-status": a.status },
        `${a.version}: ${a.status} `,
        mine && a.status === "pending"
          ? h("span", {},
              h("button", { className: "approval-grant", onclick: act(error, () => ctx.client.request("approval:grant", { approvalId: a.approvalId }).then(refresh)) }, "Approve"),
              h("button", { onclick: act(error, () => ctx.client.request("approval:reject", { approvalId: a.approvalId, reason: "Needs changes" }).then(refresh)) }, "Reject"))
          : null);
    }));
  };
  const create = h("button", {
    id: "version-create",
    onclick: act(error, async () => {
      await ctx.client.request("version:create", { prdId: ctx.prdId, changelog: changelog.value || "Draft" });
      changelog.value = "";
      await refresh();
    }),
  }, "Create version");
  for (const event of ["version:created", "version:updated", "approval:requested", "approval:granted", "approval:rejected"]) {
    onPrd(ctx, event, () => void refresh());
  }
  void refresh().catch((e) => (error.textContent = e.message));
  return section("Versions and approvals", "panel-versions", changelog, create, h("label", {}, "Approvers "), approvers,
    list, h("h4", {}, "Approvals"), approvals, diff, error);
}

// ---------------------------------------------------------------------- Jira

export function jira(ctx: Context): HTMLElement {
  const status = h("div", { id: "jira-status" });
  const progress = h("div", { id: "jira-progress" });
  const error = errorLine();
  const refresh = async () => {
    const linked = await ctx.client.request("integration:status", { prdId: ctx.prdId, type: "jira" });
    if (!linked.linked) return void (status.textContent = "Not linked (integration:configure, owner)");
    fill(status, `${linked.projectKey} at ${linked.baseUrl}`,
      h("ul", {}, ...(linked.stories as Data[]).map((s) => h("li", {}, `${s.issueKey ?? "new"} ${s.title} ${s.status ?? ""}${s.conflict ? " (conflict)" : ""}`))));
  };
  onPrd(ctx, "integration:sync-status", (d) => {
    progress.textContent = `${d.status}: ${d.progress ?? ""}% created ${d.created ?? 0}, updated ${d.updated ?? 0}, failed ${d.failed ?? 0}`;
    if (d.status !== "in_progress") void refresh();
  });
  const sync = h("button", { onclick: act(error, () => ctx.client.request("integration:sync", { prdId: ctx.prdId, type: "jira" })) }, "Sync to Jira");
  void refresh().catch((e) => (error.textContent = e.message));
  return section("Jira", "panel-jira", status, sync, progress, error);
}

// ---------------------------------------------------------------------- conflicts

export function conflicts(ctx: Context): HTMLElement {
  const list = h("ul", { id: "conflicts" });
  const error = errorLine();
  onPrd(ctx, "conflict:detected", (d) => {
    const resolve = (resolution: "auto" | "ai") =>
      h("button", { onclick: act(error, async () => {
        await ctx.client.request("conflict:resolve", { conflictId: d.conflictId, resolution });
        item.remove();
      }) }, resolution === "ai" ? "Merge with AI" : "Keep both (auto)");
    const item = h("li", { "data-conflict": d.conflictId },
      (d.operations as Data[]).map((o) => `${o.userId}: “${o.operation?.content ?? o.operation?.type}”`).join(" vs "), " ",
      resolve("auto"), resolve("ai"));
    list.append(item);
  });
  onPrd(ctx, "conflict:resolved", (d) => list.querySelector(`[data-conflict="${d.conflictId}"]`)?.remove());
  return section("Conflicts", "panel-conflicts", list, error);
}

// ---------------------------------------------------------------------- health and metrics

export function health(ctx: Context, pill: HTMLElement): HTMLElement | null {
  const show = (d: Data) => {
    pill.textContent = `system ${d.status}`;
    pill.dataset.status = d.status;
    pill.title = d.message ?? JSON.stringify(d.services);
  };
  ctx.client.on("system:health", show);
  void ctx.client.request("system:health-check", {}).then(show, () => undefined);
  if (!ctx.isAdmin) return null;
  const metrics = h("pre", { id: "metrics", className: "preview" }, "waiting for metrics:realtime");
  ctx.client.on("metrics:realtime", (d: Data) => (metrics.textContent = JSON.stringify(d, null, 1)));
  void ctx.client.request("metrics:subscribe", {}).catch((e) => (metrics.textContent = e.message));
  return section("Live metrics", "panel-metrics", metrics);
}
