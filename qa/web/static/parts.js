// Small pieces both views draw: where a passage stands in its document, and a document's metadata.

import { h } from "./dom.js";
import { t } from "./i18n.js";

/** Page and section, where the server knows them (PDF pages, headings): read defensively, older servers omit them. */
export function where(item) {
  const parts = [];
  if (Number.isInteger(item.page)) parts.push(t("page", { n: item.page }));
  if (typeof item.section === "string" && item.section.trim()) parts.push(item.section.trim());
  return parts;
}

/** A document's metadata as small "key: value" chips. */
export function chips(metadata) {
  const entries = Object.entries(metadata || {});
  if (!entries.length) return null;
  return h(
    "ul",
    { class: "chips" },
    entries.map(([key, value]) =>
      h("li", { class: "chip" }, h("span", { class: "chip-key", text: `${key}:` }), " ", Array.isArray(value) ? value.join(", ") : String(value)),
    ),
  );
}
