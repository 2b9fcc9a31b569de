// The console's entry point: hash routes (#/runs, #/runs/<id>, #/playground), the top navigation,
// the sign-in prompt a 401 calls for, and the last-resort error display.

import { SignInNeeded, signIn, signOut, storedCredential } from "./api.js";
import { fill, h } from "./dom.js";
import { playgroundPage } from "./playground_page.js";
import { problemBox } from "./problem_box.js";
import { runPage } from "./run_page.js";
import { forgetCosts, runsPage } from "./runs_page.js";

const PAGES = [
  {
    pattern: /^#\/runs\/([^?/]+)$/,
    nav: "runs",
    render: (context, match) => runPage(context, decodeURIComponent(match[1])),
  },
  {
    pattern: /^#\/runs(?:\?(.*))?$/,
    nav: "runs",
    render: (context, match) => runsPage(context, new URLSearchParams(match[1] || "")),
  },
  { pattern: /^#\/playground$/, nav: "playground", render: (context) => playgroundPage(context) },
];

let current = null;

/** What a page gets: its view, an abort signal and cleanups for when the person leaves it. */
function pageContext(view) {
  const controller = new AbortController();
  const cleanups = [];
  const context = {
    view,
    signal: controller.signal,
    get active() {
      return !controller.signal.aborted;
    },
    onCleanup(cleanup) {
      cleanups.push(cleanup);
    },
    fail(error) {
      showFailure(context, error);
    },
    dispose() {
      if (controller.signal.aborted) return;
      controller.abort();
      for (const cleanup of cleanups) cleanup();
    },
  };
  return context;
}

function showFailure(context, error) {
  if (!context.active || (error && error.name === "AbortError")) return;
  if (error instanceof SignInNeeded) {
    context.dispose();
    showSignIn(context.view, error);
    return;
  }
  // One slot per page: a failure that repeats (auto-refresh) replaces the last one instead of piling up.
  let slot = context.view.querySelector(":scope > .page-problem");
  if (!slot) {
    slot = h("div", { class: "page-problem" });
    context.view.prepend(slot);
  }
  fill(slot, problemBox(error));
}

function showSignIn(view, problem) {
  const refused = storedCredential() !== null;
  if (refused) signOut(); // the stored credential no longer works: the person types another one
  updateSignOut();
  document.title = "Sign in · Methodflow";
  const input = h("input", {
    type: "password",
    id: "credential",
    name: "credential",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "API key or JWT",
  });
  const form = h(
    "form",
    {
      class: "signin-form",
      onsubmit: (event) => {
        event.preventDefault();
        if (!input.value.trim()) return;
        signIn(input.value);
        forgetCosts();
        route();
      },
    },
    h("label", { for: "credential" }, "API key or token"),
    input,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  fill(view,
    h(
      "div",
      { class: "card signin" },
      h("h1", {}, "Sign in"),
      h(
        "p",
        {},
        "This service asks for a credential. Enter an API key or a JWT: it is kept in this browser tab's ",
        "session only and sent as an Authorization header, never in a URL.",
      ),
      refused ? h("p", { class: "problem-inline" }, `Refused: ${problem.detail || problem.title}`) : null,
      form,
    ),
  );
  input.focus();
}

function updateSignOut() {
  document.getElementById("sign-out").hidden = storedCredential() === null;
}

function updateNav(name) {
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === name);
  }
}

async function route() {
  if (current) current.dispose();
  const view = document.getElementById("view");
  fill(view);
  updateSignOut();
  if (!location.hash || location.hash === "#" || location.hash === "#/") {
    history.replaceState(null, "", "#/runs");
  }
  const page = PAGES.find((candidate) => candidate.pattern.test(location.hash));
  if (!page) {
    updateNav(null);
    view.append(
      h("div", { class: "card" }, h("h1", {}, "No such page"), h("p", {}, h("a", { href: "#/runs" }, "Go to the runs"))),
    );
    return;
  }
  updateNav(page.nav);
  const context = pageContext(view);
  current = context;
  try {
    await page.render(context, location.hash.match(page.pattern));
  } catch (error) {
    context.fail(error);
  }
}

document.getElementById("sign-out").addEventListener("click", (event) => {
  event.preventDefault();
  signOut();
  forgetCosts();
  route();
});
window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", (event) => current && current.fail(event.reason));
window.addEventListener("error", (event) => current && current.fail(event.error || event.message));
route();
