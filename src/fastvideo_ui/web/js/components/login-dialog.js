// Asks for the server's API token once. The server answers with an HttpOnly
// session cookie, which then authenticates fetches, <video> and the event
// stream; the page itself never stores the token.

import { api } from "../api.js";
import { h } from "../ui.js";

export class LoginDialog extends HTMLElement {
  connectedCallback() {
    if (this.dialog) return;
    this.input = h("input", {
      id: "login-token", name: "token", type: "password", required: true,
      autocomplete: "current-password", spellcheck: "false", "aria-describedby": "login-error",
    });
    this.error = h("p", { id: "login-error", class: "field-error", role: "alert" });
    this.submit = h("button", { type: "submit", class: "btn primary" }, "Sign in");
    this.form = h("form", { class: "login" },
      h("h2", {}, "Sign in"),
      h("p", {}, "This server asks for its API token (the one it was started with)."),
      h("label", { for: "login-token" }, "API token"),
      this.input,
      this.error,
      h("div", { class: "dialog-actions" }, this.submit));
    this.dialog = h("dialog", { class: "login-dialog", "aria-labelledby": "login-title" }, this.form);
    this.form.querySelector("h2").id = "login-title";
    this.append(this.dialog);
    // Nothing works without signing in, so Esc does not dismiss it.
    this.dialog.addEventListener("cancel", (event) => event.preventDefault());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.trySignIn();
    });
  }

  // Resolves once the server has accepted the token.
  ask() {
    if (!this.pending) {
      this.pending = new Promise((resolve) => {
        this.resolve = resolve;
      });
      this.error.textContent = "";
      this.dialog.showModal();
      this.input.focus();
    }
    return this.pending;
  }

  async trySignIn() {
    this.submit.disabled = true;
    this.error.textContent = "";
    try {
      await api.logIn(this.input.value.trim());
      this.input.value = "";
      this.dialog.close();
      this.pending = null;
      this.resolve();
    } catch (error) {
      this.error.textContent = error.status === 401 ? "That is not this server's token." : error.message;
      this.input.select();
    } finally {
      this.submit.disabled = false;
    }
  }
}

customElements.define("login-dialog", LoginDialog);
