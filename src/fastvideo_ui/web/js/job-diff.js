// What differs between jobs shown side by side (Compare): the per-job fields
// of their models (/api/models `fields`) whose values are not the same in
// every job, and each value in words. No DOM, no state: node runs it too.

import { shown } from "./components/job-fields.js";

// The fields that make a video: the ones a video's settings keep (`restore`)
// and its input files; not the scheduling ones (priority, devices) nor a secret.
function makesTheVideo(f) {
  return Boolean(f.ui) && !f.secret && (f.restore || f.upload);
}

const valueKey = (job, f) => JSON.stringify(job[f.name] ?? null); // missing and null: the model's default

// `fieldsOf(modelId)`: a model's fields (catalogue.fieldsFor). In the first
// model's order, then any field only a later job's model has.
export function differingFields(jobs, fieldsOf) {
  const byName = new Map();
  for (const job of jobs) {
    for (const f of fieldsOf(job.model_id)) if (makesTheVideo(f) && !byName.has(f.name)) byName.set(f.name, f);
  }
  return [...byName.values()].filter((f) => new Set(jobs.map((job) => valueKey(job, f))).size > 1);
}

// One job's value of a field in words; `modelName(id)` names a model (its label).
export function valueText(job, f, modelName = (id) => id) {
  const value = job[f.name];
  if (f.ui.widget === "model") return modelName(value);
  if (f.type === "boolean") return value ? "yes" : "no";
  if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) return "—";
  return shown(value);
}

// Per job, [{field, label, text}] of the fields that differ.
export function differences(jobs, fieldsOf, modelName) {
  const fields = differingFields(jobs, fieldsOf);
  return jobs.map((job) => fields.map((f) => ({ field: f.name, label: f.ui.label, text: valueText(job, f, modelName) })));
}
