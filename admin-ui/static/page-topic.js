// Topic: the cluster-wide "Topic Message Queue", one row per nsqd (with a
// tombstone button in lookupd mode), live rate and depth charts, the
// channels, and the Pause/UnPause, Empty and Delete actions.

import { h, replace, link, enc, num, rate, latency, badge, settings, actionButton, go } from "./dom.js";
import { get, act, noProducers } from "./api.js";
import { DataTable } from "./table.js";
import { Rates, rateAndDepth } from "./chart.js";

export function e2e(agg) {
  const ps = (agg && agg.percentiles) || [];
  if (!ps.length) return "–";
  return ps.map((p) => `p${+(p.quantile * 100).toFixed(2)}: ${latency(p.max)}`).join(", ");
}

export default function topicPage({ topic }) {
  const rates = new Rates();
  const charts = rateAndDepth();
  const path = "/topics/" + enc(topic);
  let paused = false;
  const buttons = h("div", { class: "actions" });
  const state = h("span", {});
  const nodes = new DataTable({
    testid: "topic-nodes",
    columns: [
      {
        title: "NSQd Host",
        cell: (n) => [link("/nodes/" + enc(n.node), n.hostname || n.node), " ", h("span", { class: "muted" }, n.node)],
        total: () => "Total",
      },
      { title: "Depth", cls: "num", cell: (n) => num(n.depth), total: (t) => num(t.depth) },
      { title: "Memory + Disk", cls: "num", cell: (n) => num(n.memory_depth) + " + " + num(n.backend_depth), total: (t) => num(t.memory_depth) + " + " + num(t.backend_depth) },
      { title: "Messages", cls: "num", cell: (n) => num(n.message_count), total: (t) => num(t.message_count) },
      { title: "Rate (msg/s)", cls: "num", cell: (n) => rate(n.rate), total: (t) => rate(t.rate) },
      { title: "Channels", cls: "num", cell: (n) => num((n.channels || []).length), total: (t) => num((t.channels || []).length) },
      { title: "E2E latency", cell: (n) => e2e(n.e2e_processing_latency), total: (t) => e2e(t.e2e_processing_latency) },
      { title: "", cell: (n) => n.paused ? badge("paused", "warn") : null },
      {
        title: "",
        cell: (n) =>
          settings.lookupd_mode
            ? actionButton("✘", () => act(`Tombstone ${topic} on ${n.node}? It is removed from that nsqd and hidden from lookupd.`, "DELETE", "/nodes/" + enc(n.node), { topic }, refresh), "small")
            : null,
      },
    ],
  });
  const channels = new DataTable({
    testid: "topic-channels",
    key: (c) => c.channel_name,
    empty: "No channels.",
    columns: [
      { title: "Channel", cell: (c) => [link(path + "/" + enc(c.channel_name), c.channel_name), c.paused ? [" ", badge("paused", "warn")] : null] },
      { title: "Depth", cls: "num", cell: (c) => num(c.depth) },
      { title: "Memory + Disk", cls: "num", cell: (c) => num(c.memory_depth) + " + " + num(c.backend_depth) },
      { title: "In-Flight", cls: "num", cell: (c) => num(c.in_flight_count) },
      { title: "Deferred", cls: "num", cell: (c) => num(c.deferred_count) },
      { title: "Requeued", cls: "num", cell: (c) => num(c.requeue_count) },
      { title: "Timed Out", cls: "num", cell: (c) => num(c.timeout_count) },
      { title: "Messages", cls: "num", cell: (c) => num(c.message_count) },
      { title: "Rate (msg/s)", cls: "num", cell: (c) => rate(c.rate) },
      { title: "Connections", cls: "num", cell: (c) => num(c.client_count) },
    ],
  });
  async function refresh() {
    let t;
    try {
      t = await get(path);
    } catch (e) {
      if (!noProducers(e)) throw e;
      // No nsqd has the topic (NSQ answers 502): nothing to show.
      replace(state, badge("no nsqd has it", "warn"));
      nodes.update([]);
      channels.update([]);
      return;
    }
    const now = Date.now();
    t.rate = rates.update("*", t.message_count || 0, now);
    for (const n of t.nodes || []) n.rate = rates.update(n.node, n.message_count, now);
    for (const c of t.channels || []) c.rate = rates.update("c:" + c.channel_name, c.message_count, now);
    charts.rateChart.push(t.rate);
    charts.depthChart.push(t.depth || 0);
    paused = !!t.paused;
    replace(state, paused ? badge("paused", "warn") : badge("active", "ok"));
    nodes.update(t.nodes || [], t.node ? t : null);
    channels.update(t.channels || []);
    replace(
      buttons,
      actionButton(paused ? "UnPause Topic" : "Pause Topic", () =>
        act(`${paused ? "Unpause" : "Pause"} topic ${topic}?`, "POST", path, { action: paused ? "unpause" : "pause" }, refresh)),
      actionButton("Empty Queue", () => act(`Empty the queue of topic ${topic}? Its messages are lost.`, "POST", path, { action: "empty" }, refresh), "warn"),
      actionButton("Delete Topic", () => act(`Delete topic ${topic} and all its channels?`, "DELETE", path, undefined, () => go("/topics")), "danger"),
    );
  }
  return {
    title: "Topic " + topic,
    el: h(
      "section",
      {},
      h("p", { class: "crumbs" }, link("/topics", "Topics"), " / "),
      h("h1", {}, "Topic: ", h("span", { class: "name", "data-testid": "topic-name" }, topic), " ", state),
      buttons,
      charts.el,
      h("h2", {}, "Topic Message Queue"),
      nodes.el,
      h("h2", {}, "Channels"),
      channels.el,
    ),
    refresh,
  };
}
