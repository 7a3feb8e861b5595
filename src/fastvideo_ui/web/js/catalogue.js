// The model catalogue (GET /api/models), fetched once and shared.

import { api } from "./api.js";

let models = [];
let loading = null;

export function loadModels({ reload = false } = {}) {
  if (!loading || reload) {
    loading = api.models().then((list) => {
      models = list;
      return list;
    });
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

export function modelById(id) {
  return models.find((model) => model.id === id) || null;
}

export function modelLabel(id) {
  const model = modelById(id);
  return model ? model.label : id;
}

// What a job of this model runs on, in words: a GPU, or a CPU slot (the preview renderer).
export function deviceNoun(modelId) {
  return modelById(modelId)?.device_kind === "cpu" ? "CPU slot" : "GPU";
}

// Words for the settings /api/models lists in a model's `options` (which of
// them a model has comes from there, never from here); a name with no words
// here is shown as it is.
const OPTION_LABELS = {
  dit_layerwise_offload: "Offload DiT layer by layer",
  dit_cpu_offload: "Offload DiT to CPU (with layer-by-layer off)",
  text_encoder_cpu_offload: "Offload text encoder to CPU",
  vae_cpu_offload: "Offload VAE to CPU",
  use_fsdp_inference: "FSDP inference",
};

export function optionLabel(name) {
  return OPTION_LABELS[name] || name;
}
