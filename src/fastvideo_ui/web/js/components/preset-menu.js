// <preset-menu>: the New job dialog's presets (named saved settings, kept by
// the server: GET/POST/PATCH/DELETE /api/presets). Pick one and Apply: the
// server checks its values against today's spec and model (POST .../apply)
// and the dialog fills its form with them; a value that no longer passes is
// named here. "Save as preset…" keeps the settings that differ from the
// model's defaults (the prompt and the seed only when ticked), tied to the
// dialog's model unless "Any model" is ticked. Export downloads them all as
// JSON; Import adds a file's (names already taken are skipped). Apply and
// Delete are disabled until a preset is chosen (from the start, before the list loads).
//
// The dialog owns the form: configure({ current, apply }) gives the menu
//   current(): { modelId, fields, values }  the model, its fields, the form's values now
//   apply({ model_id, values })            fills the form (choosing the model first)

import { api, ApiError } from "../api.js";
import { modelLabel } from "../catalogue.js";
import { plural } from "../format.js";
import { announce, h, setText } from "../ui.js";

// A 422's items as "field: rule" (the loc after "body" and "values": the field's own name).
function problems(error) {
  if (!(error instanceof ApiError) || error.status !== 422 || !Array.isArray(error.detail)) return error.message;
  return error.detail.map((item) => {
    const where = (item.loc || []).filter((part) => part !== "body" && part !== "values").join(".");
    return where ? `${where}: ${item.msg}` : item.msg;
  }).join("; ");
}

const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

