// The jobs view: filter and search, then cards newest first, a page at a
// time as the user scrolls. Cards are patched in place from feed events.

import { JobFeed } from "../feed.js";
import { selection } from "../selection.js";
import { live } from "../live.js";
import { plural } from "../format.js";
import { announce, h, setText, shortPrompt } from "../ui.js";
import "./job-card.js";

const FILTERS = [
  ["", "All statuses"],
  ["queued,running", "Active"],
  ["pending", "Pending"],
  ["queued", "Queued"],
  ["running", "Running"],
  ["completed", "Completed"],
  ["failed", "Failed"],
  ["stopped", "Stopped"],
];

const ANNOUNCED = { running: "started running", completed: "completed", failed: "failed", stopped: "stopped" };

export class JobList extends HTMLElement {
  connectedCallback() {
    if (this.feed) return;
    this.cards = new Map();
    this.feed = new JobFeed(live);
    this.render();
    this.bindFeed();
    this.observeMedia = new IntersectionObserver(
      (entries) => entries.forEach((entry) => entry.target.setNearViewport(entry.isIntersecting)),
      { rootMargin: "400px 0px" },
    );
    this.observeEnd = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) this.loadMore();
    }, { rootMargin: "800px 0px" });
    this.observeEnd.observe(this.more);
    selection.addEventListener("change", () => {
      for (const card of this.cards.values()) card.showPick();
    });
    live.addEventListener("state", (event) => {
      for (const card of this.cards.values()) card.setReachable(event.detail !== "down");
    });
    // The page's one clock for relative times: each card updates its own line when it is due.
    setInterval(() => {
      const now = Date.now() / 1000;
      for (const card of this.cards.values()) card.tick(now);
    }, 1000);
  }

  render() {
    this.statusSelect = h("select", { id: "status-filter", name: "status" },
      FILTERS.map(([value, label]) => h("option", { value }, label)));
    this.search = h("input", {
      id: "search", type: "search", name: "q", placeholder: "Search prompts", autocomplete: "off",
    });
    this.count = h("span", { class: "count", "aria-live": "off" });
    this.starred = h("input", { type: "checkbox", id: "starred-filter", name: "starred" });
    this.statusSelect.addEventListener("change", () => this.queryChanged());
    this.starred.addEventListener("change", () => this.queryChanged());
    let debounce;
    this.search.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => this.queryChanged(), 250);
    });
    this.list = h("div", { class: "cards" });
    this.empty = h("div", { class: "empty", hidden: true });
    this.more = h("button", { type: "button", class: "btn more", hidden: true, onclick: () => this.loadMore() },
      "Load more");
    this.append(
      h("div", { class: "toolbar", role: "search" },
        h("label", { for: "status-filter", class: "visually-hidden" }, "Filter by status"), this.statusSelect,
        h("label", { for: "search", class: "visually-hidden" }, "Search prompts"), this.search,
        h("label", { class: "filter-check" }, this.starred, "★ Starred"),
        this.count),
      this.empty, this.list, this.more,
    );
  }

  // The app sets the query from the URL (#/jobs?status=...&q=...&starred=1); the same
  // query again (back from a job's details) keeps the list as it is.
  setQuery({ status = "", q = "", starred = false }) {
    const wanted = FILTERS.some(([value]) => value === status) ? status : "";
    const same = wanted === this.statusSelect.value && q === this.search.value && starred === this.starred.checked;
    this.statusSelect.value = wanted;
    this.search.value = q;
    this.starred.checked = starred;
    if (same && this.feed.loaded) return Promise.resolve();
    return this.applyQuery();
  }

  queryChanged() {
    const params = new URLSearchParams();
    if (this.statusSelect.value) params.set("status", this.statusSelect.value);
    if (this.search.value.trim()) params.set("q", this.search.value.trim());
    if (this.starred.checked) params.set("starred", "1");
    const query = params.toString();
    history.replaceState(null, "", `#/jobs${query ? `?${query}` : ""}`);
    this.applyQuery();
  }

  applyQuery() {
    const statuses = this.statusSelect.value ? this.statusSelect.value.split(",") : [];
    return this.feed.setQuery({ statuses, q: this.search.value, starred: this.starred.checked }).catch((error) => this.showError(error));
  }

  showError(error) {
    this.empty.hidden = false;
    this.empty.replaceChildren(h("p", {}, `Could not load jobs: ${error.message}`));
  }

  async loadMore() {
    try {
      await this.feed.loadMore();
    } catch (error) {
      this.showError(error);
    }
  }

  bindFeed() {
    const feed = this.feed;
    feed.addEventListener("reset", () => this.renderAll());
    feed.addEventListener("insert", (e) => this.insertCard(e.detail.job, e.detail.index));
    feed.addEventListener("update", (e) => {
      const { job, previous } = e.detail;
      this.cards.get(job.id)?.update(job);
      if (previous.status !== job.status && ANNOUNCED[job.status]) {
        announce(`Job “${shortPrompt(job.prompt)}” ${ANNOUNCED[job.status]}`);
      }
    });
    feed.addEventListener("progress", (e) => this.cards.get(e.detail.job.id)?.updateProgress(e.detail.job));
    feed.addEventListener("remove", (e) => {
      const card = this.cards.get(e.detail.id);
      if (card) {
        this.observeMedia.unobserve(card);
        card.remove();
        this.cards.delete(e.detail.id);
      }
      this.updateChrome();
    });
    feed.addEventListener("total", () => this.updateChrome());
  }

  makeCard(job) {
    let card = this.cards.get(job.id);
    if (!card) {
      card = document.createElement("job-card");
      this.cards.set(job.id, card);
      this.observeMedia.observe(card);
    }
    card.update(job);
    return card;
  }

  // After a reset (new query, reconnect): keep the card elements of jobs
  // still shown, so nothing flickers and a playing video keeps playing.
  renderAll() {
    const keep = new Set(this.feed.items.map((job) => job.id));
    for (const [id, card] of this.cards) {
      if (!keep.has(id)) {
        this.observeMedia.unobserve(card);
        card.remove();
        this.cards.delete(id);
      }
    }
    const fragment = document.createDocumentFragment();
    for (const job of this.feed.items) fragment.append(this.makeCard(job));
    this.list.append(fragment); // moves kept cards into the new order
    this.updateChrome();
  }

  insertCard(job, index) {
    const card = this.makeCard(job);
    const next = this.feed.items[index + 1];
    this.list.insertBefore(card, next ? this.cards.get(next.id) || null : null);
    this.updateChrome();
  }

  updateChrome() {
    const shown = this.feed.items.length;
    const total = this.feed.total;
    setText(this.count, total === shown ? plural(total, "job") : `${shown} of ${plural(total, "job")}`);
    this.more.hidden = !this.feed.hasMore;
    const filtered = this.statusSelect.value || this.search.value.trim() || this.starred.checked;
    this.empty.hidden = shown > 0 || !this.feed.loaded;
    if (!this.empty.hidden) {
      this.empty.replaceChildren(...(filtered
        ? [h("p", {}, "No jobs match this filter."),
          h("button", { type: "button", class: "btn", onclick: () => this.setQuery({}).then(() => this.queryChanged()) },
            "Clear filter")]
        : [h("h2", {}, "No jobs yet"),
          h("p", {}, "Queue your first text-to-video job: choose a model, write a prompt, and press Create. "
            + "The preview model runs on the CPU, needs no weights, and shows how the queue works."),
          h("button", { type: "button", class: "btn primary", dataset: { action: "new-job" } }, "New job")]));
    }
  }
}

customElements.define("job-list", JobList);
