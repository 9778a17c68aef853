// The Documents view: the list (GET /documents, a page at a time, sorted and searched by the server), uploads by
// file picker or drag and drop (POST /documents/bulk, each file's outcome shown), delete, and a rebuild whose
// progress bar follows its job (GET /index/jobs/{id}).

import { ApiError, call, collection, documentPath } from "./api.js";
import { byId, fill, h, say } from "./dom.js";
import { language, size, t } from "./i18n.js";
import { chips } from "./parts.js";
import { readerHref } from "./reader.js";

const POLL_MS = 300;
const PAGE = 50; // documents per page: the list stays small however many there are
const BATCH_FILES = 25; // files per bulk request (the server takes up to QA_MAX_BULK_DOCUMENTS)
const BATCH_BYTES = 32 * 1024 * 1024; // and bytes (up to QA_MAX_BULK_BYTES)
let formats = null; // {suffixes, max_bytes} from GET /formats
let listed = []; // the documents of the page shown
let total = 0; // documents matching the search, over all pages
let passages = 0; // their passages
let cursors = [null]; // cursors[i] is the cursor of page i
let pageAt = 0;
let nextCursor = null;
let listing = 0; // the latest listing wins
let typing = null; // the search waits for a pause in typing
let jobShown = null; // id of the job the progress bar follows

export function initDocuments() {
  byId("file").addEventListener("change", (event) => {
    upload([...event.target.files]);
    event.target.value = ""; // choosing the same file again is a new upload
  });
  const zone = byId("dropzone");
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  for (const name of ["dragleave", "drop"]) zone.addEventListener(name, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    upload([...(event.dataTransfer?.files ?? [])]);
  });
  // A file dropped beside the zone must not make the browser leave the page to show it.
  for (const name of ["dragover", "drop"]) {
    window.addEventListener(name, (event) => {
      if (event.dataTransfer?.types?.includes("Files")) event.preventDefault();
    });
  }
  byId("rebuild").addEventListener("click", rebuild);
  for (const name of ["input", "change"]) {
    byId("doc-filter").addEventListener(name, () => {
      clearTimeout(typing);
      typing = setTimeout(firstPage, 200);
    });
  }
  byId("doc-sort").addEventListener("change", firstPage);
  byId("doc-prev").addEventListener("click", () => turn(-1));
  byId("doc-next").addEventListener("click", () => turn(+1));
  byId("metadata").addEventListener("input", () => byId("metadata").removeAttribute("aria-invalid"));
}

/** Load (or reload) the list, the accepted formats and any job already running. */
export async function showDocuments() {
  loadFormats();
  await Promise.all([loadList(), followRunningJob()]);
}

export function redrawDocuments() {
  renderFormats();
  renderList();
}

async function loadFormats() {
  if (formats) return;
  try {
    formats = (await call("/formats", { collection: null })).data;
    byId("file").accept = formats.suffixes.join(",");
    renderFormats();
  } catch {
    // an older server: no accept list; the server still refuses other types with a readable 415
  }
}

function renderFormats() {
  if (!formats) return;
  byId("accepts").textContent = t("docs.accepts", { suffixes: formats.suffixes.join(" "), size: size(formats.max_bytes) });
}

/** Tell the header its counts are stale. */
function changed() {
  document.dispatchEvent(new CustomEvent("qa:documents-changed"));
}

function firstPage() {
  cursors = [null];
  pageAt = 0;
  loadList();
}

function turn(step) {
  if (step > 0 && nextCursor) cursors[pageAt + 1] = nextCursor;
  pageAt = Math.max(0, pageAt + step);
  loadList();
}

async function loadList() {
  const mine = ++listing;
  const error = byId("docs-error");
  if (!listed.length) byId("docs-count").textContent = t("docs.loading");
  const params = new URLSearchParams({ limit: String(PAGE), sort: byId("doc-sort").value });
  const query = byId("doc-filter").value.trim();
  if (query) params.set("q", query);
  if (cursors[pageAt]) params.set("cursor", cursors[pageAt]);
  try {
    const { data } = await call(`/documents?${params}`);
    if (mine !== listing) return;
    if (!data.documents.length && pageAt > 0) return turn(-1); // the last page emptied (deletes): show the one before
    listed = data.documents;
    total = data.total ?? listed.length;
    passages = data.passages ?? listed.reduce((sum, doc) => sum + doc.chunks, 0);
    nextCursor = data.next_cursor ?? null;
    say(error, "");
  } catch (failure) {
    if (mine !== listing) return;
    listed = [];
    total = passages = 0;
    nextCursor = null;
    say(error, readable(failure));
  }
  renderList();
  showTranslation(mine);
}

