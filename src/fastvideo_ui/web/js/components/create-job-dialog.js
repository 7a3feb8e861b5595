// The create-job <dialog>: model, prompt, parameters pre-filled from the
// model's defaults, seed, devices, advanced options and batches. Its field
// controls are the chosen model's `fields` from /api/models (job-fields.js
// builds them). The server validates; its 422 messages are shown next to the
// field they name. An MP4 this tool made, dropped on the dialog (or picked
// with "From a video…"), fills the form with the settings stored inside it.
// "Sweep these settings…" opens New sweep (sweep-dialog.js) with them as its base.

import { api, ApiError } from "../api.js";
import { deviceNoun, loadModels, modelById } from "../catalogue.js";
import { oneLine, plural, promptLines, randomSeed, weightsText } from "../format.js";
import { live } from "../live.js";
import { announce, h } from "../ui.js";
import "./lora-picker.js";
import "./preset-menu.js";
import {
  applyOffWhen, checkNode, defaultsOf, fieldNode, fillFields, limitFields, place, readFields, renderFields,
} from "./job-fields.js";

const MAX_BATCH = 100;
const DOWNLOADING = ["waiting", "starting", "downloading"]; // a download that can be cancelled
const SECTIONS = ["top", "main", "advanced"];

export class CreateJobDialog extends HTMLElement {
  connectedCallback() {
    if (this.dialog) return;
    this.render();
  }

