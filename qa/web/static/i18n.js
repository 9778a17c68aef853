// The page's words in English and Chinese. The browser's language picks one; the switch in the header
// overrides it and is remembered (a preference, not a secret: localStorage).

const MESSAGES = {
  en: {
    "title": "qa — ask your documents",
    "tagline": "Ask your documents",
    "nav": "Views",
    "tab.ask": "Ask",
    "tab.documents": "Documents",
    "collection": "Collection",
    "collection.option": "{name} ({documents})",
    "key.summary": "API key",
    "key.set": "API key: set",
    "key.label": "API key",
    "key.hint": "Kept in this tab only and sent as a Bearer header. Needed when the server sets QA_API_KEY.",
    "key.forget": "Forget",
    "lang.switch": "中文",
    "lang.switch.label": "切换到中文",
    "ask.label": "Ask a question about your documents",
    "ask.placeholder": "e.g. How large is the planned area of the Qingdao VR park?",
    "ask.submit": "Ask",
    "ask.mode": "Ranking",
    "mode.hybrid": "Hybrid: meaning and words",
    "mode.dense": "Meaning only",
    "mode.lexical": "Words only",
    "ask.topk": "Passages",
    "ask.hint": "qa finds the sentence in your documents that answers the question, and shows where it stands. Ask in Chinese or English.",
    "ask.empty": "Type a question first.",
    "ask.searching": "Searching…",
    "ask.took": "{n} passages in {ms} ms",
    "ask.took.one": "1 passage in {ms} ms",
    "ask.none": "Nothing in this collection matches the question. Try other words, another ranking, or add documents.",
    "answer": "Answer",
    "answer.from": "From",
    "answer.none.title": "Not found in your documents",
    "answer.none": "No passage in this collection is likely to hold the answer, so qa gives none.",
    "answer.span": "The answer in the sentence",
    "nearest.show": "Show the nearest passages anyway ({n})",
    "nearest.hide": "Hide the nearest passages",
    "passages": "Passages",
    "passage.rank": "Passage {n}",
    "passage.open": "Open in document",
    "passage.open.label": "Open {name} at passage {n}",
    "relevance": "relevance",
    "relevance.title": "Calibrated score: the estimated chance that this passage holds the answer",
    "page": "page {n}",
    "docs.title": "Documents",
    "docs.upload": "Add documents",
    "docs.choose": "Choose files",
    "docs.drop": "or drop them here",
    "docs.accepts": "{suffixes}, up to {size} each",
    "docs.metadata": "Metadata (optional JSON object)",
    "docs.replace": "Replace documents that have the same name",
    "docs.rebuild": "Rebuild the index",
    "docs.rebuild.hint": "Re-embeds every document; searches keep working meanwhile.",
    "docs.filter": "Find a document",
    "docs.filter.placeholder": "Part of a name or metadata",
    "docs.count": "{n} documents, {chunks} passages",
    "docs.count.one": "1 document, {chunks} passages",
    "docs.count.filtered": "{shown} of {n} documents",
    "docs.empty": "No documents yet. Add some above.",
    "docs.nomatch": "No document matches “{q}”.",
    "docs.chunks": "{n} passages",
    "docs.chunks.one": "1 passage",
    "docs.delete": "Delete",
    "docs.delete.label": "Delete {name}",
    "docs.delete.confirm": "Delete “{name}” with its passages? This cannot be undone.",
    "docs.deleted": "Deleted {name}.",
    "docs.open.label": "Open {name}",
    "docs.loading": "Loading…",
    "upload.sending": "{name}: sending…",
    "upload.added": "{name}: added, {n} passages.",
    "upload.replaced": "{name}: replaced, {n} passages.",
    "upload.job": "{name}: large document, indexing in the background…",
    "upload.badType": "{name}: qa reads {suffixes} files, not this one.",
    "upload.tooLarge": "{name}: larger than {size}.",
    "upload.exists": "{name} already exists. Tick “Replace documents that have the same name” to replace it.",
    "upload.badMetadata": "Metadata must be a JSON object, like {\"lang\": \"en\"}.",
    "job.queued": "Waiting to start…",
    "job.running": "Embedding: {done} of {total}",
    "job.starting": "Reading documents…",
    "job.succeeded": "Done: {chunks} passages in the index.",
    "job.failed": "Failed: {error}",
    "job.label": "Indexing progress",
    "reader.back": "Back",
    "reader.loading": "Loading the document…",
    "reader.meta": "{n} passages",
    "reader.gone": "The document's text is no longer in the docs folder.",
    "reader.jump": "Show passage",
    "err.network": "Cannot reach the qa server. Is it running? Check the connection and try again.",
    "err.needKey": "This server needs an API key. Enter it under “API key” at the top.",
    "err.badKey": "The server refused the API key. Check it under “API key” at the top.",
    "err.forbidden": "The server refused: {detail}",
    "err.server": "The server answered {status}: {detail}",
    "err.unexpected": "Something went wrong on the page: {detail}",
    "size.kb": "{n} KB",
    "size.mb": "{n} MB",
  },
  zh: {
    "title": "qa — 向文档提问",
    "tagline": "向你的文档提问",
    "nav": "视图",
    "tab.ask": "提问",
    "tab.documents": "文档",
    "collection": "文档集",
    "collection.option": "{name}（{documents}）",
    "key.summary": "API 密钥",
    "key.set": "API 密钥：已设置",
    "key.label": "API 密钥",
    "key.hint": "只保存在当前标签页，以 Bearer 请求头发送。服务器设置了 QA_API_KEY 时需要。",
    "key.forget": "清除",
    "lang.switch": "English",
    "lang.switch.label": "Switch to English",
    "ask.label": "就你的文档提一个问题",
    "ask.placeholder": "例如：青岛市虚拟现实产业园规划面积有多大？",
    "ask.submit": "提问",
    "ask.mode": "排序方式",
    "mode.hybrid": "混合：语义与词语",
    "mode.dense": "仅语义",
    "mode.lexical": "仅词语",
    "ask.topk": "段落数",
    "ask.hint": "qa 会在你的文档里找出回答问题的那句话，并标出它的出处。中文、英文提问都可以。",
    "ask.empty": "请先输入问题。",
    "ask.searching": "正在搜索…",
    "ask.took": "{n} 个段落，用时 {ms} 毫秒",
    "ask.took.one": "1 个段落，用时 {ms} 毫秒",
    "ask.none": "这个文档集里没有与问题相符的内容。换个说法、换种排序方式，或者添加文档。",
    "answer": "答案",
    "answer.from": "出自",
    "answer.none.title": "文档中没有找到答案",
    "answer.none": "这个文档集里没有哪个段落可能包含答案，所以 qa 不给出答案。",
    "answer.span": "句中的答案",
    "nearest.show": "仍然查看最接近的段落（{n} 个）",
    "nearest.hide": "收起最接近的段落",
    "passages": "相关段落",
    "passage.rank": "段落 {n}",
    "passage.open": "在原文中查看",
    "passage.open.label": "在 {name} 中查看段落 {n}",
    "relevance": "相关度",
    "relevance.title": "校准分数：这个段落包含答案的估计概率",
    "page": "第 {n} 页",
    "docs.title": "文档",
    "docs.upload": "添加文档",
    "docs.choose": "选择文件",
    "docs.drop": "或把文件拖到这里",
    "docs.accepts": "{suffixes}，每个不超过 {size}",
    "docs.metadata": "元数据（可选，JSON 对象）",
    "docs.replace": "替换同名文档",
    "docs.rebuild": "重建索引",
    "docs.rebuild.hint": "重新嵌入所有文档；期间搜索照常可用。",
    "docs.filter": "查找文档",
    "docs.filter.placeholder": "名称或元数据的一部分",
    "docs.count": "{n} 个文档，{chunks} 个段落",
    "docs.count.one": "1 个文档，{chunks} 个段落",
    "docs.count.filtered": "显示 {shown} 个，共 {n} 个文档",
    "docs.empty": "还没有文档。请在上方添加。",
    "docs.nomatch": "没有文档与“{q}”相符。",
    "docs.chunks": "{n} 个段落",
    "docs.chunks.one": "1 个段落",
    "docs.delete": "删除",
    "docs.delete.label": "删除 {name}",
    "docs.delete.confirm": "删除“{name}”及其全部段落？此操作无法撤销。",
    "docs.deleted": "已删除 {name}。",
    "docs.open.label": "打开 {name}",
    "docs.loading": "正在加载…",
    "upload.sending": "{name}：正在上传…",
    "upload.added": "{name}：已添加，{n} 个段落。",
    "upload.replaced": "{name}：已替换，{n} 个段落。",
    "upload.job": "{name}：文档较大，正在后台建立索引…",
    "upload.badType": "{name}：qa 只读取 {suffixes} 文件。",
    "upload.tooLarge": "{name}：超过 {size}。",
    "upload.exists": "{name} 已存在。勾选“替换同名文档”即可替换。",
    "upload.badMetadata": "元数据必须是 JSON 对象，例如 {\"lang\": \"zh\"}。",
    "job.queued": "等待开始…",
    "job.running": "正在嵌入：{done} / {total}",
    "job.starting": "正在读取文档…",
    "job.succeeded": "完成：索引中共有 {chunks} 个段落。",
    "job.failed": "失败：{error}",
    "job.label": "索引进度",
    "reader.back": "返回",
    "reader.loading": "正在加载文档…",
    "reader.meta": "{n} 个段落",
    "reader.gone": "文档原文已不在文档目录中。",
    "reader.jump": "定位段落",
    "err.network": "无法连接 qa 服务器。它在运行吗？请检查连接后重试。",
    "err.needKey": "此服务器需要 API 密钥。请在页面顶部的“API 密钥”中填写。",
    "err.badKey": "服务器拒绝了这个 API 密钥。请在页面顶部的“API 密钥”中检查。",
    "err.forbidden": "服务器拒绝了请求：{detail}",
    "err.server": "服务器返回 {status}：{detail}",
    "err.unexpected": "页面出错了：{detail}",
    "size.kb": "{n} KB",
    "size.mb": "{n} MB",
  },
};