/** The English channel's progress (GET /health's translation; null when QA_TRANSLATE_PASSAGES is off). */
async function showTranslation(mine) {
  const line = byId("docs-english");
  let progress = null;
  try {
    progress = (await call("/health")).data.translation ?? null;
  } catch {
    progress = null; // the list says what went wrong; this line only adds to it
  }
  if (mine !== listing) return;
  line.hidden = progress === null;
  if (progress === null) return;
  const key = progress.error ? "docs.english.stopped" : progress.translated < progress.passages ? "docs.english" : "docs.english.done";
  line.textContent = t(key, { done: progress.translated, n: progress.passages });
}

/** Clear what was listed for another collection or key. */
export function forgetDocuments() {
  listed = [];
  total = passages = 0;
  cursors = [null];
  pageAt = 0;
  nextCursor = null;
  renderList();
}

function renderList() {
  const query = byId("doc-filter").value.trim();
  byId("docs-count").textContent = query
    ? t("docs.count.match", { n: total })
    : t(total === 1 ? "docs.count.one" : "docs.count", { n: total, chunks: passages });
  const pager = byId("doc-pager");
  pager.hidden = pageAt === 0 && !nextCursor;
  const from = pageAt * PAGE + 1;
  byId("doc-page").textContent = t("docs.page", { from, to: from + listed.length - 1, n: total });
  byId("doc-prev").disabled = pageAt === 0;
  byId("doc-next").disabled = !nextCursor;
  const list = byId("doc-list");
  if (!listed.length) {
    const empty = query ? t("docs.nomatch", { q: query }) : byId("docs-error").hidden ? t("docs.empty") : "";
    fill(list, empty ? h("li", { class: "empty", text: empty }) : null);
    return;
  }
  fill(list, listed.map(renderDocument));
}

function fileFacts(doc) {
  if (doc.bytes == null) return "";
  const when = doc.modified ? new Date(doc.modified).toLocaleDateString(language() === "zh" ? "zh-CN" : "en") : "";
  return [size(doc.bytes), when].filter(Boolean).join(" · ");
}

function renderDocument(doc) {
  const name = collection();
  return h(
    "li",
    { class: "doc" },
    h(
      "div",
      { class: "doc-main" },
      h("a", { class: "doc-name", href: readerHref(doc.doc_id, name), text: doc.doc_id }),
      h("span", { class: "doc-chunks", text: doc.chunks === 1 ? t("docs.chunks.one") : t("docs.chunks", { n: doc.chunks }) }),
      h("span", { class: "doc-file", text: fileFacts(doc) }),
      chips(doc.metadata),
    ),
    h("button", {
      type: "button",
      class: "danger",
      "aria-label": t("docs.delete.label", { name: doc.doc_id }),
      text: t("docs.delete"),
      on: { click: () => remove(doc.doc_id) },
    }),
  );
}

async function remove(docId) {
  if (!window.confirm(t("docs.delete.confirm", { name: docId }))) return;
  try {
    await call(documentPath(docId), { method: "DELETE" });
    byId("docs-status").textContent = t("docs.deleted", { name: docId });
    say(byId("docs-error"), "");
    changed();
  } catch (failure) {
    say(byId("docs-error"), readable(failure));
  }
  await loadList();
  byId("doc-filter").focus(); // the button pressed is gone; keep keyboard users in the list's neighbourhood
}

function readable(failure) {
  return failure.readable ?? t("err.unexpected", { detail: failure.message });
}

function metadataField() {
  const input = byId("metadata");
  const raw = input.value.trim();
  if (!raw) return { ok: true, value: null };
  try {
    const value = JSON.parse(raw);
    if (value && typeof value === "object" && !Array.isArray(value)) return { ok: true, value: raw };
  } catch {
    // reported below
  }
  input.setAttribute("aria-invalid", "true");
  return { ok: false };
}

function suffixOf(name) {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot).toLowerCase() : "";
}

async function upload(files) {
  if (!files.length) return;
  const metadata = metadataField();
  const list = byId("uploads");
  if (!metadata.ok) {
    fill(list, h("li", { class: "failed", text: t("upload.badMetadata") }));
    byId("metadata").focus();
    return;
  }
  const replace = byId("replace").checked;
  const lines = files.map((file) => h("li", { class: "sending", text: t("upload.sending", { name: file.name }) }));
  fill(list, lines);
  const sendable = [];
  for (const [i, file] of files.entries()) {
    const refused = refusal(file);
    if (refused) mark(lines[i], "failed", refused);
    else sendable.push({ file, line: lines[i] });
  }
  for (const batch of batches(sendable)) await uploadBatch(batch, metadata.value, replace);
  changed();
  await loadList();
}

