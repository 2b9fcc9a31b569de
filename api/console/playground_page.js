// The playground: paste or upload a bundle (.mthds), validate and format it, read the inputs of a pipe
// (POST /v1/pipe-io for the contract, POST /v1/build/inputs for a template), edit the inputs, then
// start the run and follow it on its own page.

import { ApiProblem, postJson } from "./api.js";
import { fill, h } from "./dom.js";
import { problemBox, problemItems } from "./problem_box.js";

// The bundle survives a reload of the tab (not a credential: sessionStorage is fine for it).
const DRAFT_KEY = "methodflow.playground.bundle";
const EXAMPLE = `domain = "hello"
description = "An offline example: no model, every step runs in the workflow"
main_pipe = "greet"

[pipe.greet]
type = "PipeCompose"
description = "Greets a guest"
inputs = { name = "Text" }
output = "Text"
template = "Hello, {{ name }}!"
`;

export async function playgroundPage(context) {
  document.title = "Playground · Methodflow";
  const bundle = h("textarea", {
    id: "bundle",
    class: "code-input",
    rows: 18,
    spellcheck: "false",
    placeholder: "Paste a .mthds bundle here, or upload a file.",
  });
  bundle.value = sessionStorage.getItem(DRAFT_KEY) || "";
  bundle.addEventListener("input", () => sessionStorage.setItem(DRAFT_KEY, bundle.value));
  const upload = h("input", { type: "file", id: "bundle-file", accept: ".mthds,.toml,text/plain" });
  upload.addEventListener("change", async () => {
    const [file] = upload.files;
    if (!file) return;
    setBundle(await file.text());
    say(h("p", { class: "ok" }, `Loaded ${file.name}.`));
  });
  const pipeSelect = h("select", { id: "pipe-ref" }, h("option", { value: "" }, "main pipe"));
  const inputs = h("textarea", { id: "inputs", class: "code-input", rows: 8, spellcheck: "false" }, "{}");
  const contractBox = h("div", { id: "pipe-contract" });
  const verdict = h("div", { id: "verdict", "aria-live": "polite" });
  const startNote = h("div", { id: "start-note", "aria-live": "polite" });
  inputs.addEventListener("input", () => fill(startNote)); // an edit answers the last complaint

  function setBundle(text) {
    bundle.value = text;
    sessionStorage.setItem(DRAFT_KEY, text);
  }

  function say(...nodes) {
    fill(verdict, ...nodes);
  }

  function method() {
    return { mthds_contents: [bundle.value] };
  }

  function selectedPipe() {
    return pipeSelect.value || undefined;
  }

  // Runs `action` with the buttons disabled; a problem is shown where the action reports.
  async function busy(button, slot, action) {
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      if (error instanceof ApiProblem && error.status !== 401) fill(slot, problemBox(error));
      else throw error;
    } finally {
      button.disabled = false;
    }
  }

  function needsBundle(slot) {
    if (bundle.value.trim()) return false;
    fill(slot, h("p", { class: "problem-inline" }, "Paste or upload a bundle first."));
    return true;
  }

  async function validate() {
    if (needsBundle(verdict)) return;
    const answer = await postJson("/v1/validate", method(), { signal: context.signal });
    if (!answer.is_valid) {
      say(h("div", { class: "problem" }, h("strong", {}, answer.message || "The method does not validate."), problemItems(answer.errors || [])));
      return;
    }
    const pipes = (answer.validated_pipes || []).map((pipe) => pipe.pipe_ref);
    const chosen = pipeSelect.value || answer.default_pipe_ref || "";
    fill(pipeSelect,
      h("option", { value: "" }, answer.default_pipe_ref ? `main pipe (${answer.default_pipe_ref})` : "main pipe"),
      pipes.map((ref) => h("option", { value: ref, selected: ref === chosen && ref !== answer.default_pipe_ref }, ref)),
    );
    say(
      h(
        "div",
        { class: "valid" },
        h("strong", {}, "✓ Valid. "),
        `${pipes.length} pipe${pipes.length === 1 ? "" : "s"}`,
        answer.is_runnable ? ", runnable." : ", not runnable as is.",
        (answer.warnings || []).length ? problemItems(answer.warnings) : null,
      ),
    );
  }

  async function format() {
    if (needsBundle(verdict)) return;
    const answer = await postJson("/v1/format", { content: bundle.value }, { signal: context.signal });
    if (answer.changed) setBundle(answer.formatted);
    say(
      h("p", { class: "ok" }, answer.changed ? "Formatted." : "Already formatted: nothing changed."),
      (answer.diagnostics || []).length
        ? h("ul", { class: "problem-items" }, answer.diagnostics.map((item) => h("li", {}, item.message)))
        : null,
    );
  }

  async function template() {
    if (needsBundle(contractBox)) return;
    const selection = { ...method(), pipe_ref: selectedPipe() };
    const io = await postJson("/v1/pipe-io", selection, { signal: context.signal });
    if (!io.is_valid) {
      fill(contractBox, h("div", { class: "problem" }, h("strong", {}, io.message || "The method does not validate."), problemItems(io.validation_errors || [])));
      return;
    }
    const built = await postJson("/v1/build/inputs", selection, { signal: context.signal });
    const contract = io.pipe_io_contracts[io.pipe_ref];
    fill(contractBox,
      h("p", {}, "Pipe ", h("code", {}, io.pipe_ref), " → output ", h("code", {}, contract.output.concept_ref)),
      h(
        "table",
        { class: "contract" },
        h("thead", {}, h("tr", {}, ["Input", "Concept", "Multiplicity", "Presence"].map((name) => h("th", {}, name)))),
        h(
          "tbody",
          {},
          Object.entries(contract.inputs).map(([name, input]) =>
            h(
              "tr",
              {},
              h("td", { class: "mono" }, name),
              h("td", { class: "mono" }, input.concept_ref),
              h("td", {}, input.multiplicity + (input.item_count ? ` (${input.item_count})` : "")),
              h("td", {}, input.presence),
            ),
          ),
        ),
      ),
    );
    inputs.value = JSON.stringify(built.inputs || {}, null, 2);
  }

  async function start() {
    if (needsBundle(startNote)) return;
    let values;
    try {
      values = JSON.parse(inputs.value.trim() || "{}");
    } catch (error) {
      fill(startNote, h("p", { class: "problem-inline" }, `The inputs are not valid JSON: ${error.message}`));
      return;
    }
    if (values === null || typeof values !== "object" || Array.isArray(values)) {
      fill(startNote, h("p", { class: "problem-inline" }, "The inputs must be a JSON object: {\"name\": value}."));
      return;
    }
    const answer = await postJson("/v1/start", { ...method(), pipe_code: selectedPipe(), inputs: values }, { signal: context.signal });
    location.hash = `#/runs/${encodeURIComponent(answer.pipeline_run_id)}`;
  }

  const validateButton = h("button", { type: "button", id: "validate" }, "Validate");
  const formatButton = h("button", { type: "button", id: "format" }, "Format");
  const templateButton = h("button", { type: "button", id: "inputs-template" }, "Inputs template");
  const startButton = h("button", { type: "button", id: "start", class: "primary" }, "Start run");
  validateButton.addEventListener("click", () => busy(validateButton, verdict, validate).catch(context.fail));
  formatButton.addEventListener("click", () => busy(formatButton, verdict, format).catch(context.fail));
  templateButton.addEventListener("click", () => busy(templateButton, contractBox, template).catch(context.fail));
  startButton.addEventListener("click", () => busy(startButton, startNote, start).catch(context.fail));

  context.view.append(
    h("div", { class: "page-head" }, h("h1", {}, "Playground")),
    h(
      "div",
      { class: "columns" },
      h(
        "section",
        { class: "card main-column" },
        h("h2", {}, "Bundle"),
        bundle,
        h(
          "div",
          { class: "actions" },
          validateButton,
          formatButton,
          h("label", { class: "file-button" }, "Upload…", upload),
          h("button", { type: "button", class: "link-button", onclick: () => setBundle(EXAMPLE) }, "Load an example"),
        ),
        verdict,
      ),
      h(
        "section",
        { class: "card side-column" },
        h("h2", {}, "Run it"),
        h("label", { for: "pipe-ref" }, "Pipe"),
        pipeSelect,
        h("div", { class: "actions" }, templateButton),
        contractBox,
        h("label", { for: "inputs" }, "Inputs (JSON)"),
        inputs,
        h("div", { class: "actions" }, startButton),
        startNote,
      ),
    ),
  );
}
