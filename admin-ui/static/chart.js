// Live charts from successive /stats readings (no graphite): a Rates
// tracker turns message counters into msg/s, and a LiveChart draws the
// last readings as an SVG line. Built with createElementNS; labels are text.

import { h, replace, rate, num } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Per-key message rates from counters read at successive times. */
export class Rates {
  constructor() {
    this.last = new Map();
    this.rates = new Map();
  }

  /** Record `count` for `key` at `t` (ms); the rate since the last reading (or null). */
  update(key, count, t) {
    const prev = this.last.get(key);
    this.last.set(key, { count, t });
    if (prev && t > prev.t && count >= prev.count) {
      this.rates.set(key, ((count - prev.count) * 1000) / (t - prev.t));
    }
    return this.rates.has(key) ? this.rates.get(key) : null;
  }
}

/** A small line chart of the last `size` points. */
export class LiveChart {
  constructor(title, { size = 90, unit = "", format = num } = {}) {
    this.title = title;
    this.size = size;
    this.unit = unit;
    this.format = format;
    this.points = [];
    this.value = h("span", { class: "chart-value" }, "–");
    this.svg = svg("svg", { viewBox: "0 0 300 80", preserveAspectRatio: "none", class: "chart-svg" });
    this.el = h("figure", { class: "chart" }, h("figcaption", {}, title, " ", this.value), this.svg);
  }

  push(v) {
    if (v === null || v === undefined) return;
    this.points.push(v);
    if (this.points.length > this.size) this.points.shift();
    this.draw();
  }

  draw() {
    replace(this.value, this.format(this.points[this.points.length - 1]) + this.unit);
    while (this.svg.firstChild) this.svg.removeChild(this.svg.firstChild);
    const max = Math.max(1, ...this.points);
    const step = 300 / Math.max(1, this.size - 1);
    const off = this.size - this.points.length;
    const xy = this.points.map((p, i) => [((off + i) * step).toFixed(1), (78 - (p / max) * 74).toFixed(1)]);
    if (xy.length > 1) {
      const line = xy.map(([x, y]) => x + "," + y).join(" ");
      const area = `${xy[0][0]},80 ${line} ${xy[xy.length - 1][0]},80`;
      this.svg.appendChild(svg("polygon", { points: area, class: "chart-area" }));
      this.svg.appendChild(svg("polyline", { points: line, class: "chart-line" }));
    }
    const label = svg("text", { x: 2, y: 10, class: "chart-max" });
    label.textContent = "max " + this.format(max) + this.unit;
    this.svg.appendChild(label);
  }
}

/** A rate chart (msg/s) and a depth chart side by side. */
export function rateAndDepth() {
  const rateChart = new LiveChart("Message rate", { unit: " msg/s", format: rate });
  const depthChart = new LiveChart("Depth");
  return {
    rateChart,
    depthChart,
    el: h("div", { class: "charts" }, rateChart.el, depthChart.el),
  };
}
