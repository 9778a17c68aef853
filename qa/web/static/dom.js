// Building the page's elements. Everything from a document or the server goes in as text (text nodes,
// textContent, attributes): nothing here parses HTML, so a document's "<script>" stays the words "<script>".

/**
 * A new element: ``h("a", {class: "doc", href: "#/x", text: "name"}, child, "text", ...)``.
 * ``text`` sets textContent; ``on`` maps event names to handlers; other props become attributes
 * (true: present, false/null/undefined: absent). Children are nodes or strings (made text nodes).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") el.textContent = String(value);
    else if (name === "on") for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, ...children);
  return el;
}

export function append(el, ...children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace every child of ``el`` with ``children``. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, ...children);
}

export function byId(id) {
  return document.getElementById(id);
}

/** Show a message (or clear it with ""): an error box is hidden when empty, so screen readers hear only news. */
export function say(el, message) {
  el.textContent = message || "";
  el.hidden = !message;
}
