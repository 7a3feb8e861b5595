// Says when the server cannot be reached, or when live updates fall back to polling.

import { live } from "../live.js";
import { h } from "../ui.js";

const MESSAGES = {
  down: "Cannot reach the server. Retrying… Jobs keep running on the server meanwhile.",
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
