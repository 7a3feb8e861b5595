// A sweep's page (#/sweeps/<id>?rows=NAME&cols=NAME&tab=N): its jobs as a
// grid, one axis down the rows and one across (picked with two selects; the
// other axes become tabs), each cell a <sweep-cell>; the layout is kept in the
// URL (history.replaceState), so a reload or a link shows the same. Under the
// title, the settings every job shares (job-fields.js summary()). One
// <sync-controls>, shown once a video has a duration, plays every cell's video
// from one clock. Cells follow job events for this sweep; a reconnect refetches it.

import { api } from "../api.js";
import { deviceNoun, fieldsFor, modelLabel } from "../catalogue.js";
import { ago, plural, timestamp } from "../format.js";
import { live } from "../live.js";
import { SyncPlayback } from "../sync-playback.js";
import {
  axisLabel, axisNames, countsText, describe, gridOf, layoutQuery, promptOf, sharedFields, swapped, tabs, valueText,
  withAxis,
} from "../sweep-layout.js";
import { announce, h, setText, shortPrompt } from "../ui.js";
import { summary } from "./job-fields.js";
import "./sweep-cell.js";

const ACTIVE = new Set(["pending", "queued", "running"]);
const CELL_MAX = 340; // px

export class SweepGrid extends HTMLElement {
  connectedCallback() {
    if (this.sync) return;
    this.sync = new SyncPlayback();
    this.cells = new Map(); // job id -> <sweep-cell>, kept across layouts and refetches
    this.layout = { rows: null, cols: null };
    this.tab = 0;
    this.heading = h("h1", { class: "sweep-title", id: "sweep-title" });
    this.shared = h("p", { class: "sweep-shared" });
    this.meta = h("p", { class: "sweep-meta" });
    this.rowSelect = h("select", { id: "sweep-rows", onchange: () => this.setAxis("rows", this.rowSelect.value) });
    this.colSelect = h("select", { id: "sweep-cols", onchange: () => this.setAxis("cols", this.colSelect.value) });
    this.controls = h("sync-controls", { hidden: true }); // no "0.0 / 0.0 s" before there is a video
    this.startButton = h("button", { type: "button", class: "btn", onclick: () => this.start() }, "Start sweep");
    this.stopButton = h("button", { type: "button", class: "btn danger", onclick: () => this.stop() }, "Stop sweep");
    this.deleteButton = h("button", { type: "button", class: "btn danger", onclick: () => this.deleteSweep() },
      "Delete sweep");
    this.tablist = h("div", { class: "sweep-tabs", role: "tablist", "aria-label": "Other axes" });
    this.table = h("table", { class: "sweep-table", "aria-labelledby": "sweep-title" });
    this.message = h("p", { class: "empty", hidden: true });
    this.append(
      h("div", { class: "sweep-head" }, h("a", { href: "#/sweeps", class: "btn quiet" }, "← Sweeps"), this.heading),
      this.shared, this.meta,
      h("div", { class: "toolbar sweep-toolbar" },
        h("label", { for: "sweep-rows" }, "Rows"), this.rowSelect,
        h("button", { type: "button", class: "btn", title: "Swap rows and columns",
          "aria-label": "Swap rows and columns", onclick: () => this.setLayout(swapped(this.layout)) }, "⇅"),
        h("label", { for: "sweep-cols" }, "Columns"), this.colSelect,
        this.controls, h("span", { class: "spacer" }), this.startButton, this.stopButton,
        this.deleteButton),
      this.tablist, this.message, h("div", { class: "sweep-scroll" }, this.table));
    this.controls.playback = this.sync;
    this.sync.addEventListener("durationchange", () => {
      if (this.sync.duration) this.controls.hidden = false;
    });
    this.observer = new IntersectionObserver(
      (entries) => entries.forEach((entry) => entry.target.setNear(entry.isIntersecting)),
      { rootMargin: "400px" },
    );
    this.listen();
  }

