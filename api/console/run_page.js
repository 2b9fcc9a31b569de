// One run: its live pipe tree and batch bars (the event stream, read with fetch so the Authorization
// header goes along), its inputs, its output rendered by concept, usage and cost, callback deliveries
// and a cancel button while it runs.

import { ApiProblem, SignInNeeded, getJson, postJson, query, readEvents } from "./api.js";
import {
  TERMINAL_STATES,
  badge,
  elapsed,
  fill,
  formatCost,
  formatDuration,
  formatTime,
  h,
  jsonBlock,
  section,
} from "./dom.js";
import { outputView, renderContent } from "./output_view.js";
import { PipeTree } from "./pipe_tree.js";
import { problemBox } from "./problem_box.js";

const RECONNECT_MILLISECONDS = 2000;
const RENDER_EVERY_MILLISECONDS = 150;

const sleep = (milliseconds) => new Promise((resolve) => setTimeout(resolve, milliseconds));

function definitions(pairs) {
  return h(
    "dl",
    { class: "summary" },
    pairs.filter(([, value]) => value !== null && value !== undefined).map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]),
  );
}

function inputValue(value) {
  // The explicit form `{concept, content}` shows its content by its concept; a plain value as itself.
  if (value && typeof value === "object" && "concept" in value && "content" in value) {
    return h("div", {}, h("p", { class: "muted small" }, "Concept ", h("code", {}, value.concept)), renderContent(value.content, value.concept));
  }
  return renderContent(value, null);
}

