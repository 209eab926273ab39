// Node: one nsqd (broadcast_address:http_port): every topic and channel on
// it with depths, messages and client counts, and the totals; the "Drain
// node" action (an nsq-rs extension) and a badge while it drains.

import { h, replace, link, enc, num, rate, badge, actionButton } from "./dom.js";
import { get, act } from "./api.js";
import { DataTable } from "./table.js";
import { Rates } from "./chart.js";

export default function nodePage({ node }) {
  const rates = new Rates();
  const totals = h("p", { class: "totals" });
  const state = h("span", { "data-testid": "node-state" });
  const buttons = h("div", { class: "actions" });
  const table = new DataTable({
    testid: "node-topics",
    key: (r) => r.topic + " " + (r.channel || ""),
    pageSize: 200,
    empty: "No topics on this node.",
    columns: [
      { title: "Topic", cell: (r) => (r.channel ? "" : [link("/topics/" + enc(r.topic), r.topic), r.paused ? [" ", badge("paused", "warn")] : null]) },
      { title: "Channel", cell: (r) => (r.channel ? [link("/topics/" + enc(r.topic) + "/" + enc(r.channel), r.channel), r.paused ? [" ", badge("paused", "warn")] : null] : "") },
      { title: "Depth", cls: "num", cell: (r) => num(r.depth) },
      { title: "Memory + Disk", cls: "num", cell: (r) => num(r.memory_depth) + " + " + num(r.backend_depth) },
      { title: "In-Flight", cls: "num", cell: (r) => (r.channel ? num(r.in_flight_count) : "") },
      { title: "Messages", cls: "num", cell: (r) => num(r.message_count) },
      { title: "Rate (msg/s)", cls: "num", cell: (r) => rate(r.rate) },
      { title: "Clients", cls: "num", cell: (r) => (r.channel ? num(r.clients) : "") },
    ],
  });
  async function refresh() {
    const n = await get("/nodes/" + enc(node) + "?include_clients=false");
    replace(state, n.draining ? badge("draining", "warn") : null);
    replace(
      buttons,
      n.draining
        ? null
        : actionButton("Drain node", () =>
            act(
              `Drain node ${node}? It refuses publishes from now on, leaves nsqlookupd, and shuts down once its consumers have taken every message (or its drain timeout passes).`,
              "POST",
              "/nodes/" + enc(node),
              { action: "drain" },
              // A node with nothing to drain is gone at once.
              () => refresh().catch(() => {}),
              () => "Draining node " + node,
            ), "danger"),
    );
    const now = Date.now();
    const rows = [];
    const topics = n.topics || [];
    for (const t of topics) {
      rows.push({ ...t, topic: t.topic_name, rate: rates.update(t.topic_name, t.message_count, now) });
      for (const c of t.channels || []) {
        rows.push({ ...c, topic: t.topic_name, channel: c.channel_name, clients: c.client_count, rate: rates.update(t.topic_name + "/" + c.channel_name, c.message_count, now) });
      }
    }
    replace(totals, "Topics: ", num(topics.length), " · Messages: ", num(n.total_messages), " · Clients: ", num(n.total_clients));
    table.update(rows);
  }
  return {
    title: "Node " + node,
    el: h("section", {}, h("p", { class: "crumbs" }, link("/nodes", "Nodes"), " / "), h("h1", {}, "Node: ", h("span", { class: "name" }, node), " ", state), buttons, totals, table.el),
    refresh,
  };
}