  // A job event (its JSON) or a deletion ({deleted: id}) of this sweep. While
  // the sweep is being read they wait in `pending`, and are applied over what
  // was read: the events come in order, so the last one for each job wins.
  listen() {
    live.addEventListener("job", (event) => {
      const job = event.detail.job;
      if (job.sweep_id && job.sweep_id === this.sweepId) this.apply(job);
    });
    live.addEventListener("deleted", (event) => {
      if (this.pending || this.entryOf(event.detail.id)) this.apply({ deleted: event.detail.id });
    });
    live.addEventListener("progress", (event) => {
      const entry = this.entryOf(event.detail.id);
      if (!entry || !entry.job) return;
      Object.assign(entry.job, event.detail);
      this.cells.get(entry.id)?.updateProgress();
    });
    live.addEventListener("queue", (event) => {
      const positions = event.detail.positions || {};
      for (const entry of this.sweep?.jobs || []) {
        if (!entry.job || entry.job.queue_position === (positions[entry.id] ?? null)) continue;
        entry.job.queue_position = positions[entry.id] ?? null;
        this.cells.get(entry.id)?.updateProgress();
      }
    });
    live.addEventListener("resync", () => {
      if (this.sweepId) this.load().catch(() => {});
    });
  }

  apply(change, { reread = true } = {}) {
    if (this.pending) {
      this.pending.push(change);
      return;
    }
    const entry = this.entryOf(change.deleted || change.id);
    if (!entry) {
      if (!change.deleted && reread) this.load().catch(() => {}); // a job of this sweep not read yet
      return;
    }
    if (change.deleted) Object.assign(entry, { job: null, status: "deleted" });
    else Object.assign(entry, { job: change, status: change.status });
    this.cells.get(entry.id)?.update(entry);
    this.showMeta();
  }

  entryOf(jobId) {
    return this.sweep ? this.sweep.jobs.find((entry) => entry.id === jobId) : null;
  }

  // Shows sweep `id` laid out as `query` asks; the one shown already stays as it is (back from a job's
  // details), unless the query asks for another layout.
  async activate(id, query = "") {
    this.query = query;
    if (this.sweepId === id && this.sweep) {
      this.showTitle();
      if (!new URLSearchParams(query).toString()) this.remember(); // a plain link to it: the URL says the layout
      else this.useQuery();
      return;
    }
    this.sweepId = id;
    this.controls.hidden = true;
    // Nothing to act on until it is read (another sweep's buttons, or none at all for a bad id).
    for (const button of [this.startButton, this.stopButton, this.deleteButton]) button.hidden = true;
    this.sweep = null;
    this.pending = null; // another sweep's
    this.sync.pause();
    this.cells.clear();
    this.table.replaceChildren();
    this.tablist.replaceChildren();
    setText(this.heading, "Sweep");
    setText(this.meta, "Loading…");
    this.message.hidden = true;
    try {
      await this.load();
    } catch (error) {
      this.message.hidden = false;
      setText(this.message, error.status === 404 ? `No sweep ${id}: it was deleted, or never existed`
        : `Could not load the sweep: ${error.message}`);
      setText(this.meta, "");
      throw error;
    }
  }

  // Another view is shown: the grid's playback pauses (its cells, now hidden, drop their videos).
  leave() {
    this.sync?.pause();
  }

  async load() {
    const id = this.sweepId;
    const generation = (this.generation = (this.generation || 0) + 1);
    this.pending ??= [];
    let sweep;
    try {
      sweep = await api.sweep(id);
    } catch (error) {
      if (generation === this.generation) this.pending = null;
      throw error;
    }
    if (generation !== this.generation) return; // a later read (or another sweep) was asked for meanwhile
    const missed = this.pending;
    this.pending = null;
    const first = !this.sweep;
    this.sweep = sweep;
    if (first) ({ layout: this.layout, tab: this.tab } = layoutQuery(sweep, this.query));
    const known = new Set(sweep.jobs.map((entry) => entry.id));
    for (const jobId of [...this.cells.keys()]) if (!known.has(jobId)) this.cells.delete(jobId);
    for (const entry of sweep.jobs) this.cells.get(entry.id)?.update(entry);
    this.showTitle();
    this.render();
    for (const change of missed) this.apply(change, { reread: false });
  }

