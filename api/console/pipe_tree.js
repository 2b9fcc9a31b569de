// The live pipe tree of a run: built from GET /v1/runs/{id}/progress, then kept current by the event
// stream's pipe.started, pipe.finished and batch.progress events. Draws one row per invocation with
// its status, time and, for a batch, a bar with items done, items/s and the time left.

import { badge, elapsed, fill, formatDuration, h } from "./dom.js";

// A batch with more items than this folds them away under its bar.
const FOLD_ITEMS_OVER = 12;

function parentOf(path) {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? null : path.slice(0, slash);
}

// `step_10` after `step_9`: segments compare by kind, then by number.
function segmentKey(path) {
  const segment = path.slice(path.lastIndexOf("/") + 1);
  const match = segment.match(/^(.*?)(\d+)$/);
  return match ? [match[1], Number(match[2])] : [segment, 0];
}

function byPosition(left, right) {
  const [leftKind, leftNumber] = segmentKey(left.path);
  const [rightKind, rightNumber] = segmentKey(right.path);
  return leftKind === rightKind ? leftNumber - rightNumber : leftKind.localeCompare(rightKind);
}

export class PipeTree {
  constructor() {
    this.nodes = new Map();
    this.roots = [];
    this.firstSamples = new Map(); // batch path -> {at, done}: the rate is measured from there
    this.openFolds = new Set();
  }

  /** Start again from `/progress` invocations (parents before children). */
  load(invocations) {
    this.nodes.clear();
    this.roots = [];
    for (const invocation of invocations) this.upsert(invocation);
  }

  upsert(fields) {
    let node = this.nodes.get(fields.path);
    if (!node) {
      node = { path: fields.path, children: [] };
      this.nodes.set(fields.path, node);
      const parent = this.nodes.get(parentOf(fields.path));
      (parent ? parent.children : this.roots).push(node);
    }
    for (const [name, value] of Object.entries(fields)) {
      if (value !== undefined && name !== "children") node[name] = value;
    }
    return node;
  }

  /** Apply one stream event; true when the tree changed. */
  apply(event, data) {
    if (event === "pipe.started") {
      this.upsert({
        path: data.path,
        pipe_code: data.pipe_code,
        pipe_type: data.pipe_type,
        status: "running",
        started_at: data.at,
        attempts: data.attempt,
      });
      return true;
    }
    if (event === "pipe.finished") {
      this.upsert({
        path: data.path,
        pipe_code: data.pipe_code,
        pipe_type: data.pipe_type,
        status: data.status,
        started_at: data.started_at,
        ended_at: data.ended_at,
        error: data.error,
      });
      return true;
    }
    if (event === "batch.progress") {
      const batch = { total: data.total, done: data.done, running: data.running, failed: data.failed };
      this.upsert({ path: data.path, pipe_code: data.pipe_code, batch });
      return true;
    }
    return false;
  }

  /** Draw the tree into `container`. */
  render(container) {
    if (this.roots.length === 0) {
      fill(container, h("p", { class: "muted" }, "No pipe has started yet."));
      return;
    }
    fill(container, h("ul", { class: "tree" }, [...this.roots].sort(byPosition).map((node) => this.row(node))));
  }

  row(node) {
    const running = node.status === "running";
    return h(
      "li",
      { "data-path": node.path, "data-status": node.status || "scheduled" },
      h(
        "div",
        { class: "tree-row" },
        badge(node.status || "scheduled"),
        h("span", { class: "pipe-code" }, node.pipe_code || node.path),
        node.pipe_type ? h("span", { class: "pipe-type" }, node.pipe_type) : null,
        node.attempts > 1 ? h("span", { class: "muted small" }, `attempt ${node.attempts}`) : null,
        h("span", { class: "spacer" }),
        node.started_at
          ? h("span", { class: `duration${running ? " live" : ""}` }, formatDuration(elapsed(node.started_at, node.ended_at)))
          : null,
      ),
      node.batch ? this.batchBar(node) : null,
      node.error ? h("div", { class: "problem-inline" }, node.error.detail || node.error.title || node.error.code) : null,
      this.children(node),
    );
  }

  children(node) {
    if (node.children.length === 0) return null;
    const list = h("ul", {}, [...node.children].sort(byPosition).map((child) => this.row(child)));
    if (node.children.length <= FOLD_ITEMS_OVER) return list;
    const fold = h(
      "details",
      { open: this.openFolds.has(node.path) },
      h("summary", { class: "muted small" }, `${node.children.length} invocations`),
      list,
    );
    fold.addEventListener("toggle", () => {
      if (fold.open) this.openFolds.add(node.path);
      else this.openFolds.delete(node.path);
    });
    return fold;
  }

  batchBar(node) {
    const { total, done, running, failed } = node.batch;
    const share = total > 0 ? Math.min(100, (100 * done) / total) : 0;
    const fill = h("div", { class: "bar-done" });
    fill.style.width = `${share}%`; // through the CSSOM, which the page's CSP allows
    const failedFill = h("div", { class: "bar-failed" });
    failedFill.style.width = `${total > 0 ? Math.min(100, (100 * failed) / total) : 0}%`;
    return h(
      "div",
      { class: "batch" },
      h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": total, "aria-valuenow": done }, fill, failedFill),
      h(
        "span",
        { class: "batch-text small" },
        `${done} / ${total} items`,
        running ? ` · ${running} running` : "",
        failed ? ` · ${failed} failed` : "",
        this.pace(node),
      ),
    );
  }

  pace(node) {
    const { total, done } = node.batch;
    const now = Date.now();
    let first = this.firstSamples.get(node.path);
    if (!first) {
      first = { at: now, done };
      this.firstSamples.set(node.path, first);
    }
    const seconds = (now - first.at) / 1000;
    if (done <= first.done || seconds <= 0 || node.status !== "running") return "";
    const rate = (done - first.done) / seconds;
    const left = (total - done) / rate;
    return ` · ${rate.toFixed(rate < 10 ? 1 : 0)} items/s · ETA ${formatDuration(left * 1000)}`;
  }
}
