// The bar at the foot of the page while jobs are picked for Compare (in the
// jobs list or the gallery: one selection, selection.js). Its button opens
// #/compare for 2 to 4 completed jobs; otherwise it stays reachable, marked
// aria-disabled, and the line beside it says why.

import { selection } from "../selection.js";
import { plural } from "../format.js";
import { announce, h, setText } from "../ui.js";

export class CompareBar extends HTMLElement {
  connectedCallback() {
    if (this.button) return;
    this.setAttribute("role", "region");
    this.setAttribute("aria-label", "Jobs picked for Compare");
    this.count = h("span", { class: "compare-count" });
    this.why = h("span", { class: "compare-why", id: "compare-why", "aria-live": "polite" });
    this.button = h("button", { type: "button", class: "btn primary", dataset: { action: "compare" },
      "aria-describedby": "compare-why", onclick: () => this.open() });
    this.append(this.count, this.button, this.why,
      h("button", { type: "button", class: "btn quiet", onclick: () => selection.clear() }, "Clear"));
    selection.addEventListener("change", () => this.render());
    window.addEventListener("hashchange", () => this.render());
    this.render();
  }

  render() {
    // The compare view is what it opens: the bar stays out of its way.
    this.hidden = selection.size === 0 || location.hash.startsWith("#/compare");
    const verdict = selection.verdict();
    setText(this.count, `${plural(selection.size, "job")} picked`);
    setText(this.button, `Compare (${selection.size})`);
    this.button.setAttribute("aria-disabled", String(!verdict.ok));
    setText(this.why, verdict.why);
  }

  open() {
    const verdict = selection.verdict();
    if (!verdict.ok) {
      announce(verdict.why);
      return;
    }
    location.hash = selection.hash();
  }
}

customElements.define("compare-bar", CompareBar);
