// Compare (#/compare?ids=a,b[,c,d][&mode=wipe]): 2 to 4 jobs' videos side by
// side, or for two a wipe (the second clipped over the first, split by a
// divider the pointer drags and the keyboard moves). One SyncPlayback drives
// every video, so they show the same moment. Each pane names what differs
// between the jobs (job-diff.js). The app routes here and handles "compare-closed".

import { api } from "../api.js";
import { fieldsFor, loadModels, modelLabel } from "../catalogue.js";
import { STATUS_LABEL, plural } from "../format.js";
import { differences } from "../job-diff.js";
import { live } from "../live.js";
import { COMPARE_MAX, COMPARE_MIN } from "../selection.js";
import { SyncPlayback } from "../sync-playback.js";
import { h, setText, shortPrompt } from "../ui.js";

const LETTERS = "ABCD";
const WIPE_STEP = 1; // percent an arrow key moves the divider; Shift or Page keys: 10

export class CompareView extends HTMLElement {
  connectedCallback() {
    if (this.stage) return;
    this.heading = h("h2", { id: "compare-title", tabindex: "-1" }, "Compare");
    const mode = (name, label) => h("button", { type: "button", class: "btn", "aria-pressed": "false",
      dataset: { mode: name }, onclick: () => this.setMode(name, { remember: true }) }, label);
    this.modeButtons = { side: mode("side", "Side by side"), wipe: mode("wipe", "Wipe") };
    this.modes = h("div", { class: "compare-modes", role: "group", "aria-label": "Layout" },
      this.modeButtons.side, this.modeButtons.wipe);
    this.controls = h("sync-controls");
    this.common = h("p", { class: "compare-common" });
    this.message = h("p", { class: "compare-message", role: "status" });
    this.stage = h("div", { class: "compare-stage" });
    this.append(
      h("div", { class: "compare-head" }, this.heading, this.modes, h("span", { class: "spacer" }),
        h("button", { type: "button", class: "btn", dataset: { action: "close-compare" },
          onclick: () => this.dispatchEvent(new CustomEvent("compare-closed", { bubbles: true })) }, "Close")),
      this.message, this.common, this.controls, this.stage);
    live.addEventListener("job", (event) => this.jobChanged(event.detail.job));
  }

  // The app calls it for each #/compare URL; the same jobs again (back from a
  // job's details) keep what plays.
  async show(ids, mode = "side") {
    const key = ids.join(",");
    if (key === this.key) {
      this.setMode(mode);
      return;
    }
    this.key = key;
    this.stop();
    this.stage.replaceChildren();
    setText(this.common, "");
    this.controls.hidden = true;
    this.modes.hidden = true;
    if (ids.length < COMPARE_MIN || ids.length > COMPARE_MAX) {
      setText(this.heading, "Compare");
      this.say(`Compare takes ${COMPARE_MIN} to ${COMPARE_MAX} jobs; this link names ${plural(ids.length, "job")}.`);
      return;
    }
    setText(this.heading, `Compare ${plural(ids.length, "job")}`);
    this.say("Loading…");
    await loadModels().catch(() => {}); // without the catalogue, fields of models no longer served are still named
    const found = await Promise.all(ids.map((id) => api.job(id).catch((error) => ({ id, missing: error }))));
    if (key !== this.key) return; // another comparison was asked for meanwhile
    const missing = found.filter((job) => job.missing);
    if (missing.length) {
      this.say(missing.map((job) => (job.missing.status === 404 ? `No job ${job.id}: it was deleted, or never existed`
        : `${job.id}: ${job.missing.message}`)).join(". "));
      return;
    }
    this.say("");
    this.jobs = found;
    this.render(mode);
  }

  say(text) {
    setText(this.message, text);
    this.message.hidden = !text;
  }

  render(mode) {
    const jobs = this.jobs;
    const diffs = differences(jobs, fieldsFor, modelLabel);
    const samePrompt = jobs.every((job) => job.prompt === jobs[0].prompt);
    setText(this.common, samePrompt ? `Prompt (all): ${jobs[0].prompt}` : "");
    this.common.hidden = !samePrompt;
    this.sync = new SyncPlayback();
    this.panes = jobs.map((job, index) => this.pane(job, index, diffs[index]));
    for (const pane of this.panes) if (pane.video) this.sync.add(pane.video);
    this.controls.playback = this.sync;
    this.controls.hidden = !this.panes.some((pane) => pane.video);
    this.modes.hidden = false;
    this.modeButtons.wipe.hidden = jobs.length !== 2;
    this.mode = null;
    this.setMode(mode);
  }

