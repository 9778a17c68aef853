// Offsets from the server count characters (Unicode code points, as Python does); JavaScript strings count
// UTF-16 code units, where a character beyond U+FFFF (emoji, CJK Extension B) takes two. Every offset goes
// through here before it slices a string, so a highlight is exact whatever the text holds.

import { h } from "./dom.js";

/** The UTF-16 index of each code-point offset in ``points`` (one pass over the text, whatever their order). */
export function utf16Offsets(text, points) {
  const wanted = [...new Set(points)].sort((a, b) => a - b);
  const found = new Map();
  let cp = 0;
  let i = 0;
  for (const target of wanted) {
    while (cp < target && i < text.length) {
      const unit = text.charCodeAt(i);
      const pair = unit >= 0xd800 && unit <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      i += pair ? 2 : 1;
      cp += 1;
    }
    found.set(target, i);
  }
  return points.map((p) => found.get(p));
}

/**
 * ``text``, which starts at code-point offset ``base`` of its document, as nodes with the document ranges
 * ``ranges`` ([{start, end, class}], each inside the one before: a passage, then its sentence) wrapped in
 * <mark> elements. Returns the nodes and the <mark> made for each range (undefined where it was empty).
 */
export function marked(text, base, ranges) {
  const cuts = utf16Offsets(text, ranges.flatMap((r) => [Math.max(0, r.start - base), Math.max(0, r.end - base)]));
  const marks = [];
  const wrap = (from, to, k) => {
    if (k === ranges.length) return [text.slice(from, to)];
    const a = Math.max(from, cuts[2 * k]);
    const b = Math.min(to, cuts[2 * k + 1]);
    if (b <= a) return wrap(from, to, k + 1);
    marks[k] = h("mark", { class: ranges[k].class }, ...wrap(a, b, k + 1));
    return [text.slice(from, a), marks[k], text.slice(b, to)];
  };
  return { nodes: wrap(0, text.length, 0).filter((n) => n !== ""), marks };
}

/**
 * Runs of blank lines in the text under ``root`` shown as at most ``breaks`` line breaks. For the eye only:
 * it runs after the offsets have placed every mark. Returns ``root``.
 */
export function tidyBreaks(root, breaks) {
  const blank = /[^\S\n]*\n(?:[^\S\n]*\n)+[^\S\n]*/g;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.data.includes("\n")) node.data = node.data.replace(blank, "\n".repeat(breaks));
  }
  return root;
}