export async function runPage(context, runId) {
  document.title = `Run ${runId} · Methodflow`;
  const path = `/v1/runs/${encodeURIComponent(runId)}`;
  const tree = new PipeTree();
  let record = null;
  let seq = 0;
  let finished = false;
  let renderTimer = null;

  const stateSlot = h("span", { id: "run-state" });
  const cancelNote = h("span", { class: "muted small", id: "cancel-note" });
  const cancelButton = h("button", { type: "button", class: "danger", id: "cancel-run", hidden: true, onclick: cancel }, "Cancel run");
  const streamNote = h("span", { class: "muted small", id: "stream-note" });
  const summaryBox = h("div");
  const usageBox = h("div", { id: "run-usage" });
  const treeBox = h("div", { id: "pipe-tree" }, h("p", { class: "muted" }, "Reading the run's progress…"));
  const outputBox = h("div", { id: "run-output" }, h("p", { class: "muted" }, "The output appears when the run completes."));
  const inputsBox = h("div", { id: "run-inputs" });
  const deliveriesBox = h("div", { id: "run-deliveries" });

  // While the run goes on, its record has no usage yet: the progress counters carry the model calls
  // settled so far and their cost, re-read (at most once a second) as pipes finish.
  let spendTimer = null;
  function showSpendSoFar(counters) {
    if (finished || record.usage) return;
    fill(usageBox,
      definitions([
        ["Cost so far", h("strong", { id: "run-cost" }, formatCost(counters.cost_usd))],
        ["Model calls", String(counters.model_calls ?? 0)],
      ]),
    );
  }
  function scheduleSpendRead() {
    if (spendTimer !== null || finished) return;
    spendTimer = setTimeout(async () => {
      try {
        const status = await getJson(`${path}/status`, { signal: context.signal });
        if (context.active) showSpendSoFar(status.progress || {});
      } catch (error) {
        if (error.name !== "AbortError") context.fail(error);
      } finally {
        spendTimer = null;
      }
    }, 1000);
  }

  function setState(state) {
    fill(stateSlot, badge(state));
    cancelButton.hidden = TERMINAL_STATES.has(state);
  }

  function showRecord(next) {
    record = next;
    setState(record.state);
    fill(summaryBox,
      definitions([
        ["Pipe", h("code", {}, record.pipe_code || "—")],
        ["Created", formatTime(record.created_at)],
        ["Finished", formatTime(record.finished_at)],
        ["Duration", record.finished_at ? formatDuration(elapsed(record.created_at, record.finished_at)) : "running"],
        ["Request", record.request_id ? h("code", {}, record.request_id) : null],
        ["Created by", record.created_by_user_id],
      ]),
    );
    const usage = record.usage;
    fill(usageBox,
      usage
        ? definitions([
            ["Cost", h("strong", { id: "run-cost" }, formatCost(usage.cost_usd))],
            ["Model calls", String(usage.model_calls ?? 0)],
            ...Object.entries(usage.nb_tokens_by_category || {}).map(([category, count]) => [`Tokens (${category})`, String(count)]),
          ])
        : h("p", { class: "muted" }, TERMINAL_STATES.has(record.state) ? "No usage was recorded." : "Known once the run ends."),
    );
    const inputs = Object.entries(record.inputs || {});
    fill(inputsBox,
      inputs.length
        ? h("dl", { class: "fields" }, inputs.map(([name, value]) => [h("dt", {}, name), h("dd", {}, inputValue(value))]))
        : h("p", { class: "muted" }, "No inputs."),
      h("details", { class: "raw" }, h("summary", { class: "muted small" }, "JSON"), jsonBlock(record.inputs || {})),
      (record.mthds_contents || []).length
        ? h(
            "details",
            { class: "raw" },
            h("summary", { class: "muted small" }, "Method"),
            record.mthds_contents.map((text) => h("pre", { class: "code" }, text)),
          )
        : null,
    );
  }

  function scheduleRender() {
    if (renderTimer !== null) return;
    renderTimer = setTimeout(() => {
      renderTimer = null;
      if (context.active) tree.render(treeBox);
    }, RENDER_EVERY_MILLISECONDS);
  }

  async function showOutput() {
    if (record.state === "COMPLETED") {
      const results = await getJson(`${path}/results${query({ artifacts: "main_stuff,working_memory" })}`, { signal: context.signal });
      const memory = results.working_memory || {};
      const name = record.main_stuff_name || (memory.aliases || {}).main_stuff;
      const stuff = (memory.root || {})[name];
      fill(outputBox, outputView(results.main_stuff, stuff ? stuff.concept : null));
    } else if (record.error) {
      fill(outputBox, problemBox(new ApiProblem(0, record.error)));
    } else {
      fill(outputBox, h("p", { class: "muted" }, `The run ended ${record.state}.`));
    }
  }

  async function loadDeliveries() {
    const answer = await getJson(`${path}/deliveries`, { signal: context.signal });
    if (answer.items.length === 0) {
      fill(deliveriesBox, h("p", { class: "muted" }, "No callback URLs: nothing to deliver."));
      return;
    }
    fill(deliveriesBox,
      h(
        "table",
        { class: "deliveries" },
        h("thead", {}, h("tr", {}, ["URL", "State", "Attempts", "Last answer", "When"].map((name) => h("th", {}, name)))),
        h(
          "tbody",
          {},
          answer.items.map((item) => {
            const last = item.attempts[item.attempts.length - 1];
            return h(
              "tr",
              {},
              h("td", { class: "mono small" }, item.url),
              h("td", {}, badge(item.state)),
              h("td", {}, String(item.attempts.length)),
              h("td", {}, last ? (last.status_code ? String(last.status_code) : last.error || "—") : "—"),
              h("td", { class: "small" }, formatTime(item.delivered_at || item.next_attempt_at)),
            );
          }),
        ),
      ),
    );
  }

  async function finish() {
    finished = true;
    const [next, progress] = await Promise.all([
      getJson(path, { signal: context.signal }),
      getJson(`${path}/progress`, { signal: context.signal }),
    ]);
    if (!context.active) return;
    showRecord(next);
    tree.load(progress.invocations);
    tree.render(treeBox);
    streamNote.textContent = "";
    await showOutput();
    await loadDeliveries();
  }

  function onEvent({ id, event, data }) {
    if (id !== null && !Number.isNaN(id)) seq = Math.max(seq, id);
    if (event === "run.state") {
      setState(data.state);
    } else if (event === "run.finished") {
      setState(data.state);
      finish().catch(context.fail);
    } else if (tree.apply(event, data)) {
      scheduleRender();
      if (event === "pipe.finished") scheduleSpendRead();
    }
  }

  async function follow() {
    while (context.active && !finished) {
      try {
        streamNote.textContent = "● live";
        await readEvents(`${path}/events${query({ after: seq })}`, onEvent, { signal: context.signal });
      } catch (error) {
        if (!context.active || error.name === "AbortError") return;
        if (error instanceof SignInNeeded || (error instanceof ApiProblem && error.status === 404)) {
          context.fail(error);
          return;
        }
        streamNote.textContent = "connection lost, reconnecting…";
      }
      if (!finished) await sleep(RECONNECT_MILLISECONDS);
    }
  }

  async function cancel() {
    cancelButton.disabled = true;
    try {
      await postJson(`${path}/cancel`, { reason: "Cancelled from the web console" }, { signal: context.signal });
      cancelNote.textContent = "Cancel requested: the run stops its pipes and ends CANCELLED.";
    } catch (error) {
      cancelButton.disabled = false;
      if (error instanceof ApiProblem && error.status === 409) cancelNote.textContent = error.detail;
      else context.fail(error);
    }
  }

  // Running pipes show their time so far: redraw each second until the run ends.
  const ticker = setInterval(() => {
    if (!finished) scheduleRender();
  }, 1000);
  context.onCleanup(() => {
    clearInterval(ticker);
    clearTimeout(renderTimer);
    clearTimeout(spendTimer);
  });

  // The record first: an unknown run shows its problem alone, not an empty page around it.
  showRecord(await getJson(path, { signal: context.signal }));
  context.view.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Run ", h("code", { class: "run-id" }, runId)),
      stateSlot,
      h("span", { class: "spacer" }),
      cancelNote,
      cancelButton,
      h("a", { class: "button", href: "#/runs" }, "All runs"),
    ),
    h(
      "div",
      { class: "columns" },
      h(
        "div",
        { class: "main-column" },
        section("Pipes", streamNote, treeBox),
        section("Output", outputBox),
      ),
      h(
        "div",
        { class: "side-column" },
        section("Run", summaryBox),
        section("Usage and cost", usageBox),
        section("Inputs", inputsBox),
        section(
          "Callback deliveries",
          deliveriesBox,
          h("button", { type: "button", class: "small-button", onclick: () => loadDeliveries().catch(context.fail) }, "Refresh"),
        ),
      ),
    ),
  );
  const progress = await getJson(`${path}/progress`, { signal: context.signal });
  tree.load(progress.invocations);
  tree.render(treeBox);
  seq = progress.version;
  if (TERMINAL_STATES.has(record.state)) {
    await finish();
  } else {
    showSpendSoFar(progress.counters || {});
    loadDeliveries().catch(context.fail);
    follow().catch(context.fail);
  }
}
