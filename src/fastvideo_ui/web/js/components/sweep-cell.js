// One cell of a sweep's grid: its job's video (the poster first), or its
// status and progress while it waits or runs. The grid calls update() with
// the cell's entry ({id, coords, status, job}) and setNear() as the cell
// comes near the viewport or leaves it: only a near cell holds a <video>, and
// that video is played by the grid's one SyncPlayback, never by itself. The
// words over the media say only what the badge under it does not: how far it
// got, its place in the queue, why it failed.

import { deviceNoun, fieldsFor } from "../catalogue.js";
import { STATUS_LABEL, progressText } from "../format.js";
import { h, requestAction, setText } from "../ui.js";
import { summary } from "./job-fields.js";

export class SweepCell extends HTMLElement {
  // `sync`: the grid's SyncPlayback; `describe(coords)`: the coordinates in words.
  configure({ sync, describe }) {
    this.sync = sync;
    this.describe = describe;
  }

  build() {
    this.media = h("div", { class: "cell-media" });
    this.poster = h("img", { alt: "", loading: "lazy", hidden: true });
    this.state = h("div", { class: "cell-state" });
    this.media.append(this.poster, this.state);
    this.open = h("button", { type: "button", class: "cell-open", onclick: () => this.act("open") }, this.media);
    this.badge = h("span", { class: "badge" });
    this.bar = h("progress", { max: "100", "aria-label": "progress", hidden: true });
    // Its text wraps in a narrow cell; aria-label and title say it whole, with the cell's coordinates.
    this.use = h("button", { type: "button", class: "btn quiet use-settings", onclick: () => this.act("use-settings") },
      "Use these settings");
    this.params = h("div", { class: "cell-params", "aria-hidden": "true" });
    this.append(this.open, h("div", { class: "cell-foot" }, this.badge, this.bar, this.use), this.params);
  }

  act(action) {
    if (this.entry?.job) requestAction(this, action, this.entry.job);
  }

  update(entry) {
    if (!this.media) this.build();
    this.entry = entry;
    const job = entry.job;
    const status = job ? job.status : entry.status;
    this.dataset.id = entry.id;
    this.dataset.status = status;
    const where = this.describe(entry.coords);
    const settings = job ? summary(job, fieldsFor(job.model_id), deviceNoun(job.model_id)) : "";
    // Hover (the title) and focus (.cell-params, shown while the cell has focus) both show the parameters.
    const params = [where, job && job.prompt, settings].filter(Boolean).join("\n");
    this.open.title = params;
    setText(this.params, params);
    this.open.setAttribute("aria-label", job ? `Open the job at ${where}` : `${where}: deleted`);
    this.open.disabled = !job;
    this.use.hidden = !job;
    this.use.setAttribute("aria-label", `Use these settings: ${where}`);
    this.use.title = `New job with these settings: ${where}`;
    const held = job && job.status === "queued" && job.held;
    setText(this.badge, status === "deleted" ? "Deleted" : held ? "Queued · held" : STATUS_LABEL[status] || status);
    if (job) this.media.style.aspectRatio = `${job.width} / ${job.height}`;
    const posterUrl = (job && job.poster_url) || "";
    this.poster.hidden = !posterUrl;
    if (posterUrl && this.poster.getAttribute("src") !== posterUrl) this.poster.src = posterUrl;
    this.updateProgress();
    this.renderVideo(); // a no-op while its video stays the same
  }

  // Progress and the words over the media: what it waits for, how far it got (not the bare status: the badge has it).
  updateProgress() {
    const job = this.entry.job;
    const running = job && job.status === "running";
    this.bar.hidden = !running;
    if (running) {
      const percent = Math.round((job.progress || 0) * 10) / 10;
      if (this.bar.value !== percent) this.bar.value = percent;
      this.bar.setAttribute("aria-valuetext", `${percent}%`);
    }
    let text = "";
    if (!job) text = "Its job was deleted";
    else if (running) text = `${Math.round(job.progress || 0)}% · ${progressText(job)}`;
    else if (job.status === "queued") text = job.queue_position ? `#${job.queue_position} in queue` : "";
    else if (job.status === "failed") text = job.error || "";
    else if (job.status === "completed" && !job.video_url) text = "No video"; // its badge is hidden
    this.state.hidden = !text;
    setText(this.state, text);
  }

  setNear(near) {
    this.near = near;
    this.renderVideo();
  }

  renderVideo() {
    const url = this.entry?.job?.video_url;
    if (this.near && url) {
      if (this.video && this.video.getAttribute("src") === url) return;
      this.dropVideo();
      this.video = h("video", { src: url, preload: "auto", muted: true, playsinline: true, "aria-hidden": "true" });
      if (this.entry.job.poster_url) this.video.poster = this.entry.job.poster_url;
      this.media.insertBefore(this.video, this.state); // over the poster image, under the status words
      this.sync.add(this.video);
    } else {
      this.dropVideo();
    }
  }

  dropVideo() {
    if (!this.video) return;
    this.sync.remove(this.video);
    this.video.pause();
    this.video.removeAttribute("src");
    this.video.load(); // lets the browser free its decoder now, not at garbage collection
    this.video.remove();
    this.video = null;
  }

  disconnectedCallback() {
    this.near = false;
    this.dropVideo();
  }
}

customElements.define("sweep-cell", SweepCell);
