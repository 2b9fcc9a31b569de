// Shows what went wrong as a person reads it: a problem document's title, detail and code, the
// items of an invalid method, or any other error, never a blank page.

import { ApiProblem } from "./api.js";
import { h } from "./dom.js";

function where(location) {
  if (!location) return null;
  const parts = [];
  if (location.file) parts.push(location.file);
  if (location.line) parts.push(`line ${location.line}${location.column ? `:${location.column}` : ""}`);
  if (location.pipe) parts.push(`pipe ${location.pipe}`);
  if (location.field) parts.push(location.field);
  return parts.length ? parts.join(" · ") : null;
}

/** A list of problem items (`{code, detail, location}`), as `/v1/validate` and `method.invalid` give them. */
export function problemItems(items) {
  return h(
    "ul",
    { class: "problem-items" },
    items.map((item) =>
      typeof item === "string"
        ? h("li", {}, item)
        : h(
        "li",
        {},
        h("span", { class: "code-name" }, item.code || "error"),
        " ",
        item.detail || "",
        where(item.location) ? h("span", { class: "muted" }, ` (${where(item.location)})`) : null,
      ),
    ),
  );
}

/** A box describing `error`: an `ApiProblem` with its members, or any other error's message. */
export function problemBox(error) {
  if (!(error instanceof ApiProblem)) {
    return h(
      "div",
      { class: "problem", role: "alert" },
      h("strong", {}, "Something went wrong in the console"),
      h("p", {}, String(error && error.message ? error.message : error)),
    );
  }
  return h(
    "div",
    { class: "problem", role: "alert" },
    h("strong", {}, error.title),
    error.detail ? h("p", {}, error.detail) : null,
    error.errors.length ? problemItems(error.errors) : null,
    h(
      "p",
      { class: "muted small" },
      error.code ? h("span", { class: "code-name" }, error.code) : null,
      error.status ? ` · HTTP ${error.status}` : "",
      error.requestId ? ` · request ${error.requestId}` : "",
    ),
  );
}
