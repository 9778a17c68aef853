// Calls to qa's HTTP API from the page: the collection as ?collection=, the API key as a Bearer header (never in
// a URL), and every failure as an ApiError whose message a person can read.

import { t } from "./i18n.js";

const KEY = "qa.apiKey"; // sessionStorage only: gone when the tab closes, never sent anywhere but this origin
const COLLECTION = "qa.collection";

export class ApiError extends Error {
  /** ``status`` 0 means the server could not be reached. */
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }

  /** A missing key, or one the server refused (its other 403s are about origins). */
  get keyProblem() {
    return this.status === 401 || (this.status === 403 && /api key/i.test(this.detail));
  }

  /** What to tell a person, in the page's language. */
  get readable() {
    if (this.status === 0) return t("err.network");
    if (this.status === 401) return t("err.needKey");
    if (this.keyProblem) return t("err.badKey");
    if (this.status === 403) return t("err.forbidden", { detail: this.detail });
    return t("err.server", { status: this.status, detail: this.detail });
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export function collection() {
  return sessionStorage.getItem(COLLECTION) || "default";
}

export function setCollection(name) {
  sessionStorage.setItem(COLLECTION, name);
}

/** A path's URL with this page's collection (``default`` is left out, as the server's default). */
export function url(path, name = collection()) {
  if (name === "default") return path;
  return `${path}${path.includes("?") ? "&" : "?"}collection=${encodeURIComponent(name)}`;
}

/** A document's path, each folder of its name escaped (names may hold '/', '#', '?' and any character). */
export function documentPath(docId) {
  return "/documents/" + docId.split("/").map(encodeURIComponent).join("/");
}

/**
 * The JSON answer of ``method path``; ``json`` or ``form`` (FormData) as the body. Throws ApiError.
 * ``collection: null`` calls a path that names no collection.
 */
export async function call(path, { method = "GET", json, form, signal, collection: name } = {}) {
  const headers = { Accept: "application/json" };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // the browser writes the multipart boundary
  }
  const target = name === null ? path : url(path, name ?? collection());
  let response;
  try {
    response = await fetch(target, { method, headers, body, signal, credentials: "omit", cache: "no-store" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, String(error.message || error));
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    // a proxy's HTML error page, or an empty body
  }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : response.statusText || "error";
    const error = new ApiError(response.status, detail);
    if (error.keyProblem) document.dispatchEvent(new CustomEvent("qa:key-needed"));
    throw error;
  }
  return { status: response.status, data };
}