const STORE = "qa.lang";
let current = "en";

/** The language to start in: the one chosen before, else the browser's first language we have. */
export function initialLanguage() {
  const saved = localStorage.getItem(STORE);
  if (saved in MESSAGES) return saved;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = tag.toLowerCase().split("-")[0];
    if (base in MESSAGES) return base;
  }
  return "en";
}

export function language() {
  return current;
}

export function setLanguage(lang, remember = false) {
  current = lang in MESSAGES ? lang : "en";
  if (remember) localStorage.setItem(STORE, current);
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const attr of ["placeholder", "aria-label", "title"]) {
    for (const el of document.querySelectorAll(`[data-i18n-${attr}]`)) {
      el.setAttribute(attr, t(el.getAttribute(`data-i18n-${attr}`)));
    }
  }
}

/** The message ``key`` in the current language, with ``{name}`` placeholders filled from ``vars`` (as text). */
export function t(key, vars = {}) {
  const text = MESSAGES[current][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** A number of bytes as people read it: 10 MB, 512 KB. */
export function size(bytes) {
  return bytes >= 1024 * 1024
    ? t("size.mb", { n: +(bytes / 1024 / 1024).toFixed(1) })
    : t("size.kb", { n: Math.max(1, Math.round(bytes / 1024)) });
}
