// An in-page confirmation (a <dialog>, not window.confirm, which blocks the page).

import { h } from "../ui.js";

export class ConfirmDialog extends HTMLElement {
  connectedCallback() {
    if (this.dialog) return;
    this.message = h("p", { id: "confirm-message" });
    this.okButton = h("button", { type: "submit", class: "btn danger", value: "ok" }, "OK");
    this.dialog = h("dialog", { class: "confirm", "aria-describedby": "confirm-message", role: "alertdialog" },
      h("form", { method: "dialog" }, this.message,
        h("div", { class: "dialog-actions" },
          h("button", { type: "submit", class: "btn", value: "cancel", autofocus: true }, "Cancel"),
          this.okButton)));
    this.append(this.dialog);
  }

  ask(message, okLabel = "OK") {
    this.message.textContent = message;
    this.okButton.textContent = okLabel;
    this.dialog.returnValue = "";
    this.dialog.showModal();
    return new Promise((resolve) => {
      this.dialog.addEventListener("close", () => resolve(this.dialog.returnValue === "ok"), { once: true });
    });
  }
}

customElements.define("confirm-dialog", ConfirmDialog);
