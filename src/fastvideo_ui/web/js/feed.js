// A page-by-page window onto the job list for one query (status filter,
// prompt search, starred only), kept current by live events. Views render what it emits:
//   "insert" {job, index}, "update" {job, previous}, "progress" {progress},
//   "remove" {id}, "reset" (render `items` from scratch), "total".

import { api } from "./api.js";

const PAGE = 50;

function newerFirst(a, b) {
  if (a.created_at !== b.created_at) return b.created_at - a.created_at;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

export class JobFeed extends EventTarget {
  constructor(live, { statuses = [], q = "", starred = false } = {}) {
    super();
    this.items = [];
    this.byId = new Map();
    this.total = 0;
    this.nextBefore = null;
    this.loaded = false;
    this.loading = null;
    this.setQuery({ statuses, q, starred }, { load: false });
    live.addEventListener("job", (e) => this.applyJob(e.detail.job, e.detail.kind));
    live.addEventListener("progress", (e) => this.applyProgress(e.detail));
    live.addEventListener("queue", (e) => this.applyQueue(e.detail.positions || {}));
    live.addEventListener("deleted", (e) => this.applyDeleted(e.detail.id));
    live.addEventListener("resync", () => this.refresh().catch(() => {})); // the next resync retries
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  get hasMore() {
    return Boolean(this.nextBefore);
  }

  setQuery({ statuses, q, starred = false }, { load = true } = {}) {
    this.statuses = statuses;
    this.q = (q || "").trim();
    this.starred = Boolean(starred);
    if (load) return this.refresh({ keep: 0 });
    return Promise.resolve();
  }

  matches(job) {
    if (this.statuses.length && !this.statuses.includes(job.status)) return false;
    if (this.starred && !job.starred) return false; // unstarred while shown: it leaves the view
    return !this.q || job.prompt.toLowerCase().includes(this.q.toLowerCase());
  }

  params(extra) {
    return { status: this.statuses.join(","), q: this.q, starred: this.starred ? "true" : undefined, ...extra };
  }

  // Refetch from the top, as many jobs as are shown now (at least a page).
  refresh({ keep = this.items.length } = {}) {
    const generation = (this.generation = (this.generation || 0) + 1);
    this.loading = (async () => {
      const limit = Math.min(1000, Math.max(PAGE, keep));
      const page = await api.listJobs(this.params({ limit }));
      if (generation !== this.generation) return; // a newer query won
      this.items = page.jobs;
      this.byId = new Map(page.jobs.map((job) => [job.id, job]));
      this.total = page.total;
      this.nextBefore = page.nextBefore;
      this.loaded = true;
      this.emit("reset");
      this.emit("total", this.total);
    })();
    this.loading.catch(() => {}).finally(() => {
      if (generation === this.generation) this.loading = null;
    });
    return this.loading;
  }

  async loadMore() {
    if (!this.nextBefore || this.loading) return;
    const generation = this.generation;
    this.loading = (async () => {
      const page = await api.listJobs(this.params({ limit: PAGE, before: this.nextBefore }));
      if (generation !== this.generation) return;
      this.nextBefore = page.nextBefore;
      this.total = page.total;
      for (const job of page.jobs) {
        if (this.byId.has(job.id)) continue;
        this.items.push(job);
        this.byId.set(job.id, job);
        this.emit("insert", { job, index: this.items.length - 1 });
      }
      this.emit("total", this.total);
    })();
    try {
      await this.loading;
    } finally {
      this.loading = null;
    }
  }

  // Whether a job not shown yet belongs inside the loaded window (and not in
  // a page below it, which will bring it when loaded).
  withinWindow(job) {
    if (!this.nextBefore || !this.items.length) return true;
    return newerFirst(job, this.items[this.items.length - 1]) < 0;
  }

  applyJob(job, kind) {
    if (!this.loaded) return;
    const previous = this.byId.get(job.id);
    if (previous) {
      if (this.matches(job)) {
        this.byId.set(job.id, job);
        this.items[this.items.indexOf(previous)] = job;
        this.emit("update", { job, previous });
      } else {
        this.removeItem(job.id);
      }
      return;
    }
    if (!this.matches(job)) return;
    const inside = this.withinWindow(job);
    // An update to a job below the loaded window may be one already counted.
    if (kind === "created" || inside) {
      this.total += 1;
      this.emit("total", this.total);
    }
    if (!inside) return;
    let index = this.items.findIndex((other) => newerFirst(job, other) < 0);
    if (index < 0) index = this.items.length;
    this.items.splice(index, 0, job);
    this.byId.set(job.id, job);
    this.emit("insert", { job, index });
  }

  applyProgress(progress) {
    const job = this.byId.get(progress.id);
    if (!job) return;
    Object.assign(job, progress);
    this.emit("progress", { progress, job });
  }

  applyQueue(positions) {
    for (const job of this.items) {
      const position = positions[job.id] ?? null;
      if (job.queue_position !== position) {
        const previous = { ...job };
        job.queue_position = position;
        this.emit("update", { job, previous });
      }
    }
  }

  applyDeleted(id) {
    this.removeItem(id);
  }

  removeItem(id) {
    const job = this.byId.get(id);
    if (!job) return;
    this.byId.delete(id);
    this.items.splice(this.items.indexOf(job), 1);
    this.total = Math.max(0, this.total - 1);
    this.emit("remove", { id });
    this.emit("total", this.total);
  }
}
