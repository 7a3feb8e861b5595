// New sweep: a model, a prompt, the settings every job shares (its base) and
// one to three axes, each a field of the model (from /api/models' `fields`)
// and its values. The base is the model's defaults, a preset's values (POST
// /api/presets/{id}/apply, checked for the chosen model) or New job's form
// (its "Sweep these settings…" calls open({ base })); the axes override it,
// and a read-only line names what of it differs from the model's defaults.
// A field is one axis at most: one row's field is disabled in the others'
// selects (and a duplicate refused under its row). A model axis is ticked
// from the catalogue; other values are typed as text. POST /api/sweeps makes
// and queues one job per combination. The server validates; a 422 about an
// axis shows under its row, any other at the foot.

import { api, ApiError } from "../api.js";
import { loadModels, modelById, modelLabel } from "../catalogue.js";
import { oneLine } from "../format.js";
import { announce, h, setText } from "../ui.js";
import { shown } from "./job-fields.js";

const MAX_AXES = 3;
const NUMERIC = new Set(["integer", "number"]);
const FORM = "form"; // "Settings from" New job's form
const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
const isModel = (field) => field?.ui?.widget === "model";

// What can be an axis here: the model's fields a value typed as text (or a
// model ticked) can set (not an upload, nor the list of LoRAs).
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

// The values that differ from the model's defaults, less the model and the prompt (the dialog's own).
function differing(values, fields) {
  const out = {};
  for (const f of fields) {
    if (f.name in values && f.name !== "prompt" && !isModel(f) && !same(values[f.name], f.default)) {
      out[f.name] = values[f.name];
    }
  }
  return out;
}

