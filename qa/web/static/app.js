// The page's start: language, the header (collection, API key, language switch) and the views, one at a time,
// chosen by the address's fragment (#/ask, #/documents, #/doc?id=…), so the browser's Back button works.

import { apiKey, call, collection, setApiKey, setCollection } from "./api.js";
import { clearAsk, initAsk, redrawAsk } from "./ask.js";
import { byId, fill, h } from "./dom.js";
import { forgetDocuments, initDocuments, redrawDocuments, showDocuments } from "./documents.js";
import { initialLanguage, language, setLanguage, t } from "./i18n.js";
import { initReader, openReader } from "./reader.js";

const VIEWS = { ask: "view-ask", documents: "view-documents", reader: "view-reader" };
const TABS = { ask: "tab-ask", documents: "tab-documents" };
let current = null;
let askScroll = 0; // where the answers were scrolled to, restored when the reader goes back to them
let opener = null; // the link that opened the reader, focused again on the way back
let cameFrom = null; // the view the reader was opened from (null: opened from outside, e.g. a new tab)
let collections = []; // [{name, documents, chunks}] as last listed

function parseRoute() {
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  if (path === "/documents") return { view: "documents" };
  if (path === "/doc") return { view: "reader", params: new URLSearchParams(query) };
  return { view: "ask" };
}

function route() {
  const { view, params } = parseRoute();
  const leaving = current;
  if (leaving === "ask" && view !== "ask") askScroll = window.scrollY;
  current = view;
  for (const [name, id] of Object.entries(VIEWS)) byId(id).hidden = name !== view;
  for (const [name, id] of Object.entries(TABS)) {
    if (name === view) byId(id).setAttribute("aria-current", "page");
    else byId(id).removeAttribute("aria-current");
  }
  if (view === "reader") {
    cameFrom = leaving === "reader" ? cameFrom : leaving;
    byId("reader-back").href = cameFrom === "documents" ? "#/documents" : "#/ask";
    openReader(params);
    return;
  }
  if (view === "documents") showDocuments();
  if (leaving === "reader" && opener?.isConnected && !byId(VIEWS[view]).contains(opener)) opener = null;
  if (leaving === "reader" && opener?.isConnected) {
    window.scrollTo(0, view === "ask" ? askScroll : window.scrollY);
    opener.focus({ preventScroll: view === "ask" });
  } else {
    window.scrollTo(0, 0);
  }
  if (view === "ask" && leaving === null) byId("question").focus();
}

function initReaderLinks() {
  document.addEventListener("click", (event) => {
    const link = event.target.closest?.("a[href^='#/doc']");
    if (link) opener = link;
  });
  // Back returns to the answers as they were (history, so the browser's own Back agrees); from outside, to Ask.
  byId("reader-back").addEventListener("click", (event) => {
    if (cameFrom !== null) {
      event.preventDefault();
      history.back();
    }
  });
}

async function loadCollections() {
  const select = byId("collection");
  try {
    collections = (await call("/collections", { collection: null })).data.collections;
  } catch {
    collections = [{ name: collection() }]; // without the key (or a server) only the chosen one is known
  }
  if (!collections.some((c) => c.name === collection())) setCollection("default");
  renderCollections();
  select.value = collection();
}

function renderCollections() {
  const options = collections.map((c) =>
    h("option", {
      value: c.name,
      text: Number.isInteger(c.documents) ? t("collection.option", { name: c.name, documents: c.documents }) : c.name,
    }),
  );
  fill(byId("collection"), options.length ? options : h("option", { value: "default", text: "default" }));
  byId("collection").value = collection();
  // Nothing to choose with one collection: most servers have only "default", and a phone's header needs the room.
  byId("collection").closest(".collection").hidden = collections.length < 2 && collection() === "default";
}

function initHeader() {
  byId("collection").addEventListener("change", (event) => {
    setCollection(event.target.value);
    clearAsk();
    forgetDocuments();
    if (current === "documents") showDocuments();
  });
  const input = byId("api-key");
  input.value = apiKey();
  const keyChanged = () => {
    setApiKey(input.value.trim());
    showKeyState();
    loadCollections();
    if (current === "documents") showDocuments();
  };
  const panel = byId("key-panel");
  const close = () => {
    panel.open = false;
    panel.querySelector("summary").focus();
  };
  input.addEventListener("change", keyChanged);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      keyChanged();
      close();
    }
  });
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && panel.open) close();
  });
  document.addEventListener("click", (event) => {
    if (panel.open && !panel.contains(event.target)) panel.open = false;
  });
  byId("key-forget").addEventListener("click", () => {
    input.value = "";
    keyChanged();
    input.focus();
  });
  document.addEventListener("qa:documents-changed", loadCollections);
  document.addEventListener("qa:key-needed", () => {
    byId("key-panel").open = true;
  });
  byId("lang").addEventListener("click", () => {
    setLanguage(language() === "zh" ? "en" : "zh", true);
    redraw();
  });
  showKeyState();
  showLanguageSwitch();
}

function showKeyState() {
  const set = Boolean(apiKey());
  byId("key-panel").classList.toggle("has-key", set);
  byId("key-summary").dataset.i18n = set ? "key.set" : "key.summary";
  byId("key-summary").textContent = t(byId("key-summary").dataset.i18n);
}

function showLanguageSwitch() {
  byId("lang").lang = language() === "zh" ? "en" : "zh"; // it is written in the language it switches to
}

function redraw() {
  showLanguageSwitch();
  showKeyState();
  renderCollections();
  redrawAsk();
  redrawDocuments();
  if (current === "reader") openReader(parseRoute().params);
}

function start() {
  setLanguage(initialLanguage());
  initHeader();
  initAsk();
  initDocuments();
  initReader();
  initReaderLinks();
  window.addEventListener("hashchange", route);
  route();
  loadCollections();
}

start();
