// One job in full: the video, every parameter (seed included), and re-run.

import { modelById, modelLabel } from "../catalogue.js";
import { duration, timestamp } from "../format.js";
import { h, requestAction } from "../ui.js";

const ROWS = [
  ["Model", (j) => `${modelLabel(j.model_id)} (${j.model_id})`],
  ["Prompt", (j) => j.prompt],
  ["Negative prompt", (j) => j.negative_prompt || "—"],
  ["Seed", (j) => j.seed],
  ["Size", (j) => `${j.width}×${j.height}`],
  ["Frames", (j) => `${j.num_frames} at ${j.fps} fps`],
  ["Steps", (j) => j.num_inference_steps],
  ["Guidance scale", (j) => j.guidance_scale],
  ["GPUs", (j) => `${j.num_gpus}${j.devices.length ? ` (${j.devices.join(", ")})` : ""}`],
  "options",
  ["Created", (j) => timestamp(j.created_at)],
  ["Ran for", (j) => (j.started_at && j.finished_at ? duration(j.finished_at - j.started_at) : "—")],
  ["Model load", (j) => (j.load_seconds == null
    ? (j.started_at ? "none: the worker already held the model" : "—")
    : j.load_seconds < 60 ? `${j.load_seconds.toFixed(1)}s` : duration(j.load_seconds))],
  ["Job id", (j) => j.id],
];

const OPTION_LABELS = { use_fsdp_inference: "FSDP inference" };

// The settings that mean something to the job's backend, as /api/models lists
// them for its model (the preview renderer's: none): the offloads on one row.
function optionRows(job) {
  const options = modelById(job.model_id)?.options || [];
  const offload = options.filter((name) => name.endsWith("_offload"));
  const rows = offload.length ? [["Offload", () => offload.filter((name) => job[name])
    .map((name) => name.replace("_cpu_offload", "").replace("_offload", "")).join(", ") || "none"]] : [];
  for (const name of options.filter((option) => !offload.includes(option))) {
    rows.push([OPTION_LABELS[name] || name, () => (job[name] ? "yes" : "no")]);
  }
  return rows;
}

export class JobDetailDialog extends HTMLElement {
  connectedCallback() {
    if (this.dialog) return;
    this.media = h("div", { class: "detail-media" });
    this.table = h("dl", { class: "params-table" });
    this.heading = h("h2", { id: "detail-title" }, "Video");
    this.videoLink = h("a", { class: "btn", download: "" }, "Download video");
    this.logLink = h("a", { class: "btn", download: "" }, "Download log");
    this.dialog = h("dialog", { class: "detail", "aria-labelledby": "detail-title" },
      this.heading, this.media, this.table,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn primary", onclick: () => this.rerun() }, "Re-run with changes"),
        this.continueButton = h("button", { type: "button", class: "btn", onclick: () => this.continueFrom() },
          "Continue from last frame"),
        this.videoLink, this.logLink,
        h("button", { type: "button", class: "btn", onclick: () => this.dialog.close() }, "Close")));
    this.dialog.addEventListener("close", () => this.media.replaceChildren());
    this.append(this.dialog);
  }

  open(job) {
    this.job = job;
    this.heading.textContent = job.prompt.length > 80 ? `${job.prompt.slice(0, 79)}…` : job.prompt;
    const video = h("video", { controls: true, autoplay: true, loop: true, playsinline: true, src: job.video_url });
    if (job.poster_url) video.poster = job.poster_url;
    this.media.replaceChildren(video);
    if (job.image_url) {
      this.media.append(h("figure", { class: "input-image" },
        h("img", { src: job.image_url, alt: "the input image", loading: "lazy" }),
        h("figcaption", {}, "Input image")));
    }
    this.continueButton.hidden = job.status !== "completed";
    const rows = ROWS.flatMap((row) => (row === "options" ? optionRows(job) : [row]));
    this.table.replaceChildren(...rows.flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, String(value(job)))]));
    this.videoLink.href = job.video_url;
    this.logLink.href = job.log_url;
    this.dialog.showModal();
  }

  continueFrom() {
    this.dialog.close();
    requestAction(this, "continue", this.job);
  }

  rerun() {
    this.dialog.close();
    requestAction(this, "duplicate", this.job);
  }
}

customElements.define("job-detail-dialog", JobDetailDialog);
