// A job's log in a <dialog>: a live tail by polling ?after=N. It fetches again
// at once while a page comes back full, so it keeps up with a fast log, and
// follows the bottom unless the reader has scrolled up.

import { api } from "../api.js";
import { FINISHED, plural } from "../format.js";
import { h, shortPrompt } from "../ui.js";

const PAGE_LINES = 5000;
const POLL_MS = 700;
const MAX_LINES = 50000; // older lines leave the page (not the file: download it)

export class LogConsole extends HTMLElement {
  connectedCallback() {
    if (this.dialog) return;
    this.output = h("pre", { class: "log-output", tabindex: "0", "aria-label": "log lines" });
    this.heading = h("h2", { id: "log-title" }, "Log");
    this.state = h("p", { class: "log-state", "aria-live": "polite" });
    this.download = h("a", { class: "btn", download: "" }, "Download log");
    this.jump = h("button", { type: "button", class: "btn", hidden: true, onclick: () => this.toBottom() }, "Follow");
    this.dialog = h("dialog", { class: "log-dialog", "aria-labelledby": "log-title" },
      h("div", { class: "log-head" }, this.heading, this.state),
      this.output,
      h("div", { class: "dialog-actions" }, this.jump, this.download,
        h("button", { type: "button", class: "btn", onclick: () => this.dialog.close() }, "Close")));
    this.dialog.addEventListener("close", () => this.stop());
    this.output.addEventListener("scroll", () => {
      this.jump.hidden = this.atBottom();
    });
    this.append(this.dialog);
  }

  atBottom() {
    const out = this.output;
    return out.scrollTop + out.clientHeight >= out.scrollHeight - 8;
  }

  toBottom() {
    this.output.scrollTop = this.output.scrollHeight;
    this.jump.hidden = true;
  }

  open(job) {
    this.stop();
    this.job = job;
    this.after = 0;
    this.lineCount = 0;
    this.chunks = [];
    this.finishedSeen = false;
    this.output.replaceChildren();
    this.heading.textContent = `Log: ${shortPrompt(job.prompt, 50)}`;
    this.download.href = job.log_url;
    this.state.textContent = "loading…";
    this.running = true;
    this.dialog.showModal();
    this.poll();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
  }

  async poll() {
    if (!this.running) return;
    const job = this.job;
    let again = POLL_MS;
    try {
      const page = await api.logs(job.id, this.after, PAGE_LINES);
      if (!this.running || job !== this.job) return;
      this.append_(page.lines);
      this.after = page.next_after;
      const behind = page.next_after < page.total;
      if (behind) again = 0;
      const current = await api.job(job.id).catch(() => null);
      const finished = current && FINISHED.has(current.status);
      this.state.textContent = `${plural(page.total, "line")}${current ? ` · ${current.status}` : ""}`;
      if (finished && !behind) {
        // One last read after the end, for lines written as it finished.
        if (this.finishedSeen) return this.stop();
        this.finishedSeen = true;
      }
    } catch (error) {
      this.state.textContent = `cannot read the log: ${error.message}`;
      again = 2000;
    }
    this.timer = setTimeout(() => this.poll(), again);
  }

  append_(lines) {
    if (!lines.length) return;
    const follow = this.atBottom();
    const node = document.createTextNode(`${lines.join("\n")}\n`);
    this.output.append(node);
    this.chunks.push([node, lines.length]);
    this.lineCount += lines.length;
    while (this.lineCount > MAX_LINES && this.chunks.length > 1) {
      const [old, count] = this.chunks.shift();
      old.remove();
      this.lineCount -= count;
      this.trimmed = true;
    }
    if (follow) this.toBottom();
    else this.jump.hidden = false;
  }
}

customElements.define("log-console", LogConsole);
