// Says when the queue is paused (running jobs finish, nothing new starts), and
// keeps the header's Pause/Resume button in step. The state comes with every
// "queue" event, and from GET /api/queue whenever the live stream (re)connects.

import { api } from "../api.js";
import { live } from "../live.js";
import { announce, h } from "../ui.js";

export class QueueBanner extends HTMLElement {
  connectedCallback() {
    if (this.text) return;
    this.setAttribute("role", "status");
    this.text = h("span", {}, "The queue is paused: running jobs finish, and nothing new starts. ");
    this.resume = h("button", { type: "button", class: "btn primary" }, "Resume the queue");
    this.resume.addEventListener("click", () => this.setPaused(false));
    this.append(this.text, this.resume);
    this.hidden = true;
    live.addEventListener("queue", (event) => {
      if (typeof event.detail.paused === "boolean") this.show(event.detail.paused);
    });
    live.addEventListener("state", (event) => {
      if (event.detail === "live" || event.detail === "polling") this.refresh();
    });
  }

  get toggle() {
    return document.querySelector("[data-action='toggle-queue']");
  }

  async refresh() {
    // A pause or resume made while this read was on its way is newer than its
    // answer: a slow read must not undo it (seen on a loaded machine).
    const asked = (this.changes = (this.changes || 0) + 1);
    try {
      const state = await api.queue();
      if (asked === this.changes) this.show(state.paused);
    } catch {
      // the connection banner says why
    }
  }

  show(paused) {
    this.paused = paused;
    this.hidden = !paused;
    if (this.toggle) {
      this.toggle.textContent = paused ? "Resume queue" : "Pause queue";
      this.toggle.setAttribute("aria-pressed", String(paused));
    }
  }

  async setPaused(paused) {
    this.changes = (this.changes || 0) + 1;
    const state = paused ? await api.pauseQueue() : await api.resumeQueue();
    this.show(state.paused);
    announce(state.paused ? "Queue paused" : "Queue resumed");
  }
}

customElements.define("queue-banner", QueueBanner);
