// New job's LoRA picker: up to `max` rows, each a LoRA and its strength. A
// LoRA is one of the library's (GET /api/loras) or, with "Hub id…", a
// Hugging Face repo id (owner/name, or owner/name/file.safetensors). A
// .safetensors file dropped on it (or chosen with Upload…) goes to the
// library first, then into a row. It is a form-associated element, so the
// form reads its `value` (the job's `loras`) as it reads any control, and
// "Run again" or "From a video…" sets it.

import { api, ApiError } from "../api.js";
import { h } from "../ui.js";

const HUB = "\u0000hub"; // the "Hub id…" option's value: no library name can hold a NUL

function isSafetensors(file) {
  return file.name.toLowerCase().endsWith(".safetensors");
}

class LoraPicker extends HTMLElement {
  static formAssociated = true;

  constructor() {
    super();
    this.internals = this.attachInternals();
    this.rows = [];
    this.library = [];
    this.max = 4;
    this.strengthRange = [-4, 4];
  }

  get type() { return "loras"; }

  get name() { return this.getAttribute("name"); }

  // The spec's entry for `loras` (served by /api/models): its item count and strength bounds.
  configure(field) {
    this.max = field.max_length || this.max;
    const strength = (field.items || []).find((item) => item.name === "strength");
    if (strength) this.strengthRange = [strength.minimum, strength.maximum];
    this.update();
  }

  connectedCallback() {
    if (!this.list) this.build();
    this.refresh();
  }

  build() {
    this.list = h("div", { class: "lora-rows" });
    this.fileInput = h("input", { type: "file", accept: ".safetensors", hidden: true,
      onchange: () => this.uploadAll([...this.fileInput.files]) });
    this.addButton = h("button", { type: "button", class: "btn", onclick: () => {
      this.addRow();
      this.refresh(); // one added to the library since the dialog opened
    } }, "Add LoRA");
    this.uploadButton = h("button", { type: "button", class: "btn", onclick: () => this.fileInput.click() },
      "Upload…");
    this.note = h("span", { class: "hint lora-note" }, "or drop a .safetensors file here");
    this.append(this.list, h("div", { class: "lora-actions" }, this.addButton, this.uploadButton, this.note,
      this.fileInput));
    this.addEventListener("dragover", (event) => {
      if (!event.dataTransfer?.types.includes("Files")) return;
      event.preventDefault();
      this.classList.add("dropping");
    });
    this.addEventListener("dragleave", () => this.classList.remove("dropping"));
    this.addEventListener("drop", (event) => {
      this.classList.remove("dropping");
      const files = [...(event.dataTransfer?.files || [])];
      if (!files.length) return;
      event.preventDefault();
      event.stopPropagation(); // the dialog would read it as a video's settings
      this.uploadAll(files);
    });
  }

  async refresh() {
    try {
      this.library = await api.loras();
    } catch {
      this.library = []; // the rows still take Hub ids
    }
    for (const row of this.rows) this.fillOptions(row, row.select.value === HUB ? HUB : row.select.value);
  }

  // Files to the library, one after another, each then chosen in a row of its own.
  async uploadAll(files) {
    for (const file of files) {
      if (!isSafetensors(file)) {
        this.say(`${file.name}: only .safetensors files are LoRAs here (a pickle runs code when loaded)`);
        continue;
      }
      this.say(`Uploading ${file.name}…`);
      try {
        const entry = await api.addLora(file);
        await this.refresh();
        const empty = this.rows.find((row) => !this.rowValue(row));
        if (empty) this.fillOptions(empty, entry.name);
        else if (this.rows.length < this.max) this.addRow({ lora: entry.name, strength: 1 });
        this.say(`${entry.name} is in the library`);
      } catch (error) {
        this.say(`${file.name}: ${error instanceof ApiError ? error.message : String(error)}`);
      }
    }
    this.fileInput.value = "";
  }

  say(text) {
    this.note.textContent = text;
  }

