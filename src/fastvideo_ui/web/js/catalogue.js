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

// The upload fields of every served model, once each: a job's input files
// are shown wherever the job is, its model served here or not.
export function uploadFields() {
  const byName = new Map();
  for (const model of models) {
    for (const field of model.fields || []) if (field.upload && !byName.has(field.name)) byName.set(field.name, field);
  }
  return [...byName.values()];
}

// The per-job fields of a job's model as /api/models serves them (labels,
// detail and summary templates). A model no longer served: the fields every
// served model has, since a field's words and templates are its own, not a model's.
export function fieldsFor(modelId) {
  const model = modelById(modelId);
  if (model) return model.fields || [];
  const lists = models.map((each) => each.fields || []);
  return (lists[0] || []).filter((field) => lists.every((list) => list.some((other) => other.name === field.name)));
}
