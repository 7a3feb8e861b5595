// The create-job <dialog>: model, prompt, parameters pre-filled from the
// model's defaults, seed, devices, advanced options and batches. The server
// validates; its 422 messages are shown next to the field they name. An MP4
// this tool made, dropped on the dialog (or picked with "From a video…"),
// fills the form with the settings stored inside it.

import { api, ApiError } from "../api.js";
import { loadModels, modelById, optionLabel } from "../catalogue.js";
import { oneLine, plural, promptLines, randomSeed, weightsText } from "../format.js";
import { live } from "../live.js";
import { announce, h } from "../ui.js";

const NUMBERS = ["num_inference_steps", "num_frames", "width", "height", "guidance_scale", "fps", "seed", "num_gpus",
  "priority"];
// FastVideo turns these off while dit_layerwise_offload is on (the server refuses them then).
const OVERRIDDEN_BY_LAYERWISE = ["dit_cpu_offload", "use_fsdp_inference"];
const MAX_BATCH = 100;
const DOWNLOADING = ["waiting", "starting", "downloading"]; // a download that can be cancelled

function field(name, label, control, hint = "") {
  control.id ||= `cj-${name}`;
  control.name ||= name;
  const error = h("p", { class: "field-error", id: `cj-${name}-error`, hidden: true });
  const hintNode = h("p", { class: "hint", id: `cj-${name}-hint` }, hint);
  control.setAttribute("aria-describedby", `${hintNode.id} ${error.id}`);
  return h("div", { class: "field", dataset: { field: name } },
    h("label", { for: control.id }, label), control, hintNode, error);
}

function numberInput(name, step = "1") {
  return h("input", { type: "number", name, id: `cj-${name}`, step, inputmode: step === "1" ? "numeric" : "decimal" });
}

