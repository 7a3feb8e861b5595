// The jobs picked for Compare: one selection for the page, so the jobs list
// and the gallery share it and the bar at the bottom speaks for both. It
// keeps each job's latest JSON from live events (a running job picked now can
// be compared once it completes) and drops a job that is deleted.
// Emits "change" whenever what is picked, or a picked job's status, changes.

import { live } from "./live.js";
import { plural } from "./format.js";

export const COMPARE_MIN = 2;
export const COMPARE_MAX = 4;

class Selection extends EventTarget {
  constructor() {
    super();
    this.jobs = new Map(); // id -> job, in the order picked
    live.addEventListener("job", (event) => {
      const job = event.detail.job;
      if (!this.jobs.has(job.id)) return;
      const before = this.jobs.get(job.id).status;
      this.jobs.set(job.id, job);
      if (before !== job.status) this.changed();
    });
    live.addEventListener("deleted", (event) => this.set({ id: event.detail.id }, false));
  }

  changed() {
    this.dispatchEvent(new CustomEvent("change"));
  }

  has(id) {
    return this.jobs.has(id);
  }

  get size() {
    return this.jobs.size;
  }

  set(job, picked) {
    if (picked === this.jobs.has(job.id)) return;
    if (picked) this.jobs.set(job.id, job);
    else this.jobs.delete(job.id);
    this.changed();
  }

  clear() {
    if (!this.jobs.size) return;
    this.jobs.clear();
    this.changed();
  }

  // Whether Compare can open, and if not why, in words the bar shows.
  verdict() {
    const count = this.jobs.size;
    if (count < COMPARE_MIN) {
      return { ok: false, why: count ? "Pick one more job to compare" : `Pick ${COMPARE_MIN} to ${COMPARE_MAX} jobs` };
    }
    if (count > COMPARE_MAX) {
      return { ok: false, why: `Compare takes at most ${COMPARE_MAX} jobs: unpick ${plural(count - COMPARE_MAX, "job")}` };
    }
    const unfinished = [...this.jobs.values()].filter((job) => job.status !== "completed");
    if (unfinished.length) {
      return { ok: false, why: `Only completed jobs have a video: ${plural(unfinished.length, "picked job")} `
        + `${unfinished.length === 1 ? "is" : "are"} ${unfinished.map((job) => job.status).join(", ")}` };
    }
    return { ok: true, why: "" };
  }

  hash() {
    return `#/compare?ids=${[...this.jobs.keys()].map(encodeURIComponent).join(",")}`;
  }
}

export const selection = new Selection();
