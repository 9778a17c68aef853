// The reader: a whole document (GET /documents/{id}), with a passage and its answering sentence marked and
// scrolled into view. Its address (#/doc?id=…&start=…) holds only the document and offsets, so a link opened in
// a new tab works too; the API key never goes into it.

import { call, documentPath } from "./api.js";
import { byId, fill, h, say } from "./dom.js";
import { t } from "./i18n.js";
import { marked, tidyBreaks } from "./text.js";

let loading = 0; // the latest load wins
let target = null; // the mark to bring back into view

/** The page's address of ``docId`` in collection ``name``, optionally at a passage ([start, end)) and sentence. */
export function readerHref(docId, name, { start, end, ss, se } = {}) {
  const params = new URLSearchParams({ id: docId });
  if (name && name !== "default") params.set("c", name);
  for (const [key, value] of Object.entries({ start, end, ss, se })) {
    if (Number.isInteger(value)) params.set(key, String(value));
  }
  return `#/doc?${params}`;
}

export function initReader() {
  byId("reader-jump").addEventListener("click", () => show(target));
}

function int(params, key) {
  const value = Number.parseInt(params.get(key) ?? "", 10);
  return Number.isInteger(value) && value >= 0 ? value : null;
}

/** Open the document named in the address ``params`` (URLSearchParams). */
export async function openReader(params) {
  const mine = ++loading;
  const docId = params.get("id") || "";
  const name = params.get("c") || "default";
  target = null;
  byId("reader-heading").textContent = docId;
  byId("reader-heading").title = docId; // cut short on a phone
  byId("reader-meta").replaceChildren();
  byId("reader-jump").hidden = true;
  fill(byId("reader-text"));
  say(byId("reader-error"), "");
  byId("reader-status").textContent = t("reader.loading");
  let doc;
  try {
    doc = (await call(documentPath(docId), { collection: name })).data;
  } catch (failure) {
    if (mine !== loading) return;
    byId("reader-status").textContent = "";
    say(byId("reader-error"), failure.readable ?? t("err.unexpected", { detail: failure.message }));
    return;
  }
  if (mine !== loading) return;
  byId("reader-status").textContent = "";
  render(doc, params);
}

function render(doc, params) {
  fill(byId("reader-meta"), doc.chunks === 1 ? t("docs.chunks.one") : t("reader.meta", { n: doc.chunks }));
  if (typeof doc.text !== "string") {
    say(byId("reader-error"), t("reader.gone"));
    return;
  }
  const start = int(params, "start");
  const end = int(params, "end");
  const ranges = [];
  if (start !== null && end !== null) ranges.push({ start, end, class: "passage-mark" });
  const ss = int(params, "ss");
  const se = int(params, "se");
  if (ss !== null && se !== null) ranges.push({ start: ss, end: se, class: "hl" });
  const { nodes, marks } = marked(doc.text, 0, ranges);
  tidyBreaks(fill(byId("reader-text"), ...nodes), 2);
  target = marks[0] ?? null;
  if (target) {
    target.tabIndex = -1; // focusable from script, so keyboard and screen-reader users land on the passage
    byId("reader-jump").hidden = false;
    show(target);
  } else {
    window.scrollTo(0, 0);
    byId("reader-heading").focus?.();
  }
}

function show(mark) {
  if (!mark) return;
  mark.scrollIntoView({ block: "center" });
  mark.focus({ preventScroll: true });
}
