// DOM helpers. Every page builds its DOM with h(): strings always become
// text nodes (textContent), never markup, so a hostile client_id, hostname,
// user agent or topic name is shown as text and never run. Nothing in the
// front end assigns innerHTML.

export const settings = JSON.parse(
  document.getElementById("nsqadmin-settings").textContent,
);

/** An absolute path under --base-path. */
export function url(path) {
  return settings.base_path + path;
}

/** A path segment (topic, channel, node), percent-encoded. */
export const enc = encodeURIComponent;

/** Attributes h() accepts as plain attributes (events go through on*). */
const SAFE_ATTR = /^(class|id|title|type|value|placeholder|name|for|role|colspan|min|max|step|disabled|checked|hidden|autocomplete|aria-[a-z-]+|data-[a-z-]+)$/;

/**
 * Create an element: h("a", {href, class, onclick}, child, ...).
 * Children: strings/numbers (text), nodes, arrays, null/false (skipped).
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else if (k === "href") {
      // Only our own paths: never a javascript: URL built from data.
      el.setAttribute("href", String(v).startsWith("/") ? String(v) : "#");
    } else if (SAFE_ATTR.test(k)) {
      el.setAttribute(k, v === true ? "" : String(v));
    } else {
      throw new Error("h(): attribute not allowed: " + k);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replace an element's children. */
export function replace(el, ...children) {
  while (el.firstChild) el.removeChild(el.firstChild);
  append(el, children);
  return el;
}

/** An in-app link (handled by the router, no page reload). */
export function link(path, ...children) {
  return h("a", { href: url(path), "data-nav": "" }, ...children);
}

const numFmt = new Intl.NumberFormat("en-US");

/** 1234567 → "1,234,567". */
export function num(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  return numFmt.format(n);
}

/** A rate in msg/s, or "–" before two readings exist. */
export function rate(r) {
  if (r === null || r === undefined) return "–";
  return r >= 100 ? numFmt.format(Math.round(r)) : r.toFixed(1);
}

/** Nanoseconds → "1h2m3s" style. */
export function duration(ns) {
  let s = Math.floor(ns / 1e9);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hh = Math.floor(s / 3600);
  s -= hh * 3600;
  const mm = Math.floor(s / 60);
  s -= mm * 60;
  return (d ? d + "d" : "") + (d || hh ? hh + "h" : "") + (d || hh || mm ? mm + "m" : "") + s + "s";
}

/** Latency in ns → "1.2ms". */
export function latency(ns) {
  if (ns >= 1e9) return (ns / 1e9).toFixed(2) + "s";
  if (ns >= 1e6) return (ns / 1e6).toFixed(1) + "ms";
  if (ns >= 1e3) return (ns / 1e3).toFixed(1) + "µs";
  return Math.round(ns) + "ns";
}

/** A small coloured label. */
export function badge(text, kind) {
  return h("span", { class: "badge badge-" + (kind || "info") }, text);
}

/** Show a message bar (kind: info, warn, error); empty text hides it. */
export function notice(text, kind) {
  const el = document.getElementById("notice");
  if (!text) {
    el.hidden = true;
    return;
  }
  el.className = "notice notice-" + (kind || "info");
  replace(el, text);
  el.hidden = false;
}

/** Ask before acting; resolves true when the person confirms. */
export function confirmAction(text) {
  const box = document.getElementById("confirm");
  const ok = document.getElementById("confirm-ok");
  const cancel = document.getElementById("confirm-cancel");
  replace(document.getElementById("confirm-text"), text);
  box.hidden = false;
  ok.focus();
  return new Promise((resolve) => {
    const done = (answer) => {
      box.hidden = true;
      ok.removeEventListener("click", yes);
      cancel.removeEventListener("click", no);
      document.removeEventListener("keydown", key);
      resolve(answer);
    };
    const yes = () => done(true);
    const no = () => done(false);
    const key = (e) => {
      if (e.key === "Escape") done(false);
    };
    ok.addEventListener("click", yes);
    cancel.addEventListener("click", no);
    document.addEventListener("keydown", key);
  });
}

/** Go to an in-app path (below the base path) without reloading. */
export function go(path) {
  history.pushState(null, "", url(path));
  window.dispatchEvent(new PopStateEvent("popstate"));
}

/** An action button: disabled (with a reason) for non-admins. */
export function actionButton(label, onclick, kind) {
  return h(
    "button",
    {
      type: "button",
      class: "btn" + (kind ? " btn-" + kind : ""),
      disabled: !settings.is_admin,
      title: settings.is_admin ? null : "Only --admin-user users may do this",
      onclick,
    },
    label,
  );
}