  addRow(entry = { lora: "", strength: 1 }) {
    if (this.rows.length >= this.max) return null;
    const index = this.rows.length + 1;
    const row = {};
    row.select = h("select", { class: "lora-choice", "aria-label": `LoRA ${index}`,
      onchange: () => this.showHub(row) });
    row.hub = h("input", { type: "text", class: "lora-hub", placeholder: "owner/name or owner/name/file.safetensors",
      "aria-label": `LoRA ${index} Hub id`, hidden: true });
    row.strength = h("input", { type: "number", class: "lora-strength", step: "0.05", inputmode: "decimal",
      min: String(this.strengthRange[0]), max: String(this.strengthRange[1]), "aria-label": `LoRA ${index} strength`,
      value: String(entry.strength ?? 1) });
    row.remove = h("button", { type: "button", class: "btn", "aria-label": `Remove LoRA ${index}`,
      onclick: () => this.removeRow(row) }, "✕");
    row.node = h("div", { class: "lora-row" }, row.select, row.hub, row.strength, row.remove);
    this.rows.push(row);
    this.list.append(row.node);
    this.fillOptions(row, entry.lora || "");
    this.update();
    return row;
  }

  removeRow(row) {
    this.rows = this.rows.filter((other) => other !== row);
    row.node.remove();
    this.update();
  }

  // Its choices: the library, a name the library lacks (a job made before it was deleted), "Hub id…".
  fillOptions(row, given) {
    const chosen = given === null || given === undefined ? "" : String(given); // an MP4's settings are untrusted
    const hub = chosen === HUB || (chosen && chosen.includes("/"));
    const names = this.library.map((entry) => entry.name);
    const missing = chosen && !hub && !names.includes(chosen) && !names.includes(`${chosen}.safetensors`);
    row.select.replaceChildren(
      h("option", { value: "" }, names.length ? "Choose a LoRA…" : "No LoRA in the library yet"),
      ...this.library.map((entry) => h("option", { value: entry.name },
        entry.base_model ? `${entry.name} (${entry.base_model})` : entry.name)),
      ...(missing ? [h("option", { value: chosen }, `${chosen} (not in the library)`)] : []),
      h("option", { value: HUB }, "Hub id…"));
    if (hub) {
      row.select.value = HUB;
      if (chosen !== HUB) row.hub.value = chosen;
    } else {
      const known = names.includes(chosen) || missing ? chosen : names.find((n) => n === `${chosen}.safetensors`);
      row.select.value = known || "";
    }
    this.showHub(row);
  }

  showHub(row) {
    row.hub.hidden = row.select.value !== HUB;
  }

  rowValue(row) {
    return row.select.value === HUB ? row.hub.value.trim() : row.select.value;
  }

  update() {
    if (this.addButton) this.addButton.disabled = this.rows.length >= this.max;
  }

  // The job's `loras`: the rows that name a LoRA, in order (an empty strength is 1).
  get value() {
    return this.rows.filter((row) => this.rowValue(row)).map((row) => {
      const text = row.strength.value.trim();
      return { lora: this.rowValue(row), strength: text === "" ? 1 : Number(text) };
    });
  }

  set value(loras) {
    if (!this.list) this.build();
    for (const row of [...this.rows]) this.removeRow(row);
    for (const entry of loras || []) this.addRow(entry);
  }
}

// Its own look, with it: the page's stylesheet knows nothing of it.
const sheet = new CSSStyleSheet();
sheet.replaceSync(`
.field:has(> lora-picker) { grid-column: 1 / -1; }
lora-picker { display: block; border-radius: 8px; }
lora-picker.dropping { outline: 2px dashed var(--accent, #4c8bf5); outline-offset: 4px; }
lora-picker .lora-row { display: flex; gap: 6px; align-items: center; margin-bottom: 6px; flex-wrap: wrap; }
lora-picker .lora-choice { flex: 2 1 14em; min-width: 0; }
lora-picker .lora-hub { flex: 2 1 14em; min-width: 0; }
lora-picker .lora-strength { flex: 0 0 6em; }
lora-picker .lora-actions { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
`);
document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];

customElements.define("lora-picker", LoraPicker);
