// Builds DOM nodes without HTML strings, so text from the service is never parsed as markup.

/**
 * `h("a", {href: "#/runs", class: "x", onclick: fn}, "text", child)`: an element with attributes,
 * listeners (`on...`) and children (strings become text nodes; null, undefined and false are skipped).
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

/** Replace `element`'s children, skipping null, undefined and false as `h` does (the DOM's own
 * replaceChildren would write them as text). */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

/** A coloured badge for a run state (`COMPLETED`) or an invocation status (`succeeded`). */
export function badge(state) {
  const text = String(state || "unknown");
  return h("span", { class: `badge badge-${text.toLowerCase()}` }, text);
}

/** A section of a page with its heading. */
export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

/** Pretty JSON in a monospace block. */
export function jsonBlock(value) {
  return h("pre", { class: "code" }, JSON.stringify(value, null, 2));
}

const pad = (number) => String(number).padStart(2, "0");

/** An RFC 3339 instant in the browser's local time, `2026-11-23 14:09:46`; a dash when absent. */
export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** A duration in milliseconds as `850 ms`, `12.3 s`, `4 min 05 s` or `2 h 03 min`. */
export function formatDuration(milliseconds) {
  if (milliseconds === null || milliseconds === undefined || Number.isNaN(milliseconds)) return "—";
  if (milliseconds < 1000) return `${Math.max(0, Math.round(milliseconds))} ms`;
  const seconds = milliseconds / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${pad(Math.floor(seconds % 60))} s`;
  return `${Math.floor(minutes / 60)} h ${pad(minutes % 60)} min`;
}

/** The time between two instants (the second defaults to now). */
export function elapsed(startIso, endIso) {
  if (!startIso) return null;
  const end = endIso ? new Date(endIso) : new Date();
  return end.getTime() - new Date(startIso).getTime();
}

/** A cost in USD: `$0.0123`; a dash when nothing was priced. */
export function formatCost(usd) {
  if (usd === null || usd === undefined) return "—";
  return usd < 0.01 && usd > 0 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export const TERMINAL_STATES = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