/** Why the server would refuse ``file`` (its type or size), said before sending it; null when it may go. */
function refusal(file) {
  const name = file.name;
  if (formats && !formats.suffixes.includes(suffixOf(name))) {
    return t("upload.badType", { name, suffixes: formats.suffixes.join(" ") });
  }
  if (formats && file.size > formats.max_bytes) return t("upload.tooLarge", { name, size: size(formats.max_bytes) });
  return null;
}

function batches(items) {
  const out = [];
  let current = [];
  let bytes = 0;
  for (const item of items) {
    if (current.length && (current.length >= BATCH_FILES || bytes + item.file.size > BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.file.size;
  }
  if (current.length) out.push(current);
  return out;
}

function mark(line, state, text) {
  line.className = state;
  line.textContent = text;
}

/** One POST /documents/bulk: one index change for the batch, each file's outcome on its own line. */
async function uploadBatch(batch, metadata, replace) {
  const form = new FormData();
  for (const { file } of batch) form.append("file", file, file.name);
  if (metadata) form.append("metadata", metadata);
  try {
    let { status, data } = await call(`/documents/bulk?replace=${replace}`, { method: "POST", form });
    if (status === 202) {
      for (const { file, line } of batch) mark(line, "sending", t("upload.job", { name: file.name }));
      const last = batch[batch.length - 1].line;
      const progress = last.appendChild(h("progress", { max: "1", "aria-label": t("job.label") }));
      const job = await pollJob(data.id, collection(), (update) => setProgress(progress, update));
      if (job.state !== "succeeded") {
        for (const { line } of batch) mark(line, "failed", t("job.failed", { error: job.error }));
        return;
      }
      data = job.result;
    }
    batch.forEach(({ file, line }, i) => outcome(line, file.name, data.documents[i]));
  } catch (failure) {
    for (const { file, line } of batch) mark(line, "failed", `${file.name}: ${readable(failure)}`);
  }
}

function outcome(line, name, result) {
  if (!result) return mark(line, "failed", `${name}: ${t("err.unexpected", { detail: "no outcome" })}`);
  if (result.status === 201 || result.status === 200) {
    const key = `${result.status === 201 ? "upload.added" : "upload.replaced"}${result.chunks === 1 ? ".one" : ""}`;
    return mark(line, "done", t(key, { name, n: result.chunks }));
  }
  mark(line, "failed", result.status === 409 ? t("upload.exists", { name }) : `${name}: ${result.error}`);
}

async function pollJob(id, name, onUpdate) {
  for (;;) {
    const { data: job } = await call(`/index/jobs/${encodeURIComponent(id)}`, { collection: name });
    onUpdate(job);
    if (job.state !== "queued" && job.state !== "running") return job;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function setProgress(progress, job) {
  if (job.state === "succeeded") {
    progress.max = 1;
    progress.value = 1;
  } else if (job.total > 0) {
    progress.max = job.total;
    progress.value = job.done;
  } else {
    progress.removeAttribute("value"); // not known yet: an indeterminate bar
  }
}

function jobText(job) {
  if (job.state === "queued") return t("job.queued");
  if (job.state === "running") return job.total > 0 ? t("job.running", { done: job.done, total: job.total }) : t("job.starting");
  if (job.state === "succeeded") return t("job.succeeded", { chunks: job.result?.chunks ?? "?" });
  return t("job.failed", { error: job.error ?? "" });
}

async function rebuild() {
  say(byId("docs-error"), "");
  try {
    const { data } = await call("/index/rebuild", { method: "POST" });
    await follow(data);
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 409 && (await followRunningJob())) return;
    say(byId("docs-error"), readable(failure));
  }
}

/** Follow a job of this collection that is already running (one started elsewhere, or at start-up). */
async function followRunningJob() {
  try {
    const { data } = await call("/index/jobs");
    const running = data.jobs.find((job) => job.state === "queued" || job.state === "running");
    if (running) await follow(running);
    return Boolean(running);
  } catch {
    return false; // the list reports a missing key or an unreachable server already
  }
}

async function follow(job) {
  if (jobShown === job.id) return;
  jobShown = job.id;
  const box = byId("job");
  const progress = byId("job-progress");
  const status = byId("job-status");
  const button = byId("rebuild");
  box.hidden = false;
  button.disabled = true;
  const update = (current) => {
    setProgress(progress, current);
    status.textContent = jobText(current);
  };
  update(job);
  try {
    const last = await pollJob(job.id, collection(), update);
    box.classList.toggle("failed", last.state === "failed");
  } catch (failure) {
    status.textContent = readable(failure);
  } finally {
    button.disabled = false;
    jobShown = null;
  }
  await loadList();
}
