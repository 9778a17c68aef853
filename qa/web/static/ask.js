// The Ask view: a question goes to POST /ask; the answering sentence comes first (its answer span marked), then
// every passage with its own answering sentence marked, its document, its calibrated relevance and a link to it in
// the whole document. When no passage is relevant enough the server answers null: the page says "not found in your
// documents" and folds the nearest passages under a button rather than presenting them as an answer.

import { call, collection } from "./api.js";
import { byId, fill, h, say } from "./dom.js";
import { t } from "./i18n.js";
import { chips, where } from "./parts.js";
import { readerHref } from "./reader.js";
import { marked, tidyBreaks } from "./text.js";

let shown = null; // the last answer on the page, re-drawn when the language changes
let pending = null; // the AbortController of the question being asked

export function initAsk() {
  byId("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    ask();
  });
  byId("nearest-toggle").addEventListener("click", () => {
    const toggle = byId("nearest-toggle");
    foldNearest(toggle.getAttribute("aria-expanded") === "true", shown?.results.length ?? 0);
  });
  byId("question").addEventListener("input", () => {
    byId("question").removeAttribute("aria-invalid");
    say(byId("ask-error"), "");
  });
}

/** Forget the answer on the page (another collection was chosen). */
export function clearAsk() {
  shown = null;
  byId("results").hidden = true;
  say(byId("ask-error"), "");
  byId("ask-status").textContent = "";
}

export function redrawAsk() {
  if (shown) render(shown);
}

function topK() {
  const input = byId("top-k");
  const k = Math.min(100, Math.max(1, Number.parseInt(input.value, 10) || 5));
  input.value = k;
  return k;
}

async function ask() {
  const input = byId("question");
  const question = input.value.trim();
  const error = byId("ask-error");
  if (!question) {
    input.setAttribute("aria-invalid", "true");
    say(error, t("ask.empty"));
    input.focus();
    return;
  }
  pending?.abort();
  const mine = new AbortController();
  pending = mine;
  say(error, "");
  byId("ask-status").textContent = t("ask.searching");
  byId("ask-form").setAttribute("aria-busy", "true");
  const body = { question, top_k: topK(), mode: byId("mode").value };
  try {
    const { data } = await call("/ask", { method: "POST", json: body, signal: mine.signal });
    shown = { ...data, collection: collection() };
    render(shown);
  } catch (failure) {
    if (failure.name === "AbortError") return;
    byId("ask-status").textContent = "";
    say(error, failure.readable ?? t("err.unexpected", { detail: failure.message }));
  } finally {
    if (pending === mine) {
      pending = null;
      byId("ask-form").removeAttribute("aria-busy");
    }
  }
}

function tookMessage(data) {
  const ms = data.took_ms < 10 ? data.took_ms.toFixed(1) : Math.round(data.took_ms);
  const n = data.results.length;
  return n === 1 ? t("ask.took.one", { ms }) : t("ask.took", { n, ms });
}

function render(data) {
  const results = byId("results");
  if (!data.results.length) {
    results.hidden = true;
    byId("ask-status").textContent = tookMessage(data);
    say(byId("ask-error"), t("ask.none"));
    return;
  }
  byId("ask-status").textContent = tookMessage(data);
  byId("ask-hint").hidden = true;
  renderAnswer(data);
  fill(byId("passages"), data.results.map((passage, i) => renderPassage(passage, i + 1, data.collection)));
  const toggle = byId("nearest-toggle");
  toggle.hidden = Boolean(data.answer);
  foldNearest(!data.answer, data.results.length);
  results.hidden = false;
}

/** Fold (or unfold) the passages under the "not found" state; with an answer they are always shown. */
function foldNearest(folded, n) {
  const toggle = byId("nearest-toggle");
  byId("passages-block").hidden = folded;
  toggle.setAttribute("aria-expanded", String(!folded));
  toggle.textContent = folded ? t("nearest.show", { n }) : t("nearest.hide");
}

/** The sentence's text, its answer span (when the server found one) wrapped in a <mark class="span">. */
function sentenceNodes(sentence) {
  const span = sentence.span;
  if (!span) return [sentence.text];
  const mark = { start: span.start, end: span.end, class: "span", title: t("answer.span") };
  return marked(sentence.text, sentence.start, [mark]).nodes;
}

function renderAnswer(data) {
  const answer = data.answer;
  const section = byId("answer");
  section.classList.toggle("not-found", !answer);
  byId("answer-heading").textContent = t(answer ? "answer" : "answer.none.title");
  const translation = byId("answer-translation");
  translation.hidden = !answer?.translation;
  translation.textContent = answer?.translation ?? "";
  if (!answer) {
    fill(byId("answer-text"), t("answer.none"));
    fill(byId("answer-source"));
    return;
  }
  const passage = data.results.find((p) => p.chunk_id === answer.chunk_id) ?? data.results[0];
  fill(byId("answer-text"), ...sentenceNodes(answer));
  const link = h("a", { class: "doc-link", href: hrefOf(passage, data.collection), text: passage.doc_id });
  fill(
    byId("answer-source"),
    h("span", { class: "from", text: t("answer.from") }),
    " ",
    link,
    ...where(passage).map((part) => h("span", { class: "where", text: part })),
    relevance(passage),
  );
}

function renderPassage(passage, rank, name) {
  const sentence = passage.sentence;
  const ranges = sentence ? [{ start: sentence.start, end: sentence.end, class: "hl" }] : [];
  if (sentence?.span) ranges.push({ start: sentence.span.start, end: sentence.span.end, class: "span" });
  const text = marked(passage.text, passage.start, ranges).nodes;
  const open = h("a", {
    class: "open",
    href: hrefOf(passage, name),
    "aria-label": t("passage.open.label", { name: passage.doc_id, n: rank }),
    text: t("passage.open"),
  });
  return h(
    "li",
    { class: "passage" },
    h(
      "div",
      { class: "passage-head" },
      h("span", { class: "rank", "aria-label": t("passage.rank", { n: rank }), text: String(rank) }),
      h("span", { class: "doc-name", text: passage.doc_id }),
      ...where(passage).map((part) => h("span", { class: "where", text: part })),
      relevance(passage),
    ),
    tidyBreaks(h("p", { class: "passage-text" }, ...text), 1),
    h("div", { class: "passage-foot" }, chips(passage.metadata), open),
  );
}

function hrefOf(passage, name) {
  const sentence = passage.sentence;
  return readerHref(passage.doc_id, name, {
    start: passage.start,
    end: passage.end,
    ss: sentence?.start,
    se: sentence?.end,
  });
}

function relevance(passage) {
  if (typeof passage.relevance !== "number") return null;
  const p = Math.min(1, Math.max(0, passage.relevance));
  const percent = p > 0 && p < 0.01 ? "<1%" : `${Math.round(p * 100)}%`;
  const bar = h("span", { class: "meter", "aria-hidden": "true" }, h("span", { class: "meter-fill" }));
  bar.firstChild.style.width = `${(p * 100).toFixed(1)}%`; // CSSOM, which the style-src policy allows
  const level = p >= 0.5 ? "high" : p >= 0.2 ? "mid" : "low";
  return h(
    "span",
    { class: `score ${level}`, title: t("relevance.title") },
    bar,
    h("span", { class: "score-value", text: percent }),
    h("span", { class: "score-label", text: t("relevance") }),
  );
}
