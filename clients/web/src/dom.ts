// The few DOM helpers the app needs: build elements, and show an error where it happened.

type Child = Node | string | null | undefined | false;

/** `h("button", {onclick}, "Save")`: an element with properties (or data-/aria- attributes) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Record<string, unknown> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("data-") || key.startsWith("aria-") || key === "for") element.setAttribute(key, String(value));
    else (element as unknown as Record<string, unknown>)[key] = value;
  }
  for (const child of children) if (child) element.append(child);
  return element;
}

/** Replace an element's children. */
export function fill(element: Element, ...children: Child[]): void {
  element.replaceChildren(...children.filter((c): c is Node | string => Boolean(c)));
}

/** Run an action from a button; a refusal is shown in `where` (the server's message and code). */
export function act(where: HTMLElement, action: () => Promise<unknown>): () => void {
  return () => {
    where.textContent = "";
    action().catch((error: { code?: string; message?: string }) => {
      where.textContent = `${error.message ?? error}${error.code ? ` (${error.code})` : ""}`;
    });
  };
}

export function errorLine(): HTMLParagraphElement {
  return h("p", { className: "error", "aria-live": "polite" });
}