  showTitle() {
    const prompt = promptOf(this.sweep);
    document.title = `Sweep: ${shortPrompt(prompt, 40)} · fastvideo-ui`;
    setText(this.heading, prompt || "Sweep");
  }

  axisLabel(name) {
    return axisLabel(name, this.modelId());
  }

  describe(coords) {
    return describe(coords, this.modelId());
  }

  // The base's model; where it names none (the server's default, or model_id is an axis), its first job's.
  modelId() {
    return this.sweep.base.model_id || this.sweep.jobs.find((entry) => entry.job)?.job.model_id;
  }

  setAxis(which, name) {
    this.setLayout(withAxis(this.layout, which, name));
  }

  setLayout(layout) {
    this.layout = layout;
    this.tab = 0;
    this.render();
    this.remember();
  }

  // The layout the URL asks for, where it differs from the one shown.
  useQuery() {
    const { layout, tab } = layoutQuery(this.sweep, this.query);
    if (layout.rows === this.layout.rows && layout.cols === this.layout.cols && tab === this.tab) return;
    this.layout = layout;
    this.tab = tab;
    this.render();
  }

  // The layout into the URL, in place (no new history entry), as the jobs view keeps its filter.
  remember() {
    const params = new URLSearchParams({ rows: this.layout.rows || "", cols: this.layout.cols || "",
      tab: String(this.tab) });
    history.replaceState(null, "", `#/sweeps/${encodeURIComponent(this.sweepId)}?${params}`);
    this.query = params.toString();
  }

  render() {
    const names = axisNames(this.sweep);
    const options = (selected) => [h("option", { value: "" }, "none"),
      ...names.map((name) => h("option", { value: name, selected: name === selected }, this.axisLabel(name)))];
    this.rowSelect.replaceChildren(...options(this.layout.rows));
    this.colSelect.replaceChildren(...options(this.layout.cols));
    this.rowSelect.value = this.layout.rows || "";
    this.colSelect.value = this.layout.cols || "";
    this.renderTabs();
    this.renderTable();
    this.showMeta();
  }

  renderTabs() {
    const all = tabs(this.sweep, this.layout);
    this.tab = Math.max(0, Math.min(this.tab, all.length - 1));
    this.tablist.hidden = all.length < 2;
    this.tablist.replaceChildren(...(all.length < 2 ? [] : all.map((coords, index) => {
      const selected = index === this.tab;
      return h("button", { type: "button", role: "tab", class: "sweep-tab", "aria-selected": String(selected),
        tabindex: selected ? "0" : "-1", "aria-controls": "sweep-grid-table",
        onclick: () => this.selectTab(index), onkeydown: (event) => this.tabKey(event, index, all.length) },
      this.describe(coords));
    })));
    this.tabCoords = all[this.tab] || {};
  }

  selectTab(index) {
    this.tab = index;
    this.renderTabs();
    this.renderTable();
    this.tablist.children[index]?.focus();
    this.remember();
  }

  // Arrow keys move between tabs, as a tablist's keyboard pattern has it.
  tabKey(event, index, count) {
    const moves = { ArrowLeft: -1, ArrowRight: 1, Home: -index, End: count - 1 - index };
    if (!(event.key in moves)) return;
    event.preventDefault();
    this.selectTab((index + moves[event.key] + count) % count);
  }

  cell(entry) {
    let cell = this.cells.get(entry.id);
    if (!cell) {
      cell = document.createElement("sweep-cell");
      cell.configure({ sync: this.sync, describe: (coords) => this.describe(coords) });
      this.cells.set(entry.id, cell);
    }
    cell.update(entry);
    return cell;
  }

