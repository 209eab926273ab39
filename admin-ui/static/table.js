// A table that stays usable with 1000 topics or 10 000 clients: a text
// filter and pages of at most pageSize rows, so only what is visible is in
// the DOM. update(rows) keeps the filter and page across refreshes.

import { h, replace, num } from "./dom.js";

export class DataTable {
  /**
   * columns: [{title, cell: row => node|string, cls}]
   * key: row => string used by the filter; pageSize; empty: text.
   */
  constructor({ columns, key, pageSize = 100, empty = "None.", testid }) {
    this.columns = columns;
    this.key = key;
    this.pageSize = pageSize;
    this.empty = empty;
    this.page = 0;
    this.filter = "";
    this.rows = [];
    this.filterInput = key
      ? h("input", {
          type: "search",
          class: "filter",
          placeholder: "Filter…",
          "aria-label": "Filter",
          oninput: (e) => {
            this.filter = e.target.value.toLowerCase();
            this.page = 0;
            this.render();
          },
        })
      : null;
    this.tbody = h("tbody");
    this.pager = h("div", { class: "pager" });
    this.el = h(
      "div",
      { class: "table-wrap", "data-testid": testid || null },
      this.filterInput,
      h(
        "table",
        { class: "data" },
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.cls || null }, c.title)))),
        this.tbody,
      ),
      this.pager,
    );
  }

  update(rows, footer) {
    this.rows = rows;
    this.footer = footer;
    this.render();
  }

  render() {
    const shown = this.filter
      ? this.rows.filter((r) => this.key(r).toLowerCase().includes(this.filter))
      : this.rows;
    const pages = Math.max(1, Math.ceil(shown.length / this.pageSize));
    this.page = Math.min(this.page, pages - 1);
    const start = this.page * this.pageSize;
    const slice = shown.slice(start, start + this.pageSize);
    const trs = slice.map((r) =>
      h("tr", {}, this.columns.map((c) => h("td", { class: c.cls || null }, c.cell(r)))),
    );
    if (!slice.length) {
      trs.push(h("tr", {}, h("td", { colspan: this.columns.length, class: "muted" }, this.empty)));
    }
    if (this.footer) {
      trs.push(
        h("tr", { class: "total" }, this.columns.map((c) => h("td", { class: c.cls || null }, c.total ? c.total(this.footer) : ""))),
      );
    }
    replace(this.tbody, trs);
    if (shown.length <= this.pageSize) {
      replace(this.pager, shown.length > 20 ? num(shown.length) + " rows" : "");
      return;
    }
    replace(
      this.pager,
      h("button", { type: "button", class: "btn btn-small", disabled: this.page === 0, onclick: () => { this.page--; this.render(); } }, "‹ Prev"),
      ` ${num(start + 1)}–${num(start + slice.length)} of ${num(shown.length)} `,
      h("button", { type: "button", class: "btn btn-small", disabled: this.page >= pages - 1, onclick: () => { this.page++; this.render(); } }, "Next ›"),
    );
  }
}
