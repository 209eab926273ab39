// Nodes: every nsqd with its addresses, version (out-of-date flagged),
// lookupd connections (a warning when not every lookupd knows it) and
// topics (tombstoned ones marked).

import { h, link, enc, num, badge, settings } from "./dom.js";
import { get } from "./api.js";
import { DataTable } from "./table.js";

export default function nodesPage() {
  const lookupds = (settings.nsqlookupd || []).length;
  const table = new DataTable({
    testid: "nodes",
    key: (n) => [n.hostname, n.broadcast_address, ...(n.topics || []).map((t) => t.topic)].join(" "),
    empty: "No nsqd found.",
    columns: [
      { title: "Hostname", cell: (n) => link("/nodes/" + enc(n.broadcast_address + ":" + n.http_port), n.hostname || n.broadcast_address) },
      { title: "Broadcast Address", cell: (n) => n.broadcast_address },
      { title: "TCP Port", cls: "num", cell: (n) => String(n.tcp_port) },
      { title: "HTTP Port", cls: "num", cell: (n) => String(n.http_port) },
      { title: "Version", cell: (n) => [n.version, n.out_of_date ? [" ", badge("out of date", "warn")] : null] },
      {
        title: "Lookupd Conns",
        cls: "num",
        cell: (n) => {
          const c = (n.remote_addresses || []).length;
          if (!settings.lookupd_mode) return "–";
          return [num(c), c < lookupds ? [" ", badge("not in every lookupd", "warn")] : null];
        },
      },
      {
        title: "Topics",
        cell: (n) =>
          (n.topics || []).length
            ? n.topics.flatMap((t) => [link("/topics/" + enc(t.topic), t.topic), t.tombstoned ? [" ", badge("tombstoned", "error")] : null, " "])
            : h("span", { class: "muted" }, "none"),
      },
    ],
  });
  return {
    title: "Nodes",
    el: h("section", {}, h("h1", {}, "NSQd Nodes"), table.el),
    async refresh() {
      table.update((await get("/nodes")).nodes || []);
    },
  };
}
