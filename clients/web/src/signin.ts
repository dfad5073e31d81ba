// Signing in: a demo user of the local token service (make dev), or any token and URL (a deployed
// stack). The choice is kept in localStorage, so a reload signs in again.
import { h, fill, errorLine } from "./dom.js";

export interface Identity {
  url: string;
  userId: string;
  name: string;
  /** Asked again at each connect and before expiry: demo tokens are minted fresh each time. */
  token: () => Promise<string>;
}

interface LocalConfig {
  url: string;
  demoUsers: Array<{ id: string; name: string; roles: string[] }>;
}

const KEY = "prdtool.signin";

async function localConfig(): Promise<LocalConfig | null> {
  try {
    const response = await fetch("/app/config.json");
    return response.ok ? ((await response.json()) as LocalConfig) : null;
  } catch {
    return null;
  }
}

function demoToken(userId: string): () => Promise<string> {
  return async () => {
    const response = await fetch(`/app/token?user=${encodeURIComponent(userId)}`);
    if (!response.ok) throw new Error(`No token for ${userId} (${response.status})`);
    return ((await response.json()) as { token: string }).token;
  };
}

function claims(token: string): { sub?: string; name?: string } {
  try {
    return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return {};
  }
}

/** The identity kept from last time, if any. */
export async function remembered(): Promise<Identity | null> {
  const saved = localStorage.getItem(KEY);
  if (!saved) return null;
  const { url, userId, name, token } = JSON.parse(saved) as { url: string; userId: string; name: string; token?: string };
  return { url, userId, name, token: token ? async () => token : demoToken(userId) };
}

export function forget(): void {
  localStorage.removeItem(KEY);
}

/** Show the sign-in screen in `root`; resolves with the identity chosen. */
export async function signIn(root: HTMLElement): Promise<Identity> {
  const config = await localConfig();
  return new Promise((resolve) => {
    const url = h("input", { id: "server-url", value: config?.url ?? "", placeholder: "wss://<api>.execute-api.<region>.amazonaws.com/prod", size: 50 });
    const token = h("textarea", { id: "server-token", rows: 3, cols: 60, placeholder: "a JWT the stack accepts" });
    const error = errorLine();
    const choose = (identity: Identity, saved: Record<string, string>) => {
      localStorage.setItem(KEY, JSON.stringify({ url: identity.url, userId: identity.userId, name: identity.name, ...saved }));
      resolve(identity);
    };
    const demo = config
      ? h(
          "section",
          { className: "card" },
          h("h2", {}, "Sign in as a demo user"),
          h("p", {}, "The local stack's token service signs you in (make dev)."),
          ...config.demoUsers.map((user) =>
            h("button", {
              className: "demo-user",
              "data-user": user.id,
              onclick: () => choose({ url: url.value, userId: user.id, name: user.name, token: demoToken(user.id) }, {}),
            }, `${user.name} (${user.id}${user.roles.length ? `, ${user.roles.join(", ")}` : ""})`),
          ),
        )
      : null;
    const other = h(
      "section",
      { className: "card" },
      h("h2", {}, config ? "Or any stack" : "Connect to a stack"),
      h("label", { for: "server-url" }, "WebSocket URL (the stack's WebSocketUrl output)"),
      url,
      h("label", { for: "server-token" }, "Token"),
      token,
      h("button", {
        onclick: () => {
          const { sub, name } = claims(token.value.trim());
          if (!url.value || !sub) return void (error.textContent = "A URL and a token with a sub claim are needed");
          const value = token.value.trim();
          choose({ url: url.value, userId: sub, name: name ?? sub, token: async () => value }, { token: value });
        },
      }, "Connect"),
      error,
    );
    fill(root, h("div", { className: "signin" }, demo, other));
  });
}
