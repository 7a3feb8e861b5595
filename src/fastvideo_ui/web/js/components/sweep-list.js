// The sweeps page (#/sweeps): the sweeps newest first, a page at a time (GET
// /api/sweeps: each light, its base's model and prompt and its axes' values,
// long texts cut), with how many of its jobs are in each status and when it
// was made; each opens its grid. A job event that changes a sweep job's
// status (not its progress, nor a star) refetches what is shown, at most once
// a second, while the list is shown.

import { api } from "../api.js";
import { modelLabel } from "../catalogue.js";
import { ago, plural, timestamp } from "../format.js";
import { live } from "../live.js";
import { axisLabel, countsText, promptOf, valueText } from "../sweep-layout.js";
import { h, setText } from "../ui.js";
import "./sweep-dialog.js";

const REFRESH_MS = 1000;
const PAGE = 50;
const MAX_PAGE = 200; // the most one GET /api/sweeps answers

export class SweepList extends HTMLElement {
  connectedCallback() {
    if (this.list) return;
    this.count = h("span", { class: "count" });
    this.list = h("div", { class: "sweep-list" });
    this.empty = h("div", { class: "empty", hidden: true });
    this.append(
      h("div", { class: "toolbar" }, h("h1", { class: "view-title" }, "Sweeps"),
        // The page's one New sweep dialog (index.html), outside this view: New job opens it too.
        h("button", { type: "button", class: "btn primary",
          onclick: () => document.querySelector("sweep-dialog").open() }, "New sweep"),
        this.count),
      this.empty, this.list,
      this.more = h("button", { type: "button", class: "btn more", hidden: true, onclick: () => this.loadMore() },
        "Load more"));
    this.sweeps = [];
    this.nextBefore = null;
    this.total = 0;
    // Each sweep job's status as its last event said: an event that leaves it as it was (a star, a
    // queue position) changes no count.
    this.statuses = new Map();
    const later = () => this.refreshSoon();
    live.addEventListener("job", (event) => {
      const { kind, job } = event.detail;
      if (!job.sweep_id) return;
      const before = this.statuses.get(job.id);
      this.statuses.set(job.id, job.status);
      if (kind === "created" || before !== job.status) later();
    });
    live.addEventListener("deleted", (event) => {
      this.statuses.delete(event.detail?.id);
      later();
    });
    live.addEventListener("resync", later);
  }

  activate() {
    return this.refresh();
  }

  refreshSoon() {
    if (this.timer || this.closest("[hidden]")) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.refresh().catch(() => {});
    }, REFRESH_MS);
  }

  // The sweeps shown, again: as many as are loaded (one page at least, at most MAX_PAGE).
  async refresh() {
    let page;
    try {
      page = await api.sweeps({ limit: Math.min(MAX_PAGE, Math.max(PAGE, this.sweeps.length)) });
    } catch (error) {
      this.empty.hidden = false;
      this.empty.replaceChildren(h("p", {}, `Could not load the sweeps: ${error.message}`));
      throw error;
    }
    this.show(page.sweeps, page);
  }

  async loadMore() {
    if (!this.nextBefore || this.loading) return;
    this.loading = true;
    this.more.disabled = true;
    try {
      const page = await api.sweeps({ limit: PAGE, before: this.nextBefore });
      const shown = new Set(this.sweeps.map((sweep) => sweep.id)); // a refresh meanwhile may have brought some
      this.show([...this.sweeps, ...page.sweeps.filter((sweep) => !shown.has(sweep.id))], page);
    } finally {
      this.loading = false;
      this.more.disabled = false;
    }
  }

  show(sweeps, { total, nextBefore }) {
    this.sweeps = sweeps;
    this.total = total;
    this.nextBefore = nextBefore;
    setText(this.count, plural(total, "sweep"));
    this.empty.hidden = sweeps.length > 0;
    if (!sweeps.length) {
      this.empty.replaceChildren(h("h2", {}, "No sweeps yet"),
        h("p", {}, "A sweep runs one prompt over a grid of settings (guidance scales × seeds, say) and plays "
          + "the videos side by side."));
    }
    this.more.hidden = !nextBefore;
    this.list.replaceChildren(...sweeps.map((sweep) => this.row(sweep)));
  }

  row(sweep) {
    const model = sweep.base.model_id;
    const axes = Object.entries(sweep.axes)
      .map(([name, values]) => `${axisLabel(name, model)} ${values.map((value) => valueText(name, value))
        .join(values.some((value) => typeof value === "string") ? " | " : ", ")}`); // a prompt may hold commas
    return h("a", { class: "sweep-row", href: `#/sweeps/${encodeURIComponent(sweep.id)}`, dataset: { id: sweep.id } },
      h("span", { class: "sweep-prompt" }, promptOf(sweep) || "(no prompt)"),
      h("span", { class: "sweep-counts" }, countsText(sweep.counts, sweep.total, plural)),
      h("span", { class: "sweep-axes" }, axes.join(" × ")),
      h("span", { class: "sweep-when", title: timestamp(sweep.created_at) },
        `${model ? `${modelLabel(model)} · ` : ""}created ${ago(sweep.created_at)}`));
  }
}

customElements.define("sweep-list", SweepList);
