// The runs page: the caller's runs from GET /v1/runs, newest first, filtered by state and pipe,
// refreshed every few seconds, with the cost of each ended run on the visible page.

import { getJson, query } from "./api.js";
import { TERMINAL_STATES, badge, elapsed, formatCost, fill, formatDuration, formatTime, h } from "./dom.js";

const REFRESH_MILLISECONDS = 4000;
const PAGE_SIZE = 20;
const STATES = ["STARTED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"];

// Ended runs' costs never change: each is read once (GET /v1/runs/{id}) and kept for the session.
const costs = new Map();

/** Forget the costs read so far (another credential may see other runs). */
export function forgetCosts() {
  costs.clear();
}

export async function runsPage(context, params) {
  document.title = "Runs · Methodflow";
  const state = params.get("state") || "";
  const pipe = params.get("pipe") || "";
  const cursors = [null]; // the cursor of each page shown so far; the last one is on screen
  let timer = null;

  const stateSelect = h(
    "select",
    { id: "filter-state", name: "state" },
    h("option", { value: "" }, "All states"),
    STATES.map((name) => h("option", { value: name, selected: name === state }, name)),
  );
  const pipeInput = h("input", { id: "filter-pipe", name: "pipe", value: pipe, placeholder: "pipe code" });
  const autoRefresh = h("input", { type: "checkbox", id: "auto-refresh", checked: true });
  const updated = h("span", { class: "muted small", id: "runs-updated" });
  const body = h("tbody");
  const pager = h("div", { class: "pager" });

  const applyFilters = (event) => {
    event.preventDefault();
    location.hash = `#/runs${query({ state: stateSelect.value, pipe: pipeInput.value.trim() })}`;
  };
  stateSelect.addEventListener("change", applyFilters);

  context.view.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Runs"),
      h("a", { class: "button", href: "#/playground" }, "New run"),
    ),
    h(
      "form",
      { class: "filters card", onsubmit: applyFilters },
      h("label", {}, "State ", stateSelect),
      h("label", {}, "Pipe ", pipeInput),
      h("button", { type: "submit" }, "Filter"),
      h("span", { class: "spacer" }),
      h("label", { class: "small" }, autoRefresh, " auto-refresh"),
      updated,
    ),
    h(
      "div",
      { class: "card table-card" },
      h(
        "table",
        { class: "runs" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Run", "State", "Pipe", "Created", "Finished", "Duration", "Cost"].map((name) => h("th", {}, name)),
          ),
        ),
        body,
      ),
      pager,
    ),
  );

  async function load() {
    const cursor = cursors[cursors.length - 1];
    const page = await getJson(
      `/v1/runs${query({ state, pipe_code: pipe, limit: PAGE_SIZE, cursor })}`,
      { signal: context.signal },
    );
    if (!context.active) return;
    context.view.querySelector(":scope > .page-problem")?.remove();
    renderRows(page.items);
    renderPager(page.next_cursor);
    updated.textContent = `updated ${formatTime(new Date().toISOString()).slice(11)}`;
    await fillCosts(page.items);
  }

  function renderRows(items) {
    if (items.length === 0) {
      const filtered = state || pipe;
      fill(body,
        h(
          "tr",
          {},
          h(
            "td",
            { colspan: 7, class: "empty" },
            filtered ? "No run matches these filters." : "No runs yet. ",
            filtered ? null : h("a", { href: "#/playground" }, "Start one from the playground."),
          ),
        ),
      );
      return;
    }
    fill(body,
      ...items.map((run) =>
        h(
          "tr",
          { "data-run-id": run.pipeline_run_id },
          h("td", { class: "mono" }, h("a", { href: `#/runs/${encodeURIComponent(run.pipeline_run_id)}` }, run.pipeline_run_id)),
          h("td", {}, badge(run.state)),
          h("td", { class: "mono" }, run.pipe_code || "—"),
          h("td", {}, formatTime(run.created_at)),
          h("td", {}, formatTime(run.finished_at)),
          h("td", {}, formatDuration(elapsed(run.created_at, run.finished_at))),
          h("td", { class: "cost" }, costCell(run)),
        ),
      ),
    );
  }

  function costCell(run) {
    if (!TERMINAL_STATES.has(run.state)) return "…";
    return costs.has(run.pipeline_run_id) ? formatCost(costs.get(run.pipeline_run_id)) : "";
  }

  async function fillCosts(items) {
    for (const run of items) {
      if (!TERMINAL_STATES.has(run.state) || costs.has(run.pipeline_run_id)) continue;
      try {
        const record = await getJson(`/v1/runs/${encodeURIComponent(run.pipeline_run_id)}`, {
          signal: context.signal,
        });
        costs.set(run.pipeline_run_id, record.usage ? record.usage.cost_usd : null);
      } catch (error) {
        if (error.name === "AbortError") return;
        continue; // a cost that cannot be read leaves its cell empty; the list itself is what matters
      }
      if (!context.active) return;
      const cell = body.querySelector(`tr[data-run-id="${CSS.escape(run.pipeline_run_id)}"] .cost`);
      if (cell) cell.textContent = formatCost(costs.get(run.pipeline_run_id));
    }
  }

  function renderPager(nextCursor) {
    fill(pager,
      cursors.length > 1
        ? h("button", { type: "button", onclick: () => turn(() => cursors.pop()) }, "← Newer")
        : null,
      h("span", { class: "muted small" }, `page ${cursors.length}`),
      nextCursor ? h("button", { type: "button", onclick: () => turn(() => cursors.push(nextCursor)) }, "Older →") : null,
    );
  }

  function turn(move) {
    move();
    load().catch(context.fail);
  }

  function schedule() {
    timer = setTimeout(async () => {
      // Only the first page refreshes: later pages would shift under the reader as runs arrive.
      if (autoRefresh.checked && cursors.length === 1 && document.visibilityState === "visible") {
        try {
          await load();
        } catch (error) {
          context.fail(error);
        }
      }
      if (context.active) schedule();
    }, REFRESH_MILLISECONDS);
  }

  context.onCleanup(() => clearTimeout(timer));
  schedule(); // first, so a page whose first read failed (503) still refreshes into the list
  await load();
}
