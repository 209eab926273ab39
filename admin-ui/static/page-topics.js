// Streams: every topic with its cluster-wide depth, messages, live rate,
// channels and nodes (from /api/stats/topics; names from /api/topics).

import { h, link, enc, num, rate, badge } from "./dom.js";
import { get } from "./api.js";
import { DataTable } from "./table.js";
import { Rates } from "./chart.js";

export default function topicsPage() {
  const rates = new Rates();
  const table = new DataTable({
    testid: "topics",
    key: (t) => t.topic_name,
    pageSize: 100,
    empty: "No topics.",
    columns: [
      { title: "Topic", cell: (t) => [link("/topics/" + enc(t.topic_name), t.topic_name), t.paused ? [" ", badge("paused", "warn")] : null] },
      { title: "Depth", cls: "num", cell: (t) => num(t.depth) },
      { title: "Messages", cls: "num", cell: (t) => num(t.message_count) },
      { title: "Rate (msg/s)", cls: "num", cell: (t) => rate(t.rate) },
      { title: "Channels", cls: "num", cell: (t) => num(t.channel_count) },
      { title: "Nodes", cls: "num", cell: (t) => num(t.node_count) },
    ],
  });
  return {
    title: "Streams",
    el: h("section", {}, h("h1", {}, "Topics"), table.el),
    async refresh() {
      const [names, stats] = await Promise.all([get("/topics"), get("/stats/topics")]);
      const now = Date.now();
      const byName = new Map(stats.topics.map((t) => [t.topic_name, t]));
      const rows = (names.topics || []).map((name) => {
        const t = byName.get(name) || { topic_name: name };
        t.rate = t.message_count === undefined ? null : rates.update(name, t.message_count, now);
        return t;
      });
      table.update(rows);
    },
  };
}