function checkbox(name, label, checked = false) {
  const input = h("input", { type: "checkbox", name, id: `cj-${name}`, checked });
  return h("div", { class: "check", dataset: { field: name } }, input, h("label", { for: input.id }, label),
    h("p", { class: "field-error", id: `cj-${name}-error`, hidden: true }));
}

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
    this.prompt = h("textarea", { name: "prompt", id: "cj-prompt", rows: "4", required: true,
      placeholder: "A red fox trotting through fresh snow at dawn, cinematic" });
    this.seed = numberInput("seed");
    const randomize = h("button", { type: "button", class: "btn", onclick: () => { this.seed.value = randomSeed(); } },
      "Randomize");
    const seedField = field("seed", "Seed", this.seed);
    seedField.querySelector("input").after(randomize);
    this.batchMode = h("select", { name: "batch_mode", id: "cj-batch_mode" },
      h("option", { value: "single" }, "One job"),
      h("option", { value: "seeds" }, "N jobs, consecutive seeds"),
      h("option", { value: "lines" }, "One job per prompt line"));
    this.batchCount = h("input", { type: "number", name: "batch_count", id: "cj-batch_count", min: "2",
      max: String(MAX_BATCH), value: "3" });
    this.batchCountField = field("batch_count", "Number of jobs", this.batchCount, "seeds s, s+1, s+2, …");
    this.batchMode.addEventListener("change", () => this.updateBatch());
    // The chosen model's own settings, as /api/models lists them (applyModel
    // builds them), then the out-of-memory retry, which only a GPU can need.
    this.options = [];
    this.retryCheck = checkbox("retry_on_oom", "Out of memory: retry once with every offload on");
    this.checks = h("div", { class: "checks" }, this.retryCheck);
    this.formError = h("p", { class: "form-error", role: "alert", hidden: true });
    this.submitButton = h("button", { type: "submit", class: "btn primary" }, "Create");
    this.heading = h("h2", { id: "cj-title" }, "New job");
    this.imageInput = h("input", { type: "file", accept: "image/png,image/jpeg,image/webp", hidden: true,
      id: "cj-image-file", onchange: () => { if (this.imageInput.files[0]) this.setImage(this.imageInput.files[0]); } });
    this.imageThumb = h("img", { class: "image-thumb", alt: "the input image", hidden: true });
    this.imageNote = h("span", { class: "hint", id: "cj-image-note" }, "Drop, paste or choose an image");
    this.imageRemove = h("button", { type: "button", class: "btn quiet", hidden: true,
      onclick: () => this.clearImage() }, "Remove");
    this.imageField = h("div", { class: "field image-field", dataset: { field: "image" } },
      h("label", { for: "cj-image-file", id: "cj-image-label" }, "Input image"),
      h("div", { class: "image-row" }, this.imageThumb, this.imageNote,
        h("button", { type: "button", class: "btn", onclick: () => this.imageInput.click() }, "Choose…"),
        this.imageRemove, this.imageInput),
      h("p", { class: "field-error", id: "cj-image-error", hidden: true }));
    this.videoInput = h("input", { type: "file", accept: "video/mp4,.mp4", hidden: true, id: "cj-from-video",
      onchange: () => { if (this.videoInput.files[0]) this.fillFromVideo(this.videoInput.files[0]); } });
    const fromVideo = h("button", { type: "button", class: "btn", title: "Fill the form from an MP4 this tool made",
      onclick: () => this.videoInput.click() }, "From a video…");
    this.form = h("form", { method: "dialog", novalidate: true },
      h("div", { class: "dialog-heading" }, this.heading, fromVideo, this.videoInput),
      field("model_id", "Model", this.modelSelect),
      this.weights,
      field("prompt", "Prompt", this.prompt),
      this.imageField,
      h("div", { class: "grid" },
        field("num_inference_steps", "Steps", numberInput("num_inference_steps")),
        field("num_frames", "Frames", numberInput("num_frames")),
        field("width", "Width", numberInput("width", "8")),
        field("height", "Height", numberInput("height", "8")),
        field("guidance_scale", "Guidance scale", numberInput("guidance_scale", "0.1")),
        seedField,
        field("num_gpus", "GPUs", numberInput("num_gpus"))),
      h("details", { class: "advanced" },
        h("summary", {}, "Advanced"),
        field("negative_prompt", "Negative prompt", h("textarea", { name: "negative_prompt", id: "cj-negative_prompt", rows: "2" })),
        field("fps", "Frames per second", numberInput("fps")),
        this.checks,
        field("priority", "Priority", numberInput("priority"), "higher runs first, −100 to 100")),
      h("div", { class: "grid" }, field("batch_mode", "Batch", this.batchMode), this.batchCountField),
      checkbox("start", "Start immediately", true),
      this.formError,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn", onclick: () => this.close() }, "Cancel"),
        this.submitButton),
    );
    this.dialog = h("dialog", { class: "create-job", "aria-labelledby": "cj-title" }, this.form);
    this.append(this.dialog);
    this.modelSelect.addEventListener("change", () => this.applyModel(modelById(this.modelSelect.value), true));
    live.addEventListener("download", (event) => this.downloadChanged(event.detail));
    this.checks.addEventListener("change", () => this.updateOffload());
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
      if (file.type.startsWith("image/")) this.setImage(file);
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

  updateOffload() {
    const layerwise = this.control("dit_layerwise_offload")?.checked;
    for (const name of OVERRIDDEN_BY_LAYERWISE) {
      const control = this.control(name);
      if (!control) continue;
      control.disabled = Boolean(layerwise);
      if (layerwise) control.checked = false;
    }
  }

  // The checkboxes of the model's options, in the order the server lists them.
  showOptions(model) {
    const options = model.options || [];
    if (options.join() !== this.options.join()) {
      this.options = options;
      this.checks.replaceChildren(...options.map((name) => checkbox(name, optionLabel(name))), this.retryCheck);
    }
    this.retryCheck.hidden = model.device_kind !== "gpu";
    this.checks.hidden = !options.length && this.retryCheck.hidden;
  }

  updateBatch() {
    this.batchCountField.hidden = this.batchMode.value !== "seeds";
    this.control("prompt").placeholder = this.batchMode.value === "lines"
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

  // Defaults and limits of the chosen model; `fill` replaces the values.
  applyModel(model, fill) {
    if (!model) return;
    this.showWeights(model);
    this.showImageField(model);
    this.showOptions(model);
    const hint = this.form.querySelector("#cj-model_id-hint");
    hint.textContent = model.available ? model.description || "" : `Unavailable: ${model.reason}`;
    for (const name of ["num_inference_steps", "num_frames", "height", "width", "guidance_scale", "fps", "num_gpus"]) {
      const input = this.control(name);
      const limit = (model.limits || {})[name] || {};
      if (limit.min !== undefined && limit.min !== null) input.min = limit.min; else input.removeAttribute("min");
      if (limit.max !== undefined && limit.max !== null) input.max = limit.max; else input.removeAttribute("max");
      const rules = [];
      if (limit.min !== undefined && limit.max !== undefined && limit.max !== null) rules.push(`${limit.min}–${limit.max}`);
      if (limit.multiple_of) rules.push(`multiple of ${limit.multiple_of}`);
      if (limit.form) rules.push(`of the form ${limit.form}`);
      const hintNode = this.form.querySelector(`#cj-${name}-hint`);
      if (name === "num_gpus") {
        const devices = model.device_kind === "gpu" ? "GPU" : "CPU slot";
        const elastic = limit.scope === "ray node";
        if (limit.max === null || limit.max === undefined) {
          hintNode.textContent = elastic ? "the Ray cluster is out of reach: the job waits for it" : "";
        } else {
          hintNode.textContent = `${plural(limit.max, devices)} ` +
            (elastic ? "on the largest Ray node" : "on this server");
        }
      } else {
        hintNode.textContent = rules.join(", ");
      }
      if (fill && model.defaults[name] !== undefined) input.value = model.defaults[name];
    }
    if (fill) {
      this.control("negative_prompt").value = model.defaults.negative_prompt || "";
      for (const name of this.options) this.control(name).checked = Boolean(model.defaults[name]);
      this.updateOffload();
      this.control("priority").value = "0";
      this.control("retry_on_oom").checked = false;
    }
  }

  async open(job = null, { title, image } = {}) {
    this.clearErrors();
    this.clearImage();
    // Continuing from a frame needs a model that takes an image: the job's own, else the first that does.
    let wanted = job ? job.model_id : this.modelSelect.value;
    if (image) {
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
      this.control("prompt").value = job.prompt;
      for (const name of NUMBERS) if (job[name] !== undefined && job[name] !== null) this.control(name).value = job[name];
      for (const name of this.options) this.control(name).checked = Boolean(job[name]);
      this.updateOffload();
      this.control("retry_on_oom").checked = Boolean(job.retry_on_oom);
      this.control("negative_prompt").value = job.negative_prompt || "";
      this.form.querySelector("details.advanced").open = Boolean(job.negative_prompt !== (model?.defaults.negative_prompt || "")
        || this.options.some((name) => Boolean(job[name]) !== Boolean(model?.defaults[name]))
        || Boolean(job.priority) || (Boolean(job.retry_on_oom) && !this.retryCheck.hidden));
    } else {
      this.control("seed").value = randomSeed();
    }
    const imageId = image || (job && job.image);
    if (imageId && model && model.image_input !== "none") this.showImage(imageId, image ? "its last frame" : "");
    this.heading.textContent = title || (job ? "Duplicate job" : "New job");
    this.dialog.showModal();
    this.control("prompt").focus();
  }

  close() {
    this.dialog.close();
  }

  // The chosen model says whether it takes an input image (none, optional, required).
  showImageField(model) {
    const takes = model ? model.image_input || "none" : "none";
    this.imageField.hidden = takes === "none";
    this.form.querySelector("#cj-image-label").textContent =
      takes === "required" ? "Input image (required)" : "Input image (optional)";
  }

  async setImage(file) {
    this.clearError("image");
    this.imageNote.textContent = `Uploading ${file.name || "the image"}…`;
    try {
      const stored = await api.upload(file);
      this.showImage(stored.id, `${stored.width}×${stored.height}`);
    } catch (error) {
      this.imageNote.textContent = "Drop, paste or choose an image";
      const node = this.form.querySelector("#cj-image-error");
      node.textContent = error instanceof ApiError ? error.message : String(error);
      node.hidden = false;
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
    this.control("prompt").value = settings.prompt ?? "";
    this.control("negative_prompt").value = settings.negative_prompt ?? "";
    for (const name of NUMBERS) {
      if (settings[name] !== undefined && settings[name] !== null) this.control(name).value = settings[name];
    }
    this.batchMode.value = "single";
    this.updateBatch();
    const note = model ? "" : ` (its model ${settings.model_id} is not served here)`;
    announce(`Settings read from ${file.name}${note}`);
    if (!model) {
      this.formError.textContent = `${file.name} was made with ${settings.model_id}, which this server does not have`;
      this.formError.hidden = false;
    }
  }

  body() {
    const out = { model_id: this.modelSelect.value, prompt: this.control("prompt").value };
    for (const name of NUMBERS) {
      const text = this.control(name).value.trim();
      // Empty means "the model's default"; anything else the server checks.
      if (text !== "") out[name] = Number(text);
      else if (this.control(name).validity.badInput) out[name] = this.control(name).value;
    }
    out.negative_prompt = oneLine(this.control("negative_prompt").value);
    // Only the settings the model has: the preview renderer is sent no offloads.
    for (const name of this.options) {
      if (!this.control(name).disabled) out[name] = this.control(name).checked;
    }
    if (!this.retryCheck.hidden) out.retry_on_oom = this.control("retry_on_oom").checked;
    if (this.imageId && !this.imageField.hidden) out.image = this.imageId;
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
