// Calls to nsqadmin's own JSON API (docs/nsqadmin.md#api). Errors carry NSQ's
// message; a "WARNING: ..." message of a partial answer is shown.

import { settings, notice, confirmAction } from "./dom.js";

/** An API error: status and NSQ's message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(settings.base_path + "/api" + path, init);
  let data = {};
  const text = await resp.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (!resp.ok) throw new ApiError(resp.status, data.message || resp.statusText);
  return data;
}

/**
 * Whether an error is NSQ's answer for "no nsqd to ask": a topic or
 * channel that no nsqd has (lookupd does not know it, or knows no producer
 * of it), or a cluster without nsqd.
 */
export function noProducers(e) {
  return (
    e instanceof ApiError &&
    e.status === 502 &&
    (e.message === "UPSTREAM_ERROR: failed to query any nsqd: " || e.message.includes("TOPIC_NOT_FOUND"))
  );
}

/** GET /api<path>; shows a partial-failure warning. */
export async function get(path) {
  const data = await call("GET", path);
  if (data.message) notice(data.message, "warn");
  return data;
}

/** POST/DELETE /api<path> with a JSON body. */
export function send(method, path, body) {
  return call(method, path, body);
}

/**
 * Confirm, then perform an action; reports the outcome (describe(answer)
 * if given, else "Done: ...") and calls done() (usually a refresh or a
 * navigation) on success.
 */
export async function act(question, method, path, body, done, describe) {
  if (!(await confirmAction(question))) return false;
  try {
    const r = await send(method, path, body);
    const what = describe ? describe(r) : "Done: " + question.replace(/\?$/, "");
    notice(r.message ? (describe ? what + "\n" : "") + r.message : what, r.message ? "warn" : "info");
    if (done) await done();
    return true;
  } catch (e) {
    notice((e.status === 403 ? "Not allowed: " : "Failed: ") + e.message, "error");
    return false;
  }
}
