// The nsqadmin single-page app: a router over the page routes of
// docs/nsqadmin.md#pages (all served by index.html), and a refresh loop that
// polls the current page's data every few seconds (the pages compute live rates
// from successive readings).

import { settings, h, replace, notice } from "./dom.js";
import topics from "./page-topics.js";
import topic from "./page-topic.js";
import channel from "./page-channel.js";
import nodes from "./page-nodes.js";
import node from "./page-node.js";
import counter from "./page-counter.js";
import lookup from "./page-lookup.js";

const main = document.getElementById("main");
let generation = 0;

/** The page for a path below the base path, and its nav section. */
function route(path) {
  const seg = path.split("/").filter(Boolean).map(decodeURIComponent);
  switch (seg[0]) {
    case undefined:
    case "topics":
      if (seg.length === 3) return [channel, "topics", { topic: seg[1], channel: seg[2] }];
      if (seg.length === 2) return [topic, "topics", { topic: seg[1] }];
      return [topics, "topics", {}];
    case "nodes":
      if (seg.length === 2) return [node, "nodes", { node: seg[1] }];
      return [nodes, "nodes", {}];
    case "counter":
      return [counter, "counter", {}];
    case "lookup":
      return [lookup, "lookup", {}];
    default:
      return [null, "", {}];
  }
}

/** Resolves once the browser has laid out and painted the DOM changes
 * (at most 1 s: a background tab paints nothing). */
function painted() {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 1000);
    requestAnimationFrame(() =>
      setTimeout(() => {
        clearTimeout(timer);
        resolve();
      }),
    );
  });
}

async function show() {
  const gen = ++generation;
  notice("");
  let path = location.pathname;
  if (settings.base_path && path.startsWith(settings.base_path)) {
    path = path.slice(settings.base_path.length);
  }
  const [make, section, params] = route(path);
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.dataset.section === section);
  }
  if (!make) {
    document.title = "nsqadmin - not found";
    replace(main, h("h1", {}, "Not found"));
    return;
  }
  const shownAt = performance.now();
  delete main.dataset.firstMs;
  const page = make(params);
  document.title = "nsqadmin - " + page.title;
  replace(main, page.el);
  const interval = page.interval || 3000;
  const tick = async () => {
    if (gen !== generation) return;
    try {
      const t0 = performance.now();
      await page.refresh();
      // Timings a person (or the scale test) can read from the DOM: the
      // last refresh (fetch + render), and the page's first data on screen
      // (ms since the route was shown).
      main.dataset.refreshMs = String(Math.round(performance.now() - t0));
      if (!main.dataset.firstMs) {
        await painted();
        main.dataset.firstMs = String(Math.round(performance.now() - shownAt));
      }
      main.dataset.loaded = String(Number(main.dataset.loaded || 0) + 1);
    } catch (e) {
      if (gen === generation) notice("Error: " + e.message, "error");
    }
    if (gen === generation) setTimeout(tick, interval);
  };
  tick();
}

/** Go to an in-app path (below the base path) without reloading. */
export function navigate(path) {
  history.pushState(null, "", settings.base_path + path);
  show();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-nav]");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  history.pushState(null, "", a.getAttribute("href"));
  show();
});
window.addEventListener("popstate", show);

const who = document.getElementById("who");
replace(
  who,
  settings.user ? settings.user + (settings.is_admin ? " (admin)" : "") : "",
  " nsqadmin v" + settings.version,
);
show();