  // One job: its letter, model, id, what differs, and its video (or why it has none).
  pane(job, index, diff) {
    const letter = LETTERS[index];
    const video = job.video_url ? h("video", { src: job.video_url, preload: "auto", playsinline: true, muted: true,
      poster: job.poster_url || null, "aria-label": `${letter}: ${shortPrompt(job.prompt, 80)}` }) : null;
    if (video) {
      video.width = job.width;
      video.height = job.height;
    }
    const media = h("div", { class: "pane-media" }, video
      || h("p", { class: "pane-missing" }, `${STATUS_LABEL[job.status] || job.status}: no video to compare`));
    const list = diff.length
      ? h("ul", { class: "differs" }, diff.map((row) => h("li", { dataset: { field: row.field } },
        h("span", { class: "differs-label" }, `${row.label}: `), row.text)))
      : h("p", { class: "differs none" }, "Same settings as the others");
    const caption = h("figcaption", {},
      h("div", { class: "pane-head" }, h("span", { class: "pane-letter", "aria-hidden": "true" }, letter),
        h("span", { class: "model" }, modelLabel(job.model_id)),
        h("a", { class: "job-id", href: `#/jobs/${encodeURIComponent(job.id)}`, title: `Job id ${job.id}: details`,
          "aria-label": `Details of job ${letter}, ${job.id}` }, job.id.slice(0, 8))),
      list);
    const node = h("figure", { class: "compare-pane", dataset: { id: job.id },
      "aria-label": `Job ${letter}` }, media, caption);
    return { job, node, media, video, caption };
  }

  // "side": a pane per job, each with its video. "wipe" (two jobs): both
  // videos in one box over the two captions; moving the videos keeps them playing.
  setMode(wanted, { remember = false } = {}) {
    if (!this.panes) return;
    const mode = wanted === "wipe" && this.panes.length === 2 && this.panes.every((pane) => pane.video) ? "wipe" : "side";
    for (const [name, button] of Object.entries(this.modeButtons)) button.setAttribute("aria-pressed", String(name === mode));
    if (mode === this.mode) return;
    this.mode = mode;
    this.dataset.mode = mode;
    if (mode === "wipe") {
      this.stage.replaceChildren(this.wipeBox(), h("div", { class: "compare-panes" }, this.panes.map((p) => p.node)));
      for (const pane of this.panes) pane.media.hidden = true;
    } else {
      for (const pane of this.panes) {
        if (pane.video) pane.media.append(pane.video);
        pane.media.hidden = false;
      }
      this.stage.replaceChildren(h("div", { class: "compare-panes", dataset: { count: this.panes.length } },
        this.panes.map((p) => p.node)));
    }
    if (remember) {
      const params = new URLSearchParams({ ids: this.key });
      if (mode === "wipe") params.set("mode", "wipe");
      history.replaceState(null, "", `#/compare?${params.toString().replaceAll("%2C", ",")}`);
    }
  }

  wipeBox() {
    const [first, second] = this.panes;
    first.video.classList.remove("wipe-second");
    second.video.classList.add("wipe-second");
    this.divider = h("div", { class: "wipe-divider", role: "slider", tabindex: "0", "aria-valuemin": "0",
      "aria-valuemax": "100", "aria-label": "Wipe: A on the left, B on the right" });
    const box = h("div", { class: "wipe" }, first.video, second.video, this.divider);
    box.style.setProperty("--ratio", String(first.job.width / first.job.height));
    this.wipe = box;
    this.setWipe(this.wipeAt ?? 50);
    this.divider.addEventListener("keydown", (event) => {
      const big = event.shiftKey ? 10 : WIPE_STEP;
      const moves = { ArrowLeft: -big, ArrowDown: -big, ArrowRight: big, ArrowUp: big, PageDown: -10, PageUp: 10 };
      let to = null;
      if (event.key in moves) to = this.wipeAt + moves[event.key];
      else if (event.key === "Home") to = 0;
      else if (event.key === "End") to = 100;
      if (to === null) return;
      event.preventDefault();
      this.setWipe(to);
    });
    // A press anywhere on the box moves the divider there; dragging carries it.
    const follow = (event) => {
      const rect = box.getBoundingClientRect();
      this.setWipe(((event.clientX - rect.left) / rect.width) * 100);
    };
    box.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      event.preventDefault();
      box.setPointerCapture(event.pointerId);
      follow(event);
      this.divider.focus();
      box.addEventListener("pointermove", follow);
    });
    const release = () => box.removeEventListener("pointermove", follow);
    box.addEventListener("pointerup", release);
    box.addEventListener("pointercancel", release);
    return box;
  }

  // Where the divider stands, in percent from the left: A shows left of it, B right of it.
  setWipe(percent) {
    const at = Math.round(Math.max(0, Math.min(100, percent)) * 10) / 10;
    this.wipeAt = at;
    this.wipe.style.setProperty("--wipe", `${at}%`);
    this.divider.setAttribute("aria-valuenow", String(at));
    this.divider.setAttribute("aria-valuetext", `A ${Math.round(at)}%, B ${Math.round(100 - at)}%`);
  }

  // A compared job that changes (it completes, or is deleted and run again): shown anew.
  jobChanged(job) {
    const pane = this.isConnected && this.panes?.find((each) => each.job.id === job.id);
    if (!pane || (pane.job.video_url === job.video_url && pane.job.status === job.status)) return;
    this.jobs = this.jobs.map((each) => (each.id === job.id ? job : each));
    this.stop();
    this.stage.replaceChildren();
    this.render(this.mode);
  }

  // Leaving: nothing keeps playing or fetching behind another view.
  stop() {
    if (!this.sync) return;
    this.sync.pause();
    for (const pane of this.panes || []) {
      if (!pane.video) continue;
      this.sync.remove(pane.video);
      pane.video.removeAttribute("src");
      pane.video.load();
    }
    this.sync = null;
    this.panes = null;
    this.mode = null;
  }

  leave() {
    this.stop();
    this.key = null;
    this.stage.replaceChildren();
  }
}

customElements.define("compare-view", CompareView);