  renderTable() {
    const { rows, cols, cells } = gridOf(this.sweep, this.layout, this.tabCoords);
    const { rows: rowAxis, cols: colAxis } = this.layout;
    this.table.id = "sweep-grid-table";
    this.table.setAttribute("role", this.tablist.hidden ? "table" : "tabpanel");
    const corner = [colAxis && `${this.axisLabel(colAxis)} →`, rowAxis && `${this.axisLabel(rowAxis)} ↓`]
      .filter(Boolean).map((text) => h("span", {}, text));
    // As wide as the page allows, but a cell no wider than CELL_MAX: one column is not one huge video.
    this.table.style.width = `min(100%, ${cols.length * CELL_MAX + 120}px)`;
    const head = h("tr", {}, h("th", { class: "corner", scope: "col" }, corner),
      cols.map((value) => h("th", { scope: "col" }, colAxis ? valueText(colAxis, value) : "")));
    const body = rows.map((value, r) => h("tr", {},
      h("th", { scope: "row" }, rowAxis ? valueText(rowAxis, value) : ""),
      cells[r].map((entry) => h("td", {}, entry ? this.cell(entry) : h("span", { class: "cell-missing" }, "—")))));
    this.observer.disconnect();
    this.table.replaceChildren(h("thead", {}, head), h("tbody", {}, body));
    for (const cell of this.table.querySelectorAll("sweep-cell")) this.observer.observe(cell);
  }

  showMeta() {
    const sweep = this.sweep;
    const counts = {};
    for (const entry of sweep.jobs) counts[entry.status] = (counts[entry.status] || 0) + 1;
    const axes = axisNames(sweep).map((name) => `${this.axisLabel(name)} × ${sweep.axes[name].length}`).join(", ");
    const model = sweep.axes.model_id ? "" : `${modelLabel(this.modelId())} · `;
    setText(this.meta, `${model}${axes} · ${countsText(counts, sweep.jobs.length, plural)}`
      + ` · created ${ago(sweep.created_at)}`);
    this.meta.title = `created ${timestamp(sweep.created_at)}`;
    // Stop takes queued jobs out and stops running ones; a pending job it leaves as it is.
    this.stopButton.hidden = !sweep.jobs.some((entry) => entry.status === "queued" || entry.status === "running");
    this.deleteButton.hidden = false;
    // Pending (made without start), stopped or failed jobs: the server queues them all, or none.
    this.startButton.hidden = !sweep.jobs.some((entry) => entry.job?.actions.includes("start"));
    this.showShared();
  }

  // "416×240 · 17 frames @ 16 fps · 4 steps": the first job's summary, less what an axis varies or the jobs
  // do not have alike.
  showShared() {
    const jobs = this.sweep.jobs.map((entry) => entry.job).filter(Boolean);
    const modelId = jobs[0]?.model_id;
    const text = jobs.length ? summary(jobs[0], sharedFields(this.sweep, jobs, fieldsFor(modelId)), deviceNoun(modelId)) : "";
    setText(this.shared, text ? `Every job: ${text}` : "");
  }

  start() {
    return this.act("start", api.startSweep, "Sweep queued");
  }

  stop() {
    return this.act("stop", api.stopSweep, "Sweep stopped");
  }

  // A call on the whole sweep; its jobs' events redraw the cells.
  async act(name, call, said) {
    if (!this.sweep) return;
    try {
      await call(this.sweep.id);
      announce(said);
    } catch (error) {
      this.toast(`${name} failed: ${error.message}`);
    }
  }

  async deleteSweep() {
    const sweep = this.sweep;
    if (!sweep) return;
    const active = sweep.jobs.some((entry) => ACTIVE.has(entry.status));
    const stopped = active ? " Those still to run are stopped first." : "";
    const ok = await document.querySelector("confirm-dialog").ask(
      `Delete this sweep and its ${plural(sweep.jobs.length, "job")}?${stopped} Their videos and logs are deleted too.`,
      "Delete");
    if (!ok) return;
    try {
      await api.deleteSweep(sweep.id);
      announce("Sweep deleted");
      this.sweepId = null;
      this.sweep = null;
      location.hash = "#/sweeps";
    } catch (error) {
      this.toast(`delete failed: ${error.message}`);
    }
  }

  toast(message) {
    this.message.hidden = false;
    setText(this.message, message);
  }
}

customElements.define("sweep-grid", SweepGrid);
