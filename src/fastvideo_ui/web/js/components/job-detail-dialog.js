// One job in full, whatever its status: the video once there is one, every
// parameter (seed included), how far it got, and re-run. The app opens it
// from the URL (#/jobs/<id>), so it can be shared and survives a reload.

import { api } from "../api.js";
import { deviceNoun, fieldsFor, modelLabel, uploadFields } from "../catalogue.js";
import {
  STATUS_LABEL, duration, hasLog, progressText, reachedText, runNumber, timestamp,
} from "../format.js";
import { live } from "../live.js";
import { h, requestAction, setText } from "../ui.js";
import { detailRows, inputFiles } from "./job-fields.js";

function statusText(job) {
  const label = STATUS_LABEL[job.status] || job.status;
  const reached = reachedText(job);
  if (reached) return `${label} ${reached}`;
  if (job.status === "queued" && job.held) return `${label}, held`;
  return job.status === "running" && progressText(job) ? `${label} · ${progressText(job)}` : label;
}

// [label, value (null: no row), monospace]; "fields": the job's per-job fields, as its model's `fields` say.
const ROWS = [
  ["Status", (j) => statusText(j)],
  ["Run", (j) => (runNumber(j) > 1 ? String(runNumber(j)) : null)],
  ["Error", (j) => j.error || null],
  ["Warnings", (j) => ((j.warnings || []).length ? j.warnings.join("\n") : null)],
  ["Model", (j) => modelLabel(j.model_id)],
  ["Model id", (j) => (modelLabel(j.model_id) === j.model_id ? null : j.model_id), true],
  "fields",
  ["Created", (j) => timestamp(j.created_at)],
  ["Ran for", (j) => (j.started_at && j.finished_at ? duration(j.finished_at - j.started_at) : "—")],
  ["Model load", (j) => (j.load_seconds == null
    ? (j.started_at ? "none: the worker already held the model" : "—")
    : j.load_seconds < 60 ? `${j.load_seconds.toFixed(1)}s` : duration(j.load_seconds))],
  ["Job id", (j) => j.id, true],
];

// Only the fields that mean something to the job's model (the preview
// renderer has no offloads); the devices row names the devices it ran on.
function fieldRows(job) {
  return detailRows(job, fieldsFor(job.model_id), deviceNoun(job.model_id)).map(({ label, text, field }) => [
    label, () => (field.ui.widget === "devices" && job.devices.length ? `${text} (${job.devices.join(", ")})` : text)]);
}

export class JobDetailDialog extends HTMLElement {
  connectedCallback() {
    if (this.dialog) return;
    this.media = h("div", { class: "detail-media" });
    this.table = h("dl", { class: "params-table" });
    this.heading = h("h2", { id: "detail-title" }, "Job");
    this.videoLink = h("a", { class: "btn", download: "" }, "Download video");
    this.logLink = h("a", { class: "btn", download: "" }, "Download log");
    this.dialog = h("dialog", { class: "detail", "aria-labelledby": "detail-title" },
      this.heading, this.media, this.table,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn primary", onclick: () => this.rerun() }, "Re-run with changes"),
        this.continueButton = h("button", { type: "button", class: "btn", onclick: () => this.continueFrom() },
          "Continue from last frame"),
        this.sweepLink = h("a", { class: "btn", hidden: true, title: "The grid of the sweep this job is part of" },
          "Sweep"),
        this.videoLink, this.logLink,
        h("button", { type: "button", class: "btn", onclick: () => this.dialog.close() }, "Close")));
    this.dialog.addEventListener("close", () => {
      this.media.replaceChildren();
      this.job = null;
      this.dispatchEvent(new CustomEvent("details-closed"));
    });
    this.append(this.dialog);
    // What it shows stays current while it is open.
    live.addEventListener("job", (event) => {
      if (this.job && event.detail.job.id === this.job.id) this.render(event.detail.job);
    });
    live.addEventListener("progress", (event) => {
      if (!this.job || event.detail.id !== this.job.id || !this.statusCell) return;
      Object.assign(this.job, event.detail);
      setText(this.statusCell, statusText(this.job));
    });
    live.addEventListener("deleted", (event) => {
      if (this.job && event.detail.id === this.job.id) this.dialog.close();
    });
  }

  // Opens on job `id`, read afresh; rejects (ApiError) where it cannot be read.
  async show(id) {
    const asked = (this.asked = id);
    if (this.job && this.job.id === id && this.dialog.open) return;
    const job = await api.job(id);
    if (this.asked !== asked) return; // the page went elsewhere meanwhile
    this.job = null;
    this.render(job);
    if (!this.dialog.open) this.dialog.showModal();
  }

  // The URL left the details (Back): close without asking to go back again.
  dismiss() {
    this.asked = null;
    if (this.dialog.open) this.dialog.close();
  }

  render(job) {
    const previous = this.job;
    this.job = { ...job }; // its own copy: progress events are merged into it
    this.heading.textContent = job.prompt.length > 80 ? `${job.prompt.slice(0, 79)}…` : job.prompt;
    const inputs = (each) => inputFiles(each, uploadFields()).map((input) => input.url).join(" ");
    if (!previous || previous.video_url !== job.video_url || inputs(previous) !== inputs(job)) {
      this.renderMedia(job);
    }
    this.continueButton.hidden = job.status !== "completed";
    const rows = ROWS.flatMap((row) => (row === "fields" ? fieldRows(job) : [row]))
      .map(([label, value, mono]) => [label, value(job), mono])
      .filter(([, value]) => value !== null && value !== undefined);
    const cells = rows.map(([label, value, mono]) => [
      h("dt", {}, label), h("dd", { class: mono ? "mono" : null }, String(value))]);
    this.statusCell = cells[0][1]; // the Status row, which progress events keep current
    this.table.replaceChildren(...cells.flat());
    this.sweepLink.hidden = !job.sweep_id;
    if (job.sweep_id) this.sweepLink.href = `#/sweeps/${encodeURIComponent(job.sweep_id)}`;
    this.videoLink.hidden = !job.video_url;
    if (job.video_url) this.videoLink.href = job.video_url;
    this.logLink.hidden = !hasLog(job);
    this.logLink.href = job.log_url;
  }

  renderMedia(job) {
    this.media.replaceChildren();
    if (job.video_url) {
      const video = h("video", { controls: true, autoplay: true, loop: true, playsinline: true, src: job.video_url });
      if (job.poster_url) video.poster = job.poster_url;
      this.media.append(video);
    }
    for (const input of inputFiles(job, uploadFields())) {
      this.media.append(h("figure", { class: "input-image" },
        h("img", { src: input.url, alt: input.label, loading: "lazy" }),
        h("figcaption", {}, input.label)));
    }
  }

  continueFrom() {
    const job = this.job;
    this.dialog.close();
    requestAction(this, "continue", job);
  }

  rerun() {
    const job = this.job;
    this.dialog.close();
    requestAction(this, "duplicate", job);
  }
}

customElements.define("job-detail-dialog", JobDetailDialog);
