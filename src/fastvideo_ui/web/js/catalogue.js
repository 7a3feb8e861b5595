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
