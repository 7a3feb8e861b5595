// The sweeps page (#/sweeps): every sweep newest first, with its prompt, its
// axes and their values, how many of its jobs are in each status, and when it
// was made; each opens its grid. Job events of a sweep refetch the list (its
// counts), at most once a second, while it is shown.

import { api } from "../api.js";
import { modelLabel } from "../catalogue.js";
import { ago, plural, timestamp } from "../format.js";
import { live } from "../live.js";
import { axisLabel, countsText, promptOf, valueText } from "../sweep-layout.js";
import { h, setText } from "../ui.js";
import "./sweep-dialog.js";

const REFRESH_MS = 1000;

export class SweepList extends HTMLElement {
  connectedCallback() {
    if (this.list) return;
    this.count = h("span", { class: "count" });
    this.list = h("div", { class: "sweep-list" });
    this.empty = h("div", { class: "empty", hidden: true });
    this.append(
      h("div", { class: "toolbar" }, h("h1", { class: "view-title" }, "Sweeps"),
        h("button", { type: "button", class: "btn primary", onclick: () => this.dialog.open() }, "New sweep"),
        this.count),
      this.empty, this.list, this.dialog = h("sweep-dialog"));
    const later = () => this.refreshSoon();
    live.addEventListener("job", (event) => {
      if (event.detail.job.sweep_id) later();
    });
    live.addEventListener("deleted", later);
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

  async refresh() {
    let sweeps;
    try {
      sweeps = await api.sweeps();
    } catch (error) {
      this.empty.hidden = false;
      this.empty.replaceChildren(h("p", {}, `Could not load the sweeps: ${error.message}`));
      throw error;
    }
    setText(this.count, plural(sweeps.length, "sweep"));
    this.empty.hidden = sweeps.length > 0;
    if (!sweeps.length) {
      this.empty.replaceChildren(h("h2", {}, "No sweeps yet"),
        h("p", {}, "A sweep runs one prompt over a grid of settings (guidance scales × seeds, say) and plays "
          + "the videos side by side."));
    }
    this.list.replaceChildren(...sweeps.map((sweep) => this.row(sweep)));
  }

  row(sweep) {
    const model = sweep.base.model_id;
    const axes = Object.entries(sweep.axes)
      .map(([name, values]) => `${axisLabel(name, model)} ${values.map((value) => valueText(name, value)).join(", ")}`);
    return h("a", { class: "sweep-row", href: `#/sweeps/${encodeURIComponent(sweep.id)}`, dataset: { id: sweep.id } },
      h("span", { class: "sweep-prompt" }, promptOf(sweep) || "(no prompt)"),
      h("span", { class: "sweep-counts" }, countsText(sweep.counts, sweep.total, plural)),
      h("span", { class: "sweep-axes" }, axes.join(" × ")),
      h("span", { class: "sweep-when", title: timestamp(sweep.created_at) },
        `${model ? `${modelLabel(model)} · ` : ""}created ${ago(sweep.created_at)}`));
  }
}

customElements.define("sweep-list", SweepList);
