// The Markdown editor: CodeMirror 6 bound to the PRD's Y.Text through the Yjs provider (the others'
// cursors and selections come from the awareness it fills), with comment anchors marked in the text.
import { markdown } from "@codemirror/lang-markdown";
import { EditorState, StateEffect, StateField } from "@codemirror/state";
import { Decoration, type DecorationSet, EditorView } from "@codemirror/view";
import { basicSetup } from "codemirror";
import { yCollab } from "y-codemirror.next";
import * as Y from "yjs";

import type { YjsProvider } from "@prdtool/client/yjs";

export interface Place {
  line: number;
  ch: number;
}

export interface Anchor {
  id: string;
  from: Place;
  to: Place;
}

const setAnchors = StateEffect.define<Array<{ id: string; from: number; to: number }>>();

const anchors = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(marks, transaction) {
    marks = marks.map(transaction.changes); // anchors follow the text until the next list
    for (const effect of transaction.effects) {
      if (!effect.is(setAnchors)) continue;
      const ranges = effect.value
        .filter((a) => a.to > a.from)
        .sort((a, b) => a.from - b.from)
        .map((a) => Decoration.mark({ class: "cm-comment-anchor", attributes: { "data-comment": a.id } }).range(a.from, a.to));
      marks = Decoration.set(ranges, true);
    }
    return marks;
  },
  provide: (field) => EditorView.decorations.from(field),
});

export class PrdEditor {
  readonly view: EditorView;

  constructor(
    parent: HTMLElement,
    readonly provider: YjsProvider,
    readOnly: boolean,
  ) {
    const undoManager = new Y.UndoManager(provider.text);
    this.view = new EditorView({
      parent,
      state: EditorState.create({
        doc: provider.text.toString(),
        extensions: [
          basicSetup,
          markdown(),
          EditorView.lineWrapping,
          EditorState.readOnly.of(readOnly),
          yCollab(provider.text, provider.awareness ?? null, { undoManager }),
          anchors,
        ],
      }),
    });
    this.watchActivity();
  }

  /** The selection, as the server counts places: line and UTF-16 column. */
  selection(): { start: Place; end: Place } {
    const { from, to } = this.view.state.selection.main;
    return { start: this.place(from), end: this.place(to) };
  }

  place(offset: number): Place {
    const line = this.view.state.doc.lineAt(offset);
    return { line: line.number - 1, ch: offset - line.from };
  }

  offset({ line, ch }: Place): number {
    const doc = this.view.state.doc;
    const at = doc.line(Math.min(line + 1, doc.lines));
    return Math.min(at.from + ch, at.to);
  }

  /** Insert at the cursor, as the user typing it would (it reaches the others through Yjs). */
  insertAtCursor(text: string): void {
    const { from, to } = this.view.state.selection.main;
    this.view.dispatch({ changes: { from, to, insert: text }, selection: { anchor: from + text.length } });
  }

  select(from: Place, to: Place): void {
    this.view.dispatch({ selection: { anchor: this.offset(from), head: this.offset(to) }, scrollIntoView: true });
    this.view.focus();
  }

  showAnchors(list: Anchor[]): void {
    this.view.dispatch({
      effects: setAnchors.of(list.map((a) => ({ id: a.id, from: this.offset(a.from), to: this.offset(a.to) }))),
    });
  }

  destroy(): void {
    this.view.destroy();
  }

  /** typing while keys come, idle 5 s after, away while the tab is hidden (presence:status). */
  private watchActivity(): void {
    let status: "typing" | "idle" | "away" | undefined;
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const tell = (next: "typing" | "idle" | "away") => {
      if (next === status || this.provider.session.mode === "view") return;
      status = next;
      this.provider.setStatus(next).catch(() => undefined);
    };
    this.view.dom.addEventListener("keydown", () => {
      tell("typing");
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => tell("idle"), 5_000);
    });
    document.addEventListener("visibilitychange", () => tell(document.hidden ? "away" : "idle"));
  }
}