export class PresetMenu extends HTMLElement {
  connectedCallback() {
    if (this.select) return;
    this.presets = [];
    this.select = h("select", { id: "cj-preset", "aria-describedby": "cj-preset-status" });
    this.select.addEventListener("change", () => this.showChoice());
    const button = (label, onclick, extra = {}) => h("button", { type: "button", class: "btn", onclick, ...extra }, label);
    this.applyButton = button("Apply", () => this.applyChosen(), { dataset: { action: "apply-preset" } });
    this.deleteButton = button("Delete", () => this.deleteChosen(), { class: "btn danger",
      dataset: { action: "delete-preset" } });
    this.fileInput = h("input", { type: "file", accept: ".json,application/json", hidden: true, id: "cj-preset-file",
      onchange: () => this.importFile() });
    this.status = h("p", { class: "preset-status", id: "cj-preset-status", role: "status" });
    // The save row: a name, what to keep besides the settings, and the tie.
    this.nameInput = h("input", { type: "text", id: "cj-preset-name", autocomplete: "off", maxlength: "200" });
    this.nameInput.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault(); // not the dialog's submit: Enter here saves the preset
      this.save();
    });
    const check = (id, label) => {
      const input = h("input", { type: "checkbox", id });
      return [input, h("label", { class: "filter-check" }, input, label)];
    };
    [this.withPrompt, this.withPromptNode] = check("cj-preset-with-prompt", "Include the prompt");
    [this.withSeed, this.withSeedNode] = check("cj-preset-with-seed", "Include the seed");
    [this.anyModel, this.anyModelNode] = check("cj-preset-any-model", "Any model");
    this.saveRow = h("div", { class: "preset-save", hidden: true },
      h("label", { for: this.nameInput.id }, "Preset name"), this.nameInput,
      this.withPromptNode, this.withSeedNode, this.anyModelNode,
      button("Save", () => this.save(), { class: "btn primary", dataset: { action: "save-preset" } }),
      button("Cancel", () => this.toggleSave(false), { "aria-label": "Cancel saving a preset" }));
    this.append(
      h("div", { class: "preset-row" },
        h("label", { for: this.select.id }, "Preset"), this.select, this.applyButton, this.deleteButton,
        h("span", { class: "spacer" }),
        button("Save as preset…", () => this.toggleSave(true), { dataset: { action: "new-preset" } }),
        h("a", { class: "btn", href: "/api/presets/export", download: "fastvideo-ui-presets.json",
          title: "Download every preset as JSON" }, "Export"),
        button("Import…", () => this.fileInput.click(), { title: "Add the presets of an exported JSON file" }),
        this.fileInput),
      this.saveRow, this.status);
    this.showChoice();
  }

  configure({ current, apply }) {
    this.current = current;
    this.applyTo = apply;
  }

  // The list from the server (the dialog calls it when it opens); `keep`: the preset to leave chosen.
  async refresh(keep = this.select.value) {
    try {
      this.presets = await api.presets();
    } catch (error) {
      this.presets = [];
      this.say(`Presets could not be loaded: ${error.message}`, true);
    }
    this.render(keep);
  }

  // Each preset by name; one tied to another model says which (applying it chooses that model).
  render(keep = this.select.value) {
    const modelId = this.current ? this.current().modelId : null;
    const label = (preset) => (preset.model_id === null ? `${preset.name} · any model`
      : preset.model_id === modelId ? preset.name : `${preset.name} · for ${modelLabel(preset.model_id)}`);
    this.select.replaceChildren(
      h("option", { value: "" }, this.presets.length ? "Choose a preset…" : "No presets yet"),
      ...this.presets.map((preset) => h("option", { value: preset.id,
        dataset: { model: preset.model_id ?? "", other: String(preset.model_id !== null && preset.model_id !== modelId) },
      }, label(preset))));
    this.select.value = this.presets.some((preset) => preset.id === keep) ? keep : "";
    this.showChoice();
  }

  chosen() {
    return this.presets.find((preset) => preset.id === this.select.value) || null;
  }

  showChoice() {
    const preset = this.chosen();
    this.applyButton.disabled = !preset;
    this.deleteButton.disabled = !preset;
    this.select.title = preset ? Object.entries(preset.values).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\n") : "";
  }

  say(text, problem = false) {
    setText(this.status, text);
    this.status.classList.toggle("problem", problem);
  }

  async applyChosen() {
    const preset = this.chosen();
    if (!preset) return;
    try {
      // Checked now, against the model it will fill: its own, else the dialog's.
      const applied = await api.applyPreset(preset.id, preset.model_id ?? this.current().modelId);
      await this.applyTo(applied);
      this.render(preset.id);
      const count = Object.keys(applied.values).length;
      this.say(`Applied “${preset.name}”: ${plural(count, "setting")}`);
      announce(`Preset ${preset.name} applied`);
    } catch (error) {
      this.say(`“${preset.name}” cannot be applied: ${problems(error)}`, true);
    }
  }

  async deleteChosen() {
    const preset = this.chosen();
    if (!preset) return;
    const confirm = document.querySelector("confirm-dialog");
    if (confirm && !(await confirm.ask(`Delete the preset “${preset.name}”?`, "Delete"))) return;
    try {
      await api.deletePreset(preset.id);
      this.say(`Deleted “${preset.name}”`);
      await this.refresh("");
    } catch (error) {
      this.say(`Delete failed: ${error.message}`, true);
    }
  }

  toggleSave(open) {
    this.saveRow.hidden = !open;
    if (open) {
      this.nameInput.value = this.chosen()?.name || "";
      this.nameInput.focus();
    }
  }

  // The form's values worth keeping: what differs from the model's defaults,
  // never the model itself (that is the tie) nor an uploaded file or a secret
  // (the server refuses them: a file is deleted once no job uses it), the
  // prompt and seed only when asked.
  keptValues() {
    const { fields, values } = this.current();
    const out = {};
    for (const f of fields) {
      if (!(f.name in values) || f.ui?.widget === "model" || f.upload || f.secret) continue;
      const asked = f.name === "prompt" ? this.withPrompt.checked : f.ui?.widget === "seed" ? this.withSeed.checked
        : null;
      if (asked === false) continue;
      if (asked || !same(values[f.name], f.default)) out[f.name] = values[f.name];
    }
    return out;
  }

  async save() {
    // As the server keeps names (NFC: "é" typed as e and a combining accent is the same name), so a
    // 409 finds the preset it names.
    const name = this.nameInput.value.trim().normalize("NFC");
    if (!name) {
      this.say("A preset needs a name", true);
      this.nameInput.focus();
      return;
    }
    const body = { name, model_id: this.anyModel.checked ? null : this.current().modelId, values: this.keptValues() };
    try {
      let saved;
      try {
        saved = await api.createPreset(body);
      } catch (error) {
        const taken = error instanceof ApiError && error.status === 409
          && this.presets.find((preset) => preset.name === name);
        if (!taken) throw error;
        const confirm = document.querySelector("confirm-dialog");
        if (confirm && !(await confirm.ask(`A preset named “${name}” exists. Replace its settings?`, "Replace"))) return;
        saved = await api.updatePreset(taken.id, { model_id: body.model_id, values: body.values });
      }
      this.toggleSave(false);
      await this.refresh(saved.id);
      this.say(`Saved “${saved.name}”: ${plural(Object.keys(saved.values).length, "setting")}`);
      announce(`Preset ${saved.name} saved`);
    } catch (error) {
      this.say(`Not saved: ${problems(error)}`, true);
    }
  }

  async importFile() {
    const file = this.fileInput.files[0];
    this.fileInput.value = "";
    if (!file) return;
    let presets;
    try {
      const data = JSON.parse(await file.text());
      presets = Array.isArray(data) ? data : data.presets;
      if (!Array.isArray(presets)) throw new Error("no \"presets\" list in it");
    } catch (error) {
      this.say(`${file.name} is not an export of presets: ${error.message}`, true);
      return;
    }
    try {
      const done = await api.importPresets(presets);
      const part = (list, words) => (list && list.length ? `${plural(list.length, "preset")} ${words}` : "");
      const said = [part(done.created, "added"), part(done.replaced, "replaced"),
        part(done.skipped, `skipped (the name is taken: ${(done.skipped || []).join(", ")})`)].filter(Boolean);
      this.say(`${file.name}: ${said.join("; ") || "nothing in it"}`);
      await this.refresh();
    } catch (error) {
      const tooLarge = error instanceof ApiError && error.status === 413;
      this.say(`${file.name} was not imported: ${tooLarge
        ? `it is larger than one import may be (${error.message}); split its presets into several files`
        : problems(error)}`, true);
    }
  }
}

customElements.define("preset-menu", PresetMenu);
