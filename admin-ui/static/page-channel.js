// Channel: cluster-wide and per-nsqd stats, live rate and depth charts,
// the client connections (paged: usable at 10 000 clients), a peek at
// queued messages where the broker offers it, and the Pause/UnPause, Empty
// and Delete actions; dead letters (an nsq-rs extension): the limit, the
// dead-letter topic and how many went there, setting the limit, Redrive.

import { h, replace, link, enc, num, rate, duration, badge, actionButton, go, notice } from "./dom.js";
import { get, act, send, noProducers } from "./api.js";
import { DataTable } from "./table.js";
import { Rates, rateAndDepth } from "./chart.js";
import { e2e } from "./page-topic.js";

function attributes(c) {
  const out = [];
  if (c.tls) out.push(badge("TLS " + (c.tls_version || ""), "ok"));
  if (c.authed) out.push(badge("AUTH" + (c.auth_identity ? ": " + c.auth_identity : ""), "ok"));
  if (c.deflate) out.push(badge("deflate", "info"));
  if (c.snappy) out.push(badge("snappy", "info"));
  if (c.sample_rate) out.push(badge("sample " + c.sample_rate + "%", "info"));
  return out.length ? out.flatMap((b) => [b, " "]) : "–";
}

export default function channelPage({ topic, channel }) {
  const rates = new Rates();
  const charts = rateAndDepth();
  const path = "/topics/" + enc(topic) + "/" + enc(channel);
  const buttons = h("div", { class: "actions" });
  const state = h("span", {});
  const nodes = new DataTable({
    testid: "channel-nodes",
    columns: [
      { title: "NSQd Host", cell: (n) => [link("/nodes/" + enc(n.node), n.hostname || n.node), " ", h("span", { class: "muted" }, n.node)], total: () => "Total" },
      { title: "Depth", cls: "num", cell: (n) => num(n.depth), total: (t) => num(t.depth) },
      { title: "Memory + Disk", cls: "num", cell: (n) => num(n.memory_depth) + " + " + num(n.backend_depth), total: (t) => num(t.memory_depth) + " + " + num(t.backend_depth) },
      { title: "In-Flight", cls: "num", cell: (n) => num(n.in_flight_count), total: (t) => num(t.in_flight_count) },
      { title: "Deferred", cls: "num", cell: (n) => num(n.deferred_count), total: (t) => num(t.deferred_count) },
      { title: "Requeued", cls: "num", cell: (n) => num(n.requeue_count), total: (t) => num(t.requeue_count) },
      { title: "Timed Out", cls: "num", cell: (n) => num(n.timeout_count), total: (t) => num(t.timeout_count) },
      { title: "Messages", cls: "num", cell: (n) => num(n.message_count), total: (t) => num(t.message_count) },
      { title: "Rate (msg/s)", cls: "num", cell: (n) => rate(n.rate), total: (t) => rate(t.rate) },
      { title: "Connections", cls: "num", cell: (n) => num(n.client_count), total: (t) => num(t.client_count) },
      { title: "E2E latency", cell: (n) => e2e(n.e2e_processing_latency), total: (t) => e2e(t.e2e_processing_latency) },
      { title: "", cell: (n) => (n.paused ? badge("paused", "warn") : null) },
    ],
  });
  const clients = new DataTable({
    testid: "clients",
    key: (c) => [c.client_id, c.hostname, c.remote_address, c.user_agent, c.node].join(" "),
    pageSize: 200,
    empty: "No clients connected.",
    columns: [
      { title: "Client Host", cell: (c) => [h("span", { class: "client-id" }, c.client_id || c.hostname), c.hostname && c.hostname !== c.client_id ? [" ", h("span", { class: "muted" }, c.hostname)] : null, h("div", { class: "muted" }, c.remote_address)] },
      { title: "Protocol / User-Agent", cell: (c) => [c.version, " ", h("span", { class: "muted" }, c.user_agent || "")] },
      { title: "Attributes", cell: attributes },
      { title: "NSQd Host", cell: (c) => link("/nodes/" + enc(c.node), c.node) },
      { title: "In-Flight", cls: "num", cell: (c) => num(c.in_flight_count) },
      { title: "Ready", cls: "num", cell: (c) => num(c.ready_count) },
      { title: "Finished", cls: "num", cell: (c) => num(c.finish_count) },
      { title: "Requeued", cls: "num", cell: (c) => num(c.requeue_count) },
      { title: "Messages", cls: "num", cell: (c) => num(c.message_count) },
      { title: "Connected", cls: "num", cell: (c) => duration(c.connected) },
    ],
  });
  const peekOut = h("div", { class: "peek" });
  const deadFigures = h("p", { "data-testid": "dead-letters" });
  const maxInput = h("input", { type: "number", min: "0", max: "65535", step: "1", placeholder: "max attempts (0: no limit)", "data-testid": "max-attempts-input" });
  const deadInput = h("input", { type: "text", placeholder: "dead-letter topic (default: <topic>.<channel>.dead)", "data-testid": "dead-letter-topic-input" });
  const deadActions = h(
    "div",
    { class: "actions form dead-letters" },
    maxInput,
    " ",
    deadInput,
    " ",
    actionButton("Set Max Attempts", () => {
      const max = Number(maxInput.value);
      if (maxInput.value === "" || !Number.isInteger(max) || max < 0 || max > 65535) {
        notice("Max attempts: a whole number from 0 (no limit) to 65535.", "error");
        return;
      }
      const body = { action: "set_max_attempts", max_attempts: max };
      if (deadInput.value) body.dead_letter_topic = deadInput.value;
      act(`Set the max attempts of channel ${channel} to ${max}${max ? "" : " (no limit)"}?`, "POST", path, body, refresh);
    }),
    " ",
    actionButton("Redrive", () =>
      act(
        `Move every message of the dead-letter topic of channel ${channel} back into it (and no other channel)?`,
        "POST",
        path,
        { action: "redrive" },
        refresh,
        (r) => `Redrive: ${num(r.moved || 0)} messages moved back into ${channel}`,
      )),
  );
  async function peek() {
    try {
      const r = await send("GET", path + "/peek?n=10");
      const rows = [];
      for (const [node, v] of Object.entries(r.nodes || {})) {
        for (const m of (v && v.messages) || []) {
          rows.push(h("tr", {}, h("td", {}, node), h("td", {}, String(m.id || "")), h("td", { class: "body" }, String(m.body ?? JSON.stringify(m)))));
        }
      }
      replace(peekOut, rows.length ? h("table", { class: "data" }, h("tbody", {}, rows)) : h("p", { class: "muted" }, "No queued messages."));
    } catch (e) {
      replace(peekOut, h("p", { class: "muted" }, e.status === 501 ? "Peek is not available: no nsqd of this topic offers GET /channel/peek." : "Peek failed: " + e.message));
    }
  }
  async function refresh() {
    let c;
    try {
      c = await get(path);
    } catch (e) {
      // No nsqd has the topic (NSQ answers 502).
      if (!noProducers(e)) throw e;
      c = {};
    }
    const now = Date.now();
    if (!c.channel_name) {
      replace(state, badge("not found", "error"));
      nodes.update([]);
      clients.update([]);
      return;
    }
    c.rate = rates.update("*", c.message_count, now);
    for (const n of c.nodes || []) n.rate = rates.update(n.node, n.message_count, now);
    charts.rateChart.push(c.rate);
    charts.depthChart.push(c.depth);
    const paused = !!c.paused;
    replace(state, paused ? badge("paused", "warn") : badge("active", "ok"));
    replace(
      deadFigures,
      c.max_attempts === undefined
        ? "No max attempts: messages are requeued however often they fail (NSQ's behaviour)."
        : [
            "Max attempts: ", num(c.max_attempts), c.max_attempts ? "" : " (no limit)",
            " · Dead-letter topic: ", c.dead_letter_topic ? link("/topics/" + enc(c.dead_letter_topic), c.dead_letter_topic) : "–",
            " · Dead letters: ", num(c.dead_letter_count || 0),
          ],
    );
    nodes.update(c.nodes || [], c);
    clients.update(c.clients || []);
    replace(
      buttons,
      actionButton(paused ? "UnPause Channel" : "Pause Channel", () =>
        act(`${paused ? "Unpause" : "Pause"} channel ${channel} of topic ${topic}?`, "POST", path, { action: paused ? "unpause" : "pause" }, refresh)),
      actionButton("Empty Queue", () => act(`Empty the queue of channel ${channel}? Its messages are lost.`, "POST", path, { action: "empty" }, refresh), "warn"),
      actionButton("Delete Channel", () => act(`Delete channel ${channel} of topic ${topic}?`, "DELETE", path, undefined, () => go("/topics/" + enc(topic))), "danger"),
    );
  }
  return {
    title: "Channel " + topic + "/" + channel,
    el: h(
      "section",
      {},
      h("p", { class: "crumbs" }, link("/topics", "Topics"), " / ", link("/topics/" + enc(topic), topic), " / "),
      h("h1", {}, "Channel: ", h("span", { class: "name", "data-testid": "channel-name" }, channel), " ", state),
      buttons,
      charts.el,
      h("h2", {}, "Channel Message Queue"),
      nodes.el,
      h("h2", {}, "Client Connections"),
      clients.el,
      h("h2", {}, "Dead Letters"),
      deadFigures,
      deadActions,
      h("h2", {}, "Peek"),
      h("p", {}, h("button", { type: "button", class: "btn", onclick: peek }, "Peek at queued messages")),
      peekOut,
    ),
    refresh,
  };
}