export class SweepDialog extends HTMLElement {
  connectedCallback() {
    if (this.dialog) return;
    this.presets = [];
    this.baseValues = {};
    this.model = h("select", { id: "sw-model", required: true, onchange: () => this.modelChanged() });
    this.from = h("select", { id: "sw-from", "aria-describedby": "sw-base", onchange: () => this.loadBase(true) });
    this.baseLine = h("p", { class: "hint sweep-base", id: "sw-base", "aria-live": "polite" });
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
      h("div", { class: "field" }, h("label", { for: "sw-from" }, "Settings from"), this.from, this.baseLine),
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

  // `base`: New job's values (its request body): its model, prompt and settings become this sweep's;
  // `axes`: [[field, values as typed], ...] to start from (New job's batch); `start`: queue it at once;
  // `onCreated`: called once the sweep is made (New job, open under this dialog, closes then).
  async open({ base = null, axes = null, start = true, onCreated = null } = {}) {
    this.clearErrors();
    this.start = start !== false;
    this.onCreated = onCreated;
    const [models, presets] = await Promise.all([loadModels(), api.presets().catch(() => [])]);
    this.presets = presets;
    const chosen = (base && base.model_id) || this.model.value;
    this.model.replaceChildren(...models.filter((m) => m.available)
      .map((m) => h("option", { value: m.id }, m.label)));
    if (chosen && modelById(chosen)?.available) this.model.value = chosen;
    if (base) {
      this.formValues = differing(base, modelById(base.model_id)?.fields || []);
      this.prompt.value = base.prompt || "";
    }
    const keep = base ? FORM : this.from.value;
    this.from.replaceChildren(h("option", { value: "" }, "The model's defaults"),
      base && h("option", { value: FORM }, "New job's settings"),
      ...presets.map((preset) => h("option", { value: preset.id }, `Preset: ${preset.name}`)));
    this.from.value = [...this.from.options].some((option) => option.value === keep) ? keep : "";
    if (axes) {
      this.axes.replaceChildren();
      for (const [name, values] of axes) this.addAxis(name, values);
      if (axes[0]?.[0] === "prompt") this.prompt.value = oneLine(base.prompt.split("\n")[0] || "");
    }
    if (!this.axes.children.length) {
      this.addAxis("guidance_scale", "3, 5, 7");
      this.addAxis("seed", "1, 2, 3");
    }
    this.fillAxisFields();
    await this.loadBase(false);
    this.dialog.showModal();
    this.prompt.focus();
  }

  modelChanged() {
    this.fillAxisFields();
    if (this.from.value && this.from.value !== FORM) this.loadBase(false); // checked again, for this model
    else this.showBase();
  }

  // The base the "Settings from" select names; `fresh` (it was just chosen): a preset's prompt fills the prompt.
  async loadBase(fresh) {
    const from = this.from.value;
    const ticket = (this.baseTicket = (this.baseTicket || 0) + 1);
    let values = {};
    let problem = "";
    if (from === FORM) {
      values = this.formValues || {};
    } else if (from) {
      try {
        values = (await api.applyPreset(from, this.model.value)).values;
      } catch (error) {
        problem = `This preset cannot be used with ${modelLabel(this.model.value)}: ${error.message}`;
      }
    }
    if (ticket !== this.baseTicket) return; // chosen again meanwhile
    this.baseValues = values;
    if (fresh && from !== FORM && typeof values.prompt === "string" && values.prompt) this.prompt.value = values.prompt;
    this.showBase(problem);
  }

  // What the jobs share besides the prompt: the base's settings no axis sets that differ from the model's defaults.
  showBase(problem = this.baseProblem) {
    this.baseProblem = problem;
    this.baseLine.classList.toggle("problem", Boolean(problem));
    if (problem) {
      setText(this.baseLine, problem);
      return;
    }
    const axes = new Set(this.rows().map((row) => this.nameOf(row)));
    const fields = (modelById(this.model.value)?.fields || []).filter((f) => !axes.has(f.name));
    const kept = differing(this.baseValues, fields);
    const parts = fields.filter((f) => f.name in kept)
      .map((f) => (f.upload ? f.ui?.label || f.name : `${f.ui?.label || f.name} ${shown(kept[f.name])}`));
    setText(this.baseLine, `Every job: ${parts.length ? parts.join(" · ") : "the model's defaults"}, but for the axes`);
  }

  rows() {
    return [...this.axes.children];
  }

  nameOf(row) {
    return row.querySelector(".axis-field").value;
  }

  addAxis(name = "", values = "") {
    if (this.axes.children.length >= MAX_AXES) return;
    const row = h("div", { class: "sweep-axis-row", dataset: { wanted: name } },
      h("select", { class: "axis-field", onchange: () => this.fieldChanged(row) }),
      h("input", { type: "text", class: "axis-values", value: values, autocomplete: "off" }),
      h("div", { class: "axis-models", role: "group", hidden: true }),
      h("button", { type: "button", class: "btn quiet axis-remove", onclick: () => this.removeAxis(row) }, "Remove"),
      h("p", { class: "hint" }), h("p", { class: "field-error", hidden: true }));
    this.axes.append(row);
    this.renumber();
    this.fillAxisFields();
  }

  removeAxis(row) {
    row.remove();
    this.renumber();
    this.markTaken();
    this.showBase();
  }

  // Ids and names by position: "Axis 1" is the first row, whichever was removed.
  renumber() {
    this.rows().forEach((row, index) => {
      const [select, text, models, remove, hint, error] = row.children;
      select.id = `sw-axis-${index}`;
      select.setAttribute("aria-label", `Axis ${index + 1}`);
      text.id = `sw-values-${index}`;
      text.setAttribute("aria-label", `Axis ${index + 1} values`);
      models.setAttribute("aria-label", `Axis ${index + 1} models`);
      remove.setAttribute("aria-label", `Remove axis ${index + 1}`);
      hint.id = `sw-hint-${index}`;
      error.id = `sw-error-${index}`;
      for (const control of [select, text]) control.setAttribute("aria-describedby", `${hint.id} ${error.id}`);
    });
    this.addButton.hidden = this.axes.children.length >= MAX_AXES;
  }

  // Each row's select lists the chosen model's fields; a field no longer there,
  // or one an earlier row has, gives way to the first free one (its values cleared).
  fillAxisFields() {
    const fields = axisFields(modelById(this.model.value));
    const taken = new Set();
    for (const row of this.rows()) {
      const select = row.querySelector(".axis-field");
      const was = select.value || row.dataset.wanted;
      select.replaceChildren(...fields.map((f) => h("option", { value: f.name }, f.ui.label)));
      const name = fields.some((f) => f.name === was) && !taken.has(was) ? was
        : fields.find((f) => !taken.has(f.name))?.name || "";
      select.value = name;
      taken.add(name);
      if (name !== was) this.clearValues(row);
      row.dataset.wanted = name;
      this.showValues(row);
    }
    this.markTaken();
    this.showBase();
  }

  // A field another row has is disabled in this row's select.
  markTaken() {
    const names = this.rows().map((row) => this.nameOf(row));
    this.rows().forEach((row, index) => {
      const others = new Set(names.filter((_, other) => other !== index));
      for (const option of row.querySelector(".axis-field").options) option.disabled = others.has(option.value);
    });
  }

  fieldChanged(row) {
    row.dataset.wanted = this.nameOf(row);
    this.clearValues(row); // another field's values mean nothing here
    this.rowError(row, null);
    this.showValues(row);
    this.markTaken();
    this.showBase();
  }

  clearValues(row) {
    row.querySelector(".axis-values").value = "";
    for (const box of row.querySelectorAll(".axis-models input")) box.checked = false;
  }

  // A model axis is ticked from the catalogue's models; any other is typed.
  showValues(row) {
    const field = this.fieldOf(this.nameOf(row));
    const models = row.querySelector(".axis-models");
    const ticking = isModel(field);
    row.querySelector(".axis-values").hidden = ticking;
    models.hidden = !ticking;
    if (ticking && !models.children.length) {
      models.replaceChildren(...[...this.model.options].map((option) => h("label", { class: "filter-check" },
        h("input", { type: "checkbox", value: option.value }), option.textContent)));
    }
    row.querySelector(".hint").textContent = !field ? "" : ticking ? "tick the models to compare"
      : `values separated by “${separator(field)}”${field.type === "string" ? " (text may hold commas)" : ""}`;
  }

  fieldOf(name) {
    return axisFields(modelById(this.model.value)).find((f) => f.name === name) || null;
  }

  valuesOf(row, field) {
    if (isModel(field)) return [...row.querySelectorAll(".axis-models input:checked")].map((box) => box.value);
    return parseValues(field, row.querySelector(".axis-values").value);
  }

  body() {
    const axes = {};
    for (const row of this.rows()) {
      const field = this.fieldOf(this.nameOf(row));
      if (field) axes[field.name] = this.valuesOf(row, field);
    }
    const known = new Set((modelById(this.model.value)?.fields || []).map((f) => f.name));
    const base = Object.fromEntries(Object.entries(this.baseValues)
      .filter(([name]) => known.has(name) && !(name in axes) && name !== "prompt" && name !== "model_id"));
    return { base: { ...base, model_id: this.model.value, prompt: oneLine(this.prompt.value) }, axes,
      start: this.start !== false };
  }

  // A field on two rows: refused under the later one (the server would keep only one row's values).
  refuseDuplicates() {
    const seen = new Set();
    let refused = false;
    for (const row of this.rows()) {
      const name = this.nameOf(row);
      if (seen.has(name)) {
        this.rowError(row, `${this.fieldOf(name)?.ui.label || name} is already an axis above: give all its values there`);
        refused = true;
      }
      seen.add(name);
    }
    return refused;
  }

  async submit() {
    if (this.busy) return;
    this.clearErrors();
    if (this.refuseDuplicates()) return;
    if (this.baseProblem) {
      this.footError("Choose other settings under “Settings from”: the ones chosen cannot be used");
      return;
    }
    this.busy = true;
    this.submitButton.disabled = true;
    try {
      const sweep = await api.createSweep(this.body());
      this.dialog.close();
      this.onCreated?.();
      announce(`Sweep of ${sweep.jobs.length} jobs created`);
      location.hash = `#/sweeps/${encodeURIComponent(sweep.id)}`;
    } catch (error) {
      this.showError(error);
    } finally {
      this.busy = false;
      this.submitButton.disabled = false;
    }
  }

  // A 422 item whose loc is ["body", "axes", NAME, ...] under that axis's row; the others at the foot,
  // named by the field's label where they name one.
  showError(error) {
    const items = error instanceof ApiError && error.status === 422 && Array.isArray(error.detail) ? error.detail : null;
    if (!items) {
      this.footError(error.message);
      return;
    }
    const foot = [];
    const byRow = new Map();
    for (const item of items) {
      const loc = (Array.isArray(item.loc) ? item.loc : []).slice(1); // after "body"
      const row = loc[0] === "axes" ? this.rows().find((each) => this.nameOf(each) === String(loc[1])) : null;
      if (row) byRow.set(row, [...(byRow.get(row) || []), item.msg]);
      else foot.push(this.where(loc) + item.msg);
    }
    for (const [row, messages] of byRow) this.rowError(row, messages.join("; "));
    if (foot.length) this.footError(foot.join("; "));
    const first = this.rows().find((row) => byRow.has(row));
    if (first) (first.querySelector(".axis-values:not([hidden])") || first.querySelector(".axis-field")).focus();
  }

  // "Steps: " for ["base", "num_inference_steps"]; nothing for ["axes"] (the message says which).
  where(loc) {
    const rest = loc.filter((part) => part !== "base" && part !== "axes");
    if (!rest.length) return "";
    const label = (modelById(this.model.value)?.fields || []).find((f) => f.name === rest[0])?.ui?.label;
    return `${[label || rest[0], ...rest.slice(1).map((part) => (typeof part === "number" ? `#${part + 1}` : part))]
      .join(" ")}: `;
  }

  rowError(row, message) {
    const node = row.querySelector(".field-error");
    node.textContent = message || "";
    node.hidden = !message;
    for (const control of row.querySelectorAll(".axis-field, .axis-values")) {
      if (message) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
  }

  footError(message) {
    this.error.textContent = message;
    this.error.hidden = false;
  }

  clearErrors() {
    this.error.hidden = true;
    for (const row of this.rows()) this.rowError(row, null);
  }
}

customElements.define("sweep-dialog", SweepDialog);
