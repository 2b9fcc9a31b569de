// Talks to the Methodflow API from the browser: the credential, JSON calls, problem documents and
// the run event stream. The credential lives in sessionStorage only (never localStorage, never the URL).

const CREDENTIAL_KEY = "methodflow.credential";

/** The API key or JWT the person signed in with, or null. */
export function storedCredential() {
  return sessionStorage.getItem(CREDENTIAL_KEY);
}

export function signIn(credential) {
  sessionStorage.setItem(CREDENTIAL_KEY, credential.trim());
}

export function signOut() {
  sessionStorage.removeItem(CREDENTIAL_KEY);
}

/** An answer that was not a success: the problem document's members, or what stood in for them. */
export class ApiProblem extends Error {
  constructor(status, document) {
    super(document.detail || document.title || `HTTP ${status}`);
    this.status = status;
    this.title = document.title || `The service answered ${status}`;
    this.detail = document.detail || "";
    this.code = document.code || null;
    this.requestId = document.request_id || null;
    // Method faults (`method.invalid`) list their items here.
    this.errors = Array.isArray(document.errors) ? document.errors : [];
  }
}

/** A 401: the service wants a credential (none, a wrong one, or an expired token). */
export class SignInNeeded extends ApiProblem {}

async function problemOf(response) {
  const type = response.headers.get("content-type") || "";
  let document = {};
  if (type.includes("json")) {
    try {
      document = await response.json();
    } catch {
      document = {};
    }
  } else {
    const text = (await response.text()).trim();
    document = { title: `The service answered ${response.status}`, detail: text.slice(0, 300) };
  }
  const Problem = response.status === 401 ? SignInNeeded : ApiProblem;
  return new Problem(response.status, document);
}

function headers(extra = {}) {
  const all = { Accept: "application/json", ...extra };
  const credential = storedCredential();
  if (credential) all.Authorization = `Bearer ${credential}`;
  return all;
}

async function send(method, path, { body, signal, accept } = {}) {
  const extra = body === undefined ? {} : { "Content-Type": "application/json" };
  if (accept) extra.Accept = accept;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(extra),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiProblem(0, {
      title: "The service could not be reached",
      detail: "The request did not get an answer: the service may be down or the network cut.",
    });
  }
  if (!response.ok) throw await problemOf(response);
  return response;
}

/** GET `path` and read its JSON answer; `ApiProblem` on any non-2xx. */
export async function getJson(path, options = {}) {
  return (await send("GET", path, options)).json();
}

/** POST `body` as JSON to `path` and read the JSON answer. */
export async function postJson(path, body, options = {}) {
  return (await send("POST", path, { ...options, body })).json();
}

/** A query string from `params`, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/**
 * Reads a Server-Sent Events stream with fetch (EventSource cannot send an Authorization header) and
 * calls `onEvent({id, event, data})` per frame, `data` parsed as JSON. Resolves when the server closes.
 */
export async function readEvents(path, onEvent, { signal } = {}) {
  const response = await send("GET", path, { signal, accept: "text/event-stream" });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = parseFrame(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (frame) onEvent(frame);
    }
  }
}

function parseFrame(text) {
  let id = null;
  let event = "message";
  const data = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith(":")) continue; // comments are keep-alives
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") id = value;
    else if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return null;
  let parsed;
  try {
    parsed = JSON.parse(data.join("\n"));
  } catch {
    return null;
  }
  return { id: id === null ? null : Number(id), event, data: parsed };
}
