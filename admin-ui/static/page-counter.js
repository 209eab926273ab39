// Counter: the total number of messages processed by every channel of the
// cluster, counting up smoothly between polls of /api/counter, with the
// current rate.

import { h, replace, num, rate } from "./dom.js";
import { get, noProducers } from "./api.js";
import { LiveChart } from "./chart.js";

export default function counterPage() {
  const big = h("div", { class: "counter", "data-testid": "counter" }, "–");
  const chart = new LiveChart("Messages per second", { unit: " msg/s", format: rate });
  let shown = null;
  let target = null;
  let last = null;
  let anim = null;
  function animate() {
    if (shown === null || target === null) return;
    const step = Math.max(1, Math.ceil((target - shown) / 20));
    shown = Math.min(target, shown + step);
    replace(big, num(shown));
    anim = shown < target && big.isConnected ? requestAnimationFrame(animate) : null;
  }
  return {
    title: "Counter",
    interval: 2000,
    el: h("section", {}, h("h1", {}, "Messages processed"), big, h("p", { class: "muted" }, "Sum of message_count over every channel of every nsqd."), chart.el),
    async refresh() {
      // No nsqd at all: NSQ answers 502; the count is 0.
      const r = await get("/counter").catch((e) => {
        if (noProducers(e)) return { stats: {} };
        throw e;
      });
      const total = Object.values(r.stats).reduce((s, c) => s + c.message_count, 0);
      const now = Date.now();
      if (last && now > last.t && total >= last.total) chart.push(((total - last.total) * 1000) / (now - last.t));
      last = { t: now, total };
      target = total;
      if (shown === null || total < shown) {
        shown = total;
        replace(big, num(total));
      } else if (!anim) {
        anim = requestAnimationFrame(animate);
      }
    },
  };
}
