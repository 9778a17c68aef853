// The Documents view: the list (GET /documents), uploads by file picker or drag and drop (POST or PUT
// /documents), delete, and a rebuild whose progress bar follows its job (GET /index/jobs/{id}).

import { ApiError, call, collection, documentPath } from "./api.js";
import { byId, fill, h, say } from "./dom.js";
import { size, t } from "./i18n.js";
import { chips } from "./parts.js";
import { readerHref } from "./reader.js";

const POLL_MS = 300;
let formats = null; // {suffixes, max_bytes} from GET /formats
let listed = []; // the documents last listed
let listing = 0; // the latest listing wins
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
  for (const name of ["input", "change"]) byId("doc-filter").addEventListener(name, renderList);
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

async function loadList() {
  const mine = ++listing;
  const error = byId("docs-error");
  if (!listed.length) byId("docs-count").textContent = t("docs.loading");
  try {
    const { data } = await call("/documents");
    if (mine !== listing) return;
    listed = data.documents;
    say(error, "");
  } catch (failure) {
    if (mine !== listing) return;
    listed = [];
    say(error, readable(failure));
  }
  renderList();
}

/** Clear what was listed for another collection or key. */
export function forgetDocuments() {
  listed = [];
  renderList();
}

function matches(doc, query) {
  if (!query) return true;
  const haystack = [doc.doc_id, ...Object.entries(doc.metadata || {}).flat()].join(" ").toLowerCase();
  return haystack.includes(query.toLowerCase());
}

function renderList() {
  const query = byId("doc-filter").value.trim();
  const docs = listed.filter((doc) => matches(doc, query));
  const chunks = listed.reduce((sum, doc) => sum + doc.chunks, 0);
  byId("docs-count").textContent = query
    ? t("docs.count.filtered", { shown: docs.length, n: listed.length })
    : t(listed.length === 1 ? "docs.count.one" : "docs.count", { n: listed.length, chunks });
  const list = byId("doc-list");
  if (!docs.length) {
    const empty = query ? t("docs.nomatch", { q: query }) : byId("docs-error").hidden ? t("docs.empty") : "";
    fill(list, empty ? h("li", { class: "empty", text: empty }) : null);
    return;
  }
  fill(list, docs.map(renderDocument));
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
  for (const [i, file] of files.entries()) {
    await uploadOne(file, metadata.value, replace, lines[i]);
  }
  changed();
  await loadList();
}

function mark(line, state, text) {
  line.className = state;
  line.textContent = text;
}

async function uploadOne(file, metadata, replace, line) {
  const name = file.name;
  if (formats && !formats.suffixes.includes(suffixOf(name))) {
    return mark(line, "failed", t("upload.badType", { name, suffixes: formats.suffixes.join(" ") }));
  }
  if (formats && file.size > formats.max_bytes) {
    return mark(line, "failed", t("upload.tooLarge", { name, size: size(formats.max_bytes) }));
  }
  const form = new FormData();
  form.append("file", file, name);
  if (metadata) form.append("metadata", metadata);
  try {
    const { status, data } = replace
      ? await call(documentPath(name), { method: "PUT", form })
      : await call("/documents", { method: "POST", form });
    if (status === 202) {
      mark(line, "sending", t("upload.job", { name }));
      const progress = line.appendChild(h("progress", { max: "1", "aria-label": t("job.label") }));
      const job = await pollJob(data.id, collection(), (update) => setProgress(progress, update));
      if (job.state !== "succeeded") return mark(line, "failed", t("job.failed", { error: job.error }));
      return mark(line, "done", t(job.result.created ? "upload.added" : "upload.replaced", { name, n: job.result.chunks }));
    }
    mark(line, "done", t(data.created ? "upload.added" : "upload.replaced", { name, n: data.chunks }));
  } catch (failure) {
    const exists = failure instanceof ApiError && failure.status === 409 && listed.some((d) => d.doc_id === name);
    mark(line, "failed", exists ? t("upload.exists", { name }) : `${name}: ${readable(failure)}`);
  }
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
