// New sweep: a prompt, a model, and one to three axes, each a field of the
// model (from /api/models' `fields`) and its values, typed as text. POST
// /api/sweeps makes and queues one job per combination; the rest of the job's
// settings are the model's defaults (New job, then a sweep from the CLI or
// the API, sets any other). The server validates; its 422 is shown as it says.

import { api } from "../api.js";
import { loadModels, modelById } from "../catalogue.js";
import { oneLine } from "../format.js";
import { announce, h } from "../ui.js";

const MAX_AXES = 3;
const NUMERIC = new Set(["integer", "number"]);

// What can be an axis here: the model's fields a value typed as text can set
// (not an upload, nor the list of LoRAs).
function axisFields(model) {
  return (model?.fields || []).filter((f) => f.ui && !f.upload && f.ui.widget !== "loras");
}

// Numbers and booleans are split on commas; text (a prompt has commas) on "|".
function separator(field) {
  return field && field.type === "string" ? "|" : ",";
}

// The typed values as the API takes them; a word that is no number is sent as typed, for the server to name.
function parseValues(field, text) {
  const parts = text.split(separator(field)).map((part) => part.trim()).filter(Boolean);
  if (NUMERIC.has(field.type)) return parts.map((part) => (Number.isFinite(Number(part)) ? Number(part) : part));
  if (field.type === "boolean") return parts.map((part) => ({ true: true, false: false }[part.toLowerCase()] ?? part));
  return parts;
}

export class SweepDialog extends HTMLElement {
  connectedCallback() {
    if (this.dialog) return;
    this.model = h("select", { id: "sw-model", required: true, onchange: () => this.fillAxisFields() });
    this.prompt = h("textarea", { id: "sw-prompt", rows: "3", required: true,
      placeholder: "A red fox trotting through fresh snow at dawn, cinematic" });
    this.axes = h("div", { class: "sweep-axes-rows" });
    this.addButton = h("button", { type: "button", class: "btn", onclick: () => this.addAxis() }, "Add an axis");
    this.error = h("p", { class: "form-error", role: "alert", hidden: true });
    this.submitButton = h("button", { type: "submit", class: "btn primary" }, "Create sweep");
    this.form = h("form", { method: "dialog", novalidate: true },
      h("h2", { id: "sw-title" }, "New sweep"),
      h("div", { class: "field" }, h("label", { for: "sw-model" }, "Model"), this.model),
      h("div", { class: "field" }, h("label", { for: "sw-prompt" }, "Prompt"), this.prompt),
      this.axes, this.addButton, this.error,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn", onclick: () => this.dialog.close() }, "Cancel"),
        this.submitButton));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.dialog = h("dialog", { class: "sweep-dialog", "aria-labelledby": "sw-title" }, this.form);
    this.append(this.dialog);
  }

  async open() {
    this.error.hidden = true;
    const models = await loadModels();
    const chosen = this.model.value;
    this.model.replaceChildren(...models.filter((m) => m.available)
      .map((m) => h("option", { value: m.id }, m.label)));
    if (chosen && modelById(chosen)?.available) this.model.value = chosen;
    if (!this.axes.children.length) {
      this.addAxis("guidance_scale", "3, 5, 7");
      this.addAxis("seed", "1, 2, 3");
    }
    this.fillAxisFields();
    this.dialog.showModal();
    this.prompt.focus();
  }

  addAxis(name = "", values = "") {
    const index = this.axes.children.length;
    if (index >= MAX_AXES) return;
    const field = h("select", { id: `sw-axis-${index}`, "aria-label": `Axis ${index + 1}`,
      onchange: () => this.hintAxis(row) });
    const text = h("input", { type: "text", id: `sw-values-${index}`, value: values, autocomplete: "off",
      "aria-label": `Axis ${index + 1} values` });
    const hint = h("p", { class: "hint" });
    const row = h("div", { class: "sweep-axis-row", dataset: { wanted: name } }, field, text,
      h("button", { type: "button", class: "btn quiet", "aria-label": `Remove axis ${index + 1}`,
        onclick: () => { row.remove(); this.addButton.hidden = false; } }, "Remove"), hint);
    this.axes.append(row);
    this.addButton.hidden = this.axes.children.length >= MAX_AXES;
    this.fillAxisFields();
  }

  // Each axis row's field select lists the chosen model's fields; one no longer there falls back to the first.
  fillAxisFields() {
    const fields = axisFields(modelById(this.model.value));
    for (const row of this.axes.children) {
      const select = row.querySelector("select");
      const wanted = select.value || row.dataset.wanted;
      select.replaceChildren(...fields.map((f) => h("option", { value: f.name }, f.ui.label)));
      if (fields.some((f) => f.name === wanted)) select.value = wanted;
      this.hintAxis(row);
    }
  }

  hintAxis(row) {
    const field = this.fieldOf(row.querySelector("select").value);
    row.querySelector(".hint").textContent = field
      ? `values separated by “${separator(field)}”${field.type === "string" ? " (text may hold commas)" : ""}` : "";
  }

  fieldOf(name) {
    return axisFields(modelById(this.model.value)).find((f) => f.name === name) || null;
  }

  body() {
    const axes = {};
    for (const row of this.axes.children) {
      const name = row.querySelector("select").value;
      const field = this.fieldOf(name);
      if (field) axes[name] = parseValues(field, row.querySelector("input").value);
    }
    return { base: { model_id: this.model.value, prompt: oneLine(this.prompt.value) }, axes, start: true };
  }

  async submit() {
    if (this.busy) return;
    this.busy = true;
    this.submitButton.disabled = true;
    this.error.hidden = true;
    try {
      const sweep = await api.createSweep(this.body());
      this.dialog.close();
      announce(`Sweep of ${sweep.jobs.length} jobs created`);
      location.hash = `#/sweeps/${encodeURIComponent(sweep.id)}`;
    } catch (error) {
      this.error.textContent = error.message;
      this.error.hidden = false;
    } finally {
      this.busy = false;
      this.submitButton.disabled = false;
    }
  }
}

customElements.define("sweep-dialog", SweepDialog);
