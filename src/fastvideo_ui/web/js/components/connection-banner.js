// Says when the server cannot be reached, or when live updates fall back to polling.

import { live } from "../live.js";
import { h } from "../ui.js";

// The page cannot tell a network blip (the server's jobs run on) from a
// stopped server (a graceful shutdown queues its running jobs again), so the
// message says what holds in both.
const MESSAGES = {
  down: "Cannot reach the server; retrying… Jobs it was running go on, or, if it was stopped, "
    + "wait in the queue to run again.",
  polling: "Live updates are unavailable here; the list refreshes every few seconds.",
};

export class ConnectionBanner extends HTMLElement {
  connectedCallback() {
    if (this.text) return;
    this.setAttribute("role", "status");
    this.text = h("span");
    this.append(this.text);
    this.hidden = true;
    live.addEventListener("state", (event) => this.show(event.detail));
  }

  show(state) {
    const message = MESSAGES[state];
    this.hidden = !message;
    this.dataset.state = state;
    this.text.textContent = message || "";
  }
}

customElements.define("connection-banner", ConnectionBanner);