  render() {
    this.modelSelect = h("select", { name: "model_id", id: "cj-model_id", required: true });
    this.weightsLine = h("span", { class: "weights-text", id: "cj-weights" });
    this.weightsButton = h("button", { type: "button", class: "btn", onclick: () => this.toggleDownload() });
    this.weights = h("p", { class: "weights", hidden: true, "aria-live": "polite" }, this.weightsLine, " ",
      this.weightsButton);
    this.batchMode = h("select", { name: "batch_mode", id: "cj-batch_mode" },
      h("option", { value: "single" }, "One job"),
      h("option", { value: "seeds" }, "N jobs, consecutive seeds"),
      h("option", { value: "lines" }, "One job per prompt line"));
    this.batchCount = h("input", { type: "number", name: "batch_count", id: "cj-batch_count", min: "2",
      max: String(MAX_BATCH), value: "3" });
    this.batchCountField = fieldNode("batch_count", "Number of jobs", this.batchCount, "seeds s, s+1, s+2, …");
    this.batchMode.addEventListener("change", () => this.updateBatch());
    // The chosen model's fields, by section (applyModel builds them); nodes are kept by field across models.
    this.fields = [];
    this.nodes = new Map();
    this.sections = { top: h("div"), main: h("div", { class: "grid" }), advanced: h("div") };
    this.formError = h("p", { class: "form-error", role: "alert", hidden: true });
    this.submitButton = h("button", { type: "submit", class: "btn primary" }, "Create");
    this.heading = h("h2", { id: "cj-title" }, "New job");
    // An upload's controls, for the input image (uploadNode puts them in a field of the model's upload field).
    this.imageInput = h("input", { type: "file", accept: "image/png,image/jpeg,image/webp", hidden: true,
      onchange: () => { if (this.imageInput.files[0]) this.setImage(this.imageInput.files[0]); } });
    this.imageThumb = h("img", { class: "image-thumb", alt: "the input image", hidden: true });
    this.imageNote = h("span", { class: "hint" }, "Drop, paste or choose an image");
    this.imageRemove = h("button", { type: "button", class: "btn quiet", hidden: true,
      onclick: () => this.clearImage() }, "Remove");
    this.videoInput = h("input", { type: "file", accept: "video/mp4,.mp4", hidden: true, id: "cj-from-video",
      onchange: () => { if (this.videoInput.files[0]) this.fillFromVideo(this.videoInput.files[0]); } });
    const fromVideo = h("button", { type: "button", class: "btn", title: "Fill the form from an MP4 this tool made",
      onclick: () => this.videoInput.click() }, "From a video…");
    this.presetMenu = h("preset-menu"); // reads the form through current(), fills it through applyPreset()
    this.form = h("form", { method: "dialog", novalidate: true },
      h("div", { class: "dialog-heading" }, this.heading, fromVideo, this.videoInput),
      this.presetMenu,
      this.sections.top,
      this.sections.main,
      h("details", { class: "advanced" }, h("summary", {}, "Advanced"), this.sections.advanced),
      h("div", { class: "grid" }, fieldNode("batch_mode", "Batch", this.batchMode), this.batchCountField),
      checkNode("start", "Start immediately", true),
      this.formError,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn sweep-these", onclick: () => this.sweepThese(),
          title: "A sweep over some fields, every job with these settings otherwise" }, "Sweep these settings…"),
        h("button", { type: "button", class: "btn", onclick: () => this.close() }, "Cancel"),
        this.submitButton),
    );
    this.dialog = h("dialog", { class: "create-job", "aria-labelledby": "cj-title" }, this.form);
    this.append(this.dialog);
    this.presetMenu.configure({ current: () => ({ modelId: this.modelSelect.value, fields: this.fields,
      values: this.body() }), apply: (preset) => this.applyPreset(preset) });
    this.modelSelect.addEventListener("change", () => {
      this.applyModel(modelById(this.modelSelect.value), true);
      this.presetMenu.render(); // which presets are this model's
    });
    live.addEventListener("download", (event) => this.downloadChanged(event.detail));
    this.form.addEventListener("change", () => applyOffWhen(this.form, this.fields));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.form.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.submit();
      }
    });
    this.form.addEventListener("input", (event) => this.clearError(event.target.name));
    this.dialog.addEventListener("dragover", (event) => {
      if (![...event.dataTransfer.items].some((item) => item.kind === "file")) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      this.dialog.classList.add("dropping");
    });
    this.dialog.addEventListener("dragleave", (event) => {
      if (!this.dialog.contains(event.relatedTarget)) this.dialog.classList.remove("dropping");
    });
    this.dialog.addEventListener("drop", (event) => {
      const file = event.dataTransfer.files[0];
      this.dialog.classList.remove("dropping");
      if (!file) return;
      event.preventDefault();
      const loras = this.control("loras");
      if (file.type.startsWith("image/")) this.setImage(file);
      else if (file.name.toLowerCase().endsWith(".safetensors") && loras) loras.uploadAll([...event.dataTransfer.files]);
      else this.fillFromVideo(file);
    });
    this.dialog.addEventListener("paste", (event) => {
      const file = [...(event.clipboardData?.files || [])].find((item) => item.type.startsWith("image/"));
      if (!file) return;
      event.preventDefault();
      this.setImage(file);
    });
    this.updateBatch();
  }

  control(name) {
    return this.form.elements.namedItem(name);
  }

  // The chosen model's field controls, section by section; the model picker
  // (with its weights line) and the input image are the dialog's own.
  showFields(model) {
    this.fields = model.fields || [];
    const own = { model: (f) => [fieldNode(f.name, f.ui.label, this.modelSelect), this.weights],
      upload: (f) => this.uploadNode(f), loras: (f) => this.lorasNode(f) };
    for (const section of SECTIONS) {
      place(this.sections[section], renderFields(this.fields, section, { own, cache: this.nodes }));
    }
  }

  lorasNode(f) {
    const picker = h("lora-picker", { name: f.name, id: `cj-${f.name}` });
    picker.configure(f);
    return fieldNode(f.name, f.ui.label, picker, f.help);
  }

  updateBatch() {
    this.batchCountField.hidden = this.batchMode.value !== "seeds";
    const prompt = this.control("prompt");
    if (!prompt) return; // not built before a model is chosen
    prompt.placeholder = this.batchMode.value === "lines"
      ? "One prompt per line: each line becomes a job"
      : "A red fox trotting through fresh snow at dawn, cinematic";
  }

  async fillModels(selectedId) {
    const models = await loadModels({ reload: true });
    this.modelSelect.replaceChildren(...models.map((model) => h("option", {
      value: model.id, disabled: !model.available,
    }, model.available ? model.label : `${model.label} — unavailable: ${model.reason}`)));
    const wanted = modelById(selectedId) || models.find((model) => model.available) || models[0];
    if (wanted) this.modelSelect.value = wanted.id;
    return wanted;
  }

  // A FastVideo model's weights: cached or not, a download's progress, and the button that starts or cancels it.
  showWeights(model) {
    const weights = model && model.weights;
    this.weights.hidden = !weights;
    if (!weights) return;
    this.weightsLine.textContent = weightsText(weights);
    const running = weights.download && DOWNLOADING.includes(weights.download.status);
    this.weightsButton.textContent = running ? "Cancel download" : "Download weights";
    this.weightsButton.hidden = Boolean(weights.cached) && !running;
  }

  downloadChanged(download) {
    const model = modelById(download.model_id);
    if (!model || !model.weights) return;
    model.weights.download = download;
    if (download.status === "done") {
      model.weights.cached = true;
      model.weights.size_bytes = download.bytes_done;
    }
    if (this.modelSelect.value === model.id) this.showWeights(model);
  }

  async toggleDownload() {
    const model = modelById(this.modelSelect.value);
    if (!model || !model.weights) return;
    const running = model.weights.download && DOWNLOADING.includes(model.weights.download.status);
    try {
      const state = running ? await api.cancelDownload(model.id) : await api.download(model.id);
      this.downloadChanged(state);
    } catch (error) {
      this.formError.textContent = error.message;
      this.formError.hidden = false;
    }
  }

  // The chosen model's fields, with its limits; `fill` puts its defaults in
  // (the seed stays: a new job draws one, and another model keeps it).
  applyModel(model, fill) {
    if (!model) return;
    this.showFields(model);
    this.showWeights(model);
    this.showImageField();
    limitFields(this.form, this.fields, deviceNoun(model.id));
    const hint = this.form.querySelector("#cj-model_id-hint");
    hint.textContent = model.available ? model.description || "" : `Unavailable: ${model.reason}`;
    if (fill) fillFields(this.form, this.fields.filter((f) => f.ui?.widget !== "seed"), defaultsOf(this.fields));
    applyOffWhen(this.form, this.fields);
  }

  // `upload`: an upload's id for the model's upload field (the last frame of a video, to continue from).
  async open(job = null, { title, upload } = {}) {
    this.clearErrors();
    this.clearImage();
    // Continuing from a frame needs a model that takes an input image (the job's own, else the first that does).
    let wanted = job ? job.model_id : this.modelSelect.value;
    if (upload) {
      await loadModels();
      const own = modelById(wanted);
      if (!own || own.image_input === "none") {
        wanted = (await loadModels()).find((m) => m.available && m.image_input !== "none")?.id || wanted;
      }
    }
    const model = await this.fillModels(wanted);
    this.applyModel(model, true);
    this.batchMode.value = "single";
    this.updateBatch();
    if (job) {
      fillFields(this.form, this.fields, job);
      applyOffWhen(this.form, this.fields);
      // Open where the job set an advanced field otherwise than the model would.
      const differs = (f) => (f.type === "boolean" ? Boolean(job[f.name]) !== Boolean(f.default)
        : job[f.name] !== undefined && job[f.name] !== null && job[f.name] !== f.default);
      this.form.querySelector("details.advanced").open = this.fields.some((f) => f.ui?.section === "advanced"
        && differs(f));
    } else {
      for (const f of this.fields) if (f.ui?.widget === "seed") this.control(f.name).value = randomSeed();
    }
    const uploadField = this.uploadField();
    const uploaded = upload || (job && uploadField && job[uploadField.name]);
    if (uploaded && uploadField) this.showImage(uploaded, upload ? "its last frame" : "");
    this.heading.textContent = title || (job ? "Duplicate job" : "New job");
    this.presetMenu.refresh("");
    this.dialog.showModal();
    this.control("prompt").focus();
  }

  close() {
    this.dialog.close();
  }

  // A batch becomes the sweep's axis: its prompt lines, or its seeds. "Start immediately" carries over.
  sweepThese() {
    const base = this.body();
    const mode = this.batchMode.value;
    let axes = null;
    if (mode === "lines" && promptLines(base.prompt).length > 1) {
      axes = [["prompt", promptLines(base.prompt).join(" | ")]];
    } else if (mode === "seeds") {
      axes = [["seed", this.bodies().map((body) => body.seed).join(", ")]];
    }
    // New job stays open under it: cancelling the sweep comes back to the form as it was.
    document.querySelector("sweep-dialog").open({ base, axes, start: base.start, onCreated: () => this.close() });
  }

  // A preset's values as the server checked them: its model chosen, that model's defaults, then its values.
  applyPreset({ model_id, values }) {
    if (modelById(model_id)) this.modelSelect.value = model_id;
    this.clearErrors();
    this.applyModel(modelById(this.modelSelect.value), true);
    fillFields(this.form, this.fields, values);
    applyOffWhen(this.form, this.fields);
  }

  // The chosen model's input image field, if it takes one.
  uploadField() {
    return this.fields.find((f) => f.ui?.widget === "upload") || null;
  }

  uploadNode(f) {
    this.imageInput.id = `cj-${f.name}-file`;
    this.imageNote.id = `cj-${f.name}-note`;
    return h("div", { class: "field image-field", dataset: { field: f.name } },
      h("label", { for: this.imageInput.id, id: `cj-${f.name}-label` }, f.ui.label),
      h("div", { class: "image-row" }, this.imageThumb, this.imageNote,
        h("button", { type: "button", class: "btn", onclick: () => this.imageInput.click() }, "Choose…"),
        this.imageRemove, this.imageInput),
      h("p", { class: "field-error", id: `cj-${f.name}-error`, hidden: true }));
  }

  // Its label says whether the model must have one.
  showImageField() {
    const upload = this.uploadField();
    if (upload) {
      this.form.querySelector(`#cj-${upload.name}-label`).textContent =
        `${upload.ui.label} (${upload.required ? "required" : "optional"})`;
    }
  }

  async setImage(file) {
    const name = this.uploadField()?.name;
    this.clearError(name);
    this.imageNote.textContent = `Uploading ${file.name || "the image"}…`;
    try {
      const stored = await api.upload(file);
      this.showImage(stored.id, `${stored.width}×${stored.height}`);
    } catch (error) {
      this.imageNote.textContent = "Drop, paste or choose an image";
      const node = name && this.form.querySelector(`#cj-${name}-error`);
      if (node) {
        node.textContent = error instanceof ApiError ? error.message : String(error);
        node.hidden = false;
      }
    } finally {
      this.imageInput.value = "";
    }
  }

  showImage(id, note) {
    this.imageId = id;
    this.imageThumb.src = `/api/uploads/${id}`;
    this.imageThumb.hidden = false;
    this.imageRemove.hidden = false;
    this.imageNote.textContent = note || "";
  }

  clearImage() {
    this.imageId = null;
    this.imageThumb.hidden = true;
    this.imageThumb.removeAttribute("src");
    this.imageRemove.hidden = true;
    this.imageNote.textContent = "Drop, paste or choose an image";
  }

  // The settings inside an MP4 this tool made, into the form (the model too, when this server has it).
  async fillFromVideo(file) {
    this.clearErrors();
    let settings;
    try {
      settings = await api.videoSettings(file);
    } catch (error) {
      this.formError.textContent = `${file.name}: ${error instanceof ApiError ? error.message : String(error)}`;
      this.formError.hidden = false;
      return;
    } finally {
      this.videoInput.value = "";
    }
    const model = modelById(settings.model_id);
    if (model) {
      this.modelSelect.value = model.id;
      this.applyModel(model, true);
    }
    // Every field the file keeps, by name; one it lacks keeps the model's default.
    fillFields(this.form, this.fields.filter((f) => f.restore), settings);
    this.batchMode.value = "single";
    this.updateBatch();
    const note = model ? "" : ` (its model ${settings.model_id} is not served here)`;
    announce(`Settings read from ${file.name}${note}`);
    if (!model) {
      this.formError.textContent = `${file.name} was made with ${settings.model_id}, which this server does not have`;
      this.formError.hidden = false;
    }
  }

  // Only the fields the model has (the preview renderer is sent no offloads); empty numbers are its defaults.
  body() {
    const out = readFields(this.form, this.fields);
    out.prompt = this.control("prompt").value; // as typed: a batch may take it line by line
    const upload = this.uploadField();
    if (this.imageId && upload) out[upload.name] = this.imageId;
    out.start = this.control("start").checked;
    return out;
  }

  bodies() {
    const base = this.body();
    const mode = this.batchMode.value;
    if (mode === "lines") {
      const lines = promptLines(base.prompt);
      if (!lines.length) return [base]; // let the server name the empty prompt
      return lines.map((prompt) => ({ ...base, prompt }));
    }
    base.prompt = oneLine(base.prompt); // a pasted multi-line prompt is one prompt
    if (mode === "seeds") {
      const count = Number(this.batchCount.value);
      if (!Number.isInteger(count) || count < 2 || count > MAX_BATCH) {
        throw new ApiError(422, [{ loc: ["body", "batch_count"], msg: `must be a whole number from 2 to ${MAX_BATCH}` }]);
      }
      const first = Number.isInteger(base.seed) ? base.seed : 0;
      return Array.from({ length: count }, (_, i) => ({ ...base, seed: (first + i) % 2 ** 32 }));
    }
    return [base];
  }

  async submit() {
    if (this.busy) return;
    this.clearErrors();
    this.busy = true;
    this.submitButton.disabled = true;
    const created = [];
    try {
      const bodies = this.bodies();
      for (const [index, body] of bodies.entries()) {
        try {
          created.push(await api.create(body));
        } catch (error) {
          if (bodies.length > 1 && error instanceof ApiError) error.batchIndex = index;
          throw error;
        }
      }
      this.close();
      announce(created.length === 1 ? "Job created" : `${plural(created.length, "job")} created`);
      this.dispatchEvent(new CustomEvent("jobs-created", { bubbles: true, detail: { jobs: created } }));
    } catch (error) {
      this.showError(error, created.length);
    } finally {
      this.busy = false;
      this.submitButton.disabled = false;
    }
  }

  showError(error, createdCount) {
    const prefix = error.batchIndex !== undefined
      ? `Job ${error.batchIndex + 1} of the batch was refused${createdCount ? ` (${createdCount} created before it)` : ""}: `
      : "";
    const fields = error instanceof ApiError ? error.fieldErrors : {};
    let placed = false;
    for (const [name, messages] of Object.entries(fields)) {
      const node = this.form.querySelector(`#cj-${CSS.escape(name)}-error`);
      if (!node) continue;
      node.textContent = messages.join("; ");
      node.hidden = false;
      this.control(name)?.setAttribute?.("aria-invalid", "true");
      const wrapper = node.closest("details");
      if (wrapper) wrapper.open = true;
      if (!placed) this.control(name)?.focus?.();
      placed = true;
    }
    const unplaced = Object.keys(fields).filter((name) => !this.form.querySelector(`#cj-${CSS.escape(name)}-error`));
    if (!placed || prefix || unplaced.length) {
      this.formError.textContent = prefix + (unplaced.length
        ? unplaced.map((name) => (name === "_form" ? "" : `${name}: `) + fields[name].join("; ")).join("; ")
        : placed ? "see the fields marked above" : error.message);
      this.formError.hidden = false;
    }
  }

  clearError(name) {
    if (!name) return;
    const node = this.form.querySelector(`#cj-${CSS.escape(name)}-error`);
    if (node) node.hidden = true;
    this.control(name)?.removeAttribute?.("aria-invalid");
  }

  clearErrors() {
    if (!this.form) return;
    for (const node of this.form.querySelectorAll(".field-error")) node.hidden = true;
    for (const node of this.form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
    this.formError.hidden = true;
  }
}

customElements.define("create-job-dialog", CreateJobDialog);
