// One job: status, prompt, parameters, timings, progress, error, media, actions.
// The list calls update() for a changed job and updateProgress() for a
// progress event, so a running job never re-renders the rest of the card.

import { deviceNoun, fieldsFor, modelLabel, uploadFields } from "../catalogue.js";
import {
  STATUS_LABEL, agoChangesAt, hasLog, progressText, reachedText, runNumber, timings, timestamp,
} from "../format.js";
import { live } from "../live.js";
import { announce, copyText, h, requestAction, setText } from "../ui.js";
import { inputFiles, summary } from "./job-fields.js";
import { pickBox, showPick, showStar, starButton } from "./job-marks.js";

// The buttons that work without the server: the rest are disabled while it cannot be reached.
const LOCAL_ACTIONS = new Set(["duplicate"]);

export class JobCard extends HTMLElement {
  constructor() {
    super();
    this.job = null;
    this.mediaAttached = false;
  }

  build() {
    const headingId = `job-${this.job.id}-prompt`;
    this.setAttribute("role", "article");
    this.setAttribute("aria-labelledby", headingId);
    this.badge = h("span", { class: "badge" });
    this.run = h("span", { class: "run" });
    this.reached = h("span", { class: "reached" });
    // The id the CLI and the logs name (`fastvideo-ui logs 71a8364d`): short here, whole in the title and copy.
    this.idButton = h("button", { type: "button", class: "job-id", onclick: () => this.copyId() });
    this.model = h("span", { class: "model" });
    this.queuePosition = h("span", { class: "queue-position" });
    this.timing = h("span", { class: "timings" });
    this.prompt = h("p", { class: "prompt", id: headingId });
    this.inputImage = h("img", { class: "input-thumb", alt: "input image", loading: "lazy", hidden: true });
    this.params = h("p", { class: "params" });
    this.bar = h("progress", { max: "100", "aria-label": "progress" });
    this.progressLabel = h("span", { class: "progress-text" });
    this.progressRow = h("div", { class: "progress-row" }, this.bar, this.progressLabel);
    this.error = h("p", { class: "error" });
    this.warnings = h("p", { class: "warnings" });
    this.media = h("div", { class: "media" });
    const button = (action, label, extra = {}) =>
      h("button", { type: "button", class: `btn ${extra.class || ""}`, dataset: { action }, ...extra.attrs }, label);
    this.buttons = {
      start: button("start", "Start", { class: "primary" }),
      stop: button("stop", "Stop", { class: "danger" }),
      duplicate: button("duplicate", "Duplicate"),
      logs: button("logs", "Log"),
      delete: button("delete", "Delete", { class: "danger" }),
      top: button("move-top", "Top", { attrs: { title: "Move to the top of the queue" } }),
      bottom: button("move-bottom", "Bottom", { attrs: { title: "Move to the bottom of the queue" } }),
      hold: button("hold", "Hold", { attrs: { title: "Keep its place in the queue without starting" } }),
      release: button("release", "Release"),
      star: starButton(() => this.job),
    };
    this.pick = pickBox(() => this.job);
    this.videoLink = h("a", { class: "btn", dataset: { action: "download-video" }, download: "" }, "Download video");
    this.logLink = h("a", { class: "btn", dataset: { action: "download-log" }, download: "" }, "Download log");
    this.detailsLink = h("a", { class: "btn", dataset: { action: "details" } }, "Details");
    const b = this.buttons;
    this.actions = h("div", { class: "actions" },
      b.start, b.stop, b.top, b.bottom, b.hold, b.release, this.detailsLink, b.duplicate, b.logs, this.videoLink,
      this.logLink, b.delete);
    this.priority = h("span", { class: "priority" });
    // A queued card can be dragged onto another queued card: it moves just before it.
    this.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData("application/x-fastvideo-job", this.job.id);
      event.dataTransfer.effectAllowed = "move";
    });
    this.addEventListener("dragover", (event) => {
      if (this.job.status === "queued" && event.dataTransfer.types.includes("application/x-fastvideo-job")) {
        event.preventDefault();
        this.classList.add("drop-target");
      }
    });
    this.addEventListener("dragleave", () => this.classList.remove("drop-target"));
    this.addEventListener("drop", (event) => {
      this.classList.remove("drop-target");
      const moved = event.dataTransfer.getData("application/x-fastvideo-job");
      if (!moved || moved === this.job.id) return;
      event.preventDefault();
      requestAction(this, "move-before", { id: moved, before: this.job.id });
    });
    this.actions.addEventListener("click", (event) => {
      const target = event.target.closest("button[data-action]");
      if (target) requestAction(this, target.dataset.action, this.job);
    });
    this.append(
      h("div", { class: "card-head" }, this.badge, this.reached, this.run, this.queuePosition, this.priority,
        this.model, this.idButton, this.timing, h("span", { class: "marks" }, this.pick.node, b.star)),
      h("div", { class: "prompt-row" }, this.inputImage, this.prompt), this.params, this.progressRow, this.error,
      this.warnings, this.media, this.actions,
    );
  }

  update(job) {
    const first = !this.job;
    const previous = this.job;
    this.job = job;
    if (first) this.build();
    this.dataset.status = job.status;
    this.dataset.id = job.id;
    const held = job.status === "queued" && job.held;
    setText(this.badge, held ? "Queued · held" : STATUS_LABEL[job.status] || job.status);
    this.dataset.held = held ? "true" : "false";
    this.priority.hidden = !job.priority;
    setText(this.priority, job.priority ? `priority ${job.priority}` : "");
    setText(this.model, modelLabel(job.model_id));
    const run = runNumber(job);
    this.run.hidden = run < 2;
    setText(this.run, run < 2 ? "" : `run ${run}`);
    const reached = reachedText(job);
    this.reached.hidden = !reached;
    setText(this.reached, reached);
    setText(this.idButton, job.id.slice(0, 8));
    this.idButton.title = `Job id ${job.id} (click to copy)`;
    this.idButton.setAttribute("aria-label", `Job id ${job.id}, copy`);
    this.detailsLink.href = `#/jobs/${encodeURIComponent(job.id)}`;
    setText(this.prompt, job.prompt);
    const [input] = inputFiles(job, uploadFields());
    this.inputImage.hidden = !input;
    if (input && this.inputImage.getAttribute("src") !== input.url) {
      Object.assign(this.inputImage, { src: input.url, alt: input.label });
    }
    setText(this.params, summary(job, fieldsFor(job.model_id), deviceNoun(job.model_id)));
    this.queuePosition.hidden = job.status !== "queued" || job.queue_position === null;
    setText(this.queuePosition, job.queue_position === null ? "" : `#${job.queue_position} in queue`);
    this.error.hidden = !job.error || job.status === "completed";
    setText(this.error, job.error || "");
    const warnings = job.warnings || [];
    this.warnings.hidden = warnings.length === 0;
    setText(this.warnings, warnings.map((line) => `⚠ ${line}`).join("\n"));
    const actions = new Set(job.actions || []);
    this.buttons.start.hidden = !actions.has("start");
    setText(this.buttons.start, job.status === "pending" ? "Start" : "Run again");
    this.buttons.stop.hidden = !actions.has("stop");
    const queued = job.status === "queued";
    this.draggable = queued;
    this.buttons.top.hidden = !queued;
    this.buttons.bottom.hidden = !queued;
    this.buttons.hold.hidden = !queued || job.held;
    this.buttons.release.hidden = !queued || !job.held;
    this.videoLink.hidden = !job.video_url;
    if (job.video_url) this.videoLink.href = job.video_url;
    this.logLink.href = job.log_url;
    this.logLink.hidden = !hasLog(job);
    this.buttons.logs.hidden = !hasLog(job);
    showStar(this.buttons.star, job);
    this.showPick();
    this.setReachable(live.state !== "down");
    this.timing.title = [
      `created ${timestamp(job.created_at)}`,
      job.started_at && `started ${timestamp(job.started_at)}`,
      job.finished_at && `finished ${timestamp(job.finished_at)}`,
    ].filter(Boolean).join("\n");
    this.timingDue = 0;
    this.tick();
    this.updateProgress(job);
    if (!previous || previous.video_url !== job.video_url) this.renderMedia();
  }

  // While the server cannot be reached a click would only fail, so the
  // buttons that ask it to act are disabled; the list enables them on reconnect.
  setReachable(reachable) {
    for (const [name, button] of Object.entries(this.buttons)) {
      if (!LOCAL_ACTIONS.has(name)) button.disabled = !reachable;
    }
    const why = reachable ? "" : "The server cannot be reached: these wait until it is back";
    if (this.actions.title !== why) this.actions.title = why;
  }

  // Whether it is picked for Compare (the list calls it when the selection changes).
  showPick() {
    showPick(this.pick.box, this.job.id);
  }

  async copyId() {
    const id = this.job.id;
    if (await copyText(id)) announce(`Job id ${id} copied`);
  }

  updateProgress(job) {
    const running = job.status === "running";
    this.progressRow.hidden = !running;
    if (!running) return;
    const percent = Math.round((job.progress || 0) * 10) / 10; // the API gives 0-100
    if (this.bar.value !== percent) this.bar.value = percent;
    this.bar.setAttribute("aria-valuetext", `${percent}%`);
    setText(this.progressLabel, `${percent}% · ${progressText(job)}`);
  }

  // The timing line, only when it reads differently: every second while the
  // job runs ("running 12s"), else when "created 5m ago" turns to "6m ago".
  // The list's one timer calls it every second; it touches nothing else.
  tick(now = Date.now() / 1000) {
    if (!this.job || (this.job.status !== "running" && now < this.timingDue)) return;
    setText(this.timing, timings(this.job, now));
    this.timingDue = agoChangesAt(this.job.created_at, now);
  }

  // Media windowing: the list attaches a <video> only while the card is near
  // the viewport, so 1,000 completed jobs are never 1,000 video elements.
  setNearViewport(near) {
    this.near = near;
    this.renderMedia();
  }

  renderMedia() {
    const job = this.job;
    const video = this.media.querySelector("video");
    if (!job.video_url) {
      this.media.replaceChildren();
      this.media.hidden = true;
      return;
    }
    this.media.hidden = false;
    if (video && !video.paused) return; // never cut off what is playing
    if (this.near) {
      if (video && video.getAttribute("src") === job.video_url) return;
      const player = h("video", {
        controls: true, preload: "none", playsinline: true, src: job.video_url,
        "aria-label": `video: ${job.prompt.slice(0, 80)}`,
      });
      if (job.poster_url) player.poster = job.poster_url;
      player.width = job.width;
      player.height = job.height;
      this.media.replaceChildren(player);
    } else {
      const placeholder = h("div", { class: "media-placeholder" });
      placeholder.style.aspectRatio = `${job.width} / ${job.height}`;
      this.media.replaceChildren(placeholder);
    }
  }
}

customElements.define("job-card", JobCard);
