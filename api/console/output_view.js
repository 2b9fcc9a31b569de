// Renders a stuff's content by its concept: text as text, numbers, JSON pretty, images as <img>,
// documents as links, lists item by item, structured concepts field by field.

import { h, jsonBlock } from "./dom.js";

// A long list shows its first items; the JSON view below it holds them all.
const LIST_ITEMS_SHOWN = 25;
const IMAGE_FILE = /\.(png|jpe?g|gif|webp|svg|avif|bmp)(\?|#|$)/i;

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function onlyKeys(content, ...allowed) {
  return Object.keys(content).every((key) => allowed.includes(key));
}

// Only URLs a browser can open are made links or images: a storage URI (pipelex-storage://) stays text.
function openable(url) {
  return typeof url === "string" && /^(https?:|data:|blob:)/i.test(url);
}

function isImage(content, concept) {
  const name = String(concept || "").split(".").pop();
  return (
    /image|photo|picture/i.test(name) ||
    String(content.mime_type || "").startsWith("image/") ||
    IMAGE_FILE.test(content.url) ||
    /^data:image\//i.test(content.url)
  );
}

function fileContent(content, concept) {
  const label = content.filename || content.title || content.url;
  if (!openable(content.url)) {
    return h("div", { class: "file" }, h("span", { class: "muted small" }, "stored at "), h("code", {}, content.url));
  }
  if (isImage(content, concept)) {
    return h(
      "figure",
      { class: "image-output" },
      h("img", { src: content.url, alt: content.caption || content.title || "image output", loading: "lazy" }),
      h("figcaption", {}, content.caption || "", " ", h("a", { href: content.url, target: "_blank", rel: "noopener" }, "open")),
    );
  }
  return h(
    "div",
    { class: "file" },
    h("a", { href: content.url, target: "_blank", rel: "noopener noreferrer" }, label),
    content.mime_type ? h("span", { class: "muted small" }, ` ${content.mime_type}`) : null,
  );
}

/** A node showing `content` (a stuff's content) read as `concept` (`native.Text`, `hello.Welcome`). */
export function renderContent(content, concept) {
  if (content === null || content === undefined) return h("p", { class: "muted" }, "(no value)");
  if (typeof content === "string") return h("div", { class: "text-output" }, content);
  if (typeof content === "number" || typeof content === "boolean") {
    return h("span", { class: "number-output" }, String(content));
  }
  if (Array.isArray(content)) {
    const shown = content.slice(0, LIST_ITEMS_SHOWN);
    return h(
      "div",
      {},
      h("ol", { class: "list-output" }, shown.map((item) => h("li", {}, renderContent(item, concept)))),
      content.length > shown.length
        ? h("p", { class: "muted small" }, `… and ${content.length - shown.length} more items (all in the JSON).`)
        : null,
    );
  }
  if (!isObject(content)) return jsonBlock(content);
  if (Array.isArray(content.items) && onlyKeys(content, "items")) return renderContent(content.items, concept);
  if (typeof content.text === "string" && onlyKeys(content, "text")) {
    return h("div", { class: "text-output" }, content.text);
  }
  if (typeof content.number === "number" && onlyKeys(content, "number")) {
    return h("span", { class: "number-output" }, String(content.number));
  }
  if ("json_obj" in content && onlyKeys(content, "json_obj")) return jsonBlock(content.json_obj);
  if (typeof content.url === "string") return fileContent(content, concept);
  return fields(content);
}

function fields(content) {
  return h(
    "dl",
    { class: "fields" },
    Object.entries(content).map(([name, value]) => [
      h("dt", {}, name),
      h("dd", {}, isObject(value) || Array.isArray(value) ? renderContent(value, name) : renderScalar(value)),
    ]),
  );
}

function renderScalar(value) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "—");
  return h("div", { class: "text-output" }, String(value));
}

/** The main output with its concept, plus the raw JSON folded away. */
export function outputView(content, concept) {
  return h(
    "div",
    { class: "output" },
    concept ? h("p", { class: "muted small" }, "Concept ", h("code", {}, concept)) : null,
    renderContent(content, concept),
    h("details", { class: "raw" }, h("summary", { class: "muted small" }, "JSON"), jsonBlock(content)),
  );
}
