// The per-job fields as /api/models serves them for a model (spec/served.py
// `fields`: name, type, that model's default and bounds, and `ui`: label,
// widget, section, templates). The New job dialog's controls, a job's detail
// rows and a card's one-line summary are all built from them, so a field
// added to the spec needs no code here. No state: the caller keeps it.

import { oneLine, plural, randomSeed } from "../format.js";
import { h } from "../ui.js";

// A value in words, as Python's rules.shown writes it: a number or text as
// String() does; a record (a list field's item) its values joined by ":"
// ("style.safetensors:0.8", as the CLI takes it; a null left out); a list
// its items joined by ", ".
export function shown(value) {
  if (Array.isArray(value)) return value.map(shown).join(", ");
  if (value !== null && typeof value === "object") {
    return Object.values(value).filter((item) => item !== null && item !== undefined).map(shown).join(":");
  }
  return String(value);
}

// spec/rules.py's mini-template: "{name}" is the value; "{name|noun}" the
// count with its noun ("33 frames"); the noun "device" is the model's
// ("GPU", "CPU slot").
const SLOT = /\{(\w+)(?:\|([\w ]+))?\}/g;

export function fill(template, values, device = "GPU") {
  return template.replace(SLOT, (_, name, noun) => (noun === undefined
    ? shown(values[name])
    : plural(values[name], noun === "device" ? device : noun)));
}

const emptyList = (value) => Array.isArray(value) && value.length === 0;

// A job's settings in one line, as spec/rules.summarize writes it:
// "512×512 · 33 frames @ 16 fps · 600 steps · cfg 5 · seed 4242".
export function summary(values, fields, device = "GPU") {
  return fields
    .filter((f) => f.ui && f.ui.summary)
    .sort((a, b) => a.ui.summary_at - b.ui.summary_at)
    .filter((f) => (f.ui.summary_unless === null || values[f.name] !== f.ui.summary_unless)
      && !emptyList(values[f.name]))
    .map((f) => fill(f.ui.summary, values, device))
    .join(" · ");
}

// The files a job names in its upload fields (spec `upload`: "<name>_url"
// in the job JSON), each {url, label}.
export function inputFiles(job, fields) {
  return fields.filter((f) => f.upload && job[`${f.name}_url`])
    .map((f) => ({ url: job[`${f.name}_url`], label: f.ui ? f.ui.label : f.name }));
}

// A job's rows in its details, in spec order: {label, text, field}. Booleans
// of one `ui.group` share a row ("Offload: dit_layerwise, vae"); an empty
// value reads "—".
export function detailRows(values, fields, device = "GPU") {
  const rows = [];
  const groups = new Map();
  for (const f of fields) {
    const ui = f.ui;
    if (!ui || ui.detail === null) continue;
    if (ui.group) {
      if (!groups.has(ui.group)) {
        const members = [];
        groups.set(ui.group, members);
        rows.push({ label: ui.group, field: f, members });
      }
      groups.get(ui.group).push(f);
    } else {
      rows.push({ label: ui.detail_label || ui.label, field: f });
    }
  }
  return rows.map(({ label, field, members }) => {
    let text;
    if (members) {
      text = members.filter((f) => values[f.name]).map((f) => f.ui.short || f.name).join(", ") || "none";
    } else if (field.type === "boolean") {
      text = values[field.name] ? "yes" : "no";
    } else if (field.ui.detail === "{value}") {
      const value = values[field.name];
      text = value === "" || value === null || value === undefined || emptyList(value) ? "—" : shown(value);
    } else {
      text = fill(field.ui.detail, values, device);
    }
    return { label, text, field };
  });
}

// What a job of this model runs with when it says nothing, by field name.
export function defaultsOf(fields) {
  return Object.fromEntries(fields.map((f) => [f.name, f.default]));
}

// --- The dialog's controls. Ids are "cj-<name>", "-hint", "-error"; data-field is the name.

export function fieldNode(name, label, control, hint = "") {
  control.id ||= `cj-${name}`;
  control.name ||= name;
  const error = h("p", { class: "field-error", id: `cj-${name}-error`, hidden: true });
  const hintNode = h("p", { class: "hint", id: `cj-${name}-hint` }, hint);
  control.setAttribute("aria-describedby", `${hintNode.id} ${error.id}`);
  return h("div", { class: "field", dataset: { field: name } },
    h("label", { for: control.id }, label), control, hintNode, error);
}

export function checkNode(name, label, checked = false) {
  const input = h("input", { type: "checkbox", name, id: `cj-${name}`, checked });
  return h("div", { class: "check", dataset: { field: name } }, input, h("label", { for: input.id }, label),
    h("p", { class: "field-error", id: `cj-${name}-error`, hidden: true }));
}

function numberInput(f) {
  const step = String(f.ui.step ?? (f.type === "integer" ? 1 : "any"));
  return h("input", { type: "number", name: f.name, id: `cj-${f.name}`, step,
    inputmode: step === "1" ? "numeric" : "decimal" });
}

const WIDGETS = {
  // A required text gets room for a paragraph; the others a line or two.
  textarea: (f) => fieldNode(f.name, f.ui.label, h("textarea", { name: f.name, id: `cj-${f.name}`,
    rows: f.required ? "4" : "2", required: f.required })),
  text: (f) => fieldNode(f.name, f.ui.label, h("input", { type: "text", name: f.name, id: `cj-${f.name}` })),
  number: (f) => fieldNode(f.name, f.ui.label, numberInput(f)),
  devices: (f) => fieldNode(f.name, f.ui.label, numberInput(f)),
  check: (f) => checkNode(f.name, f.ui.label),
  // Empty: the server's choice (FastVideo's own), then each of the spec's choices.
  select: (f) => fieldNode(f.name, f.ui.label, h("select", { name: f.name, id: `cj-${f.name}` },
    h("option", { value: "" }, f.nullable ? "automatic" : "default"),
    ...(f.choices || []).map((choice) => h("option", { value: String(choice) }, String(choice))))),
  seed: (f) => {
    const input = numberInput(f);
    const node = fieldNode(f.name, f.ui.label, input);
    input.after(h("button", { type: "button", class: "btn", onclick: () => { input.value = randomSeed(); } },
      "Randomize"));
    return node;
  },
};

// The nodes of one section's fields, in spec order; a section's checkboxes
// gather in one .checks block where the first falls. `own`: the caller's
// builders by widget (the model picker, the upload); `cache`: nodes by field,
// kept across models so a value typed in stays.
export function renderFields(fields, section, { own = {}, cache = new Map() } = {}) {
  const nodes = [];
  let checks = null;
  for (const f of fields) {
    if (!f.ui || f.ui.section !== section) continue;
    const key = `${f.name}\n${f.ui.widget}\n${f.ui.label}`;
    if (!cache.has(key)) cache.set(key, (own[f.ui.widget] || WIDGETS[f.ui.widget] || WIDGETS.text)(f));
    const node = cache.get(key);
    if (f.ui.widget === "check") {
      if (!checks) nodes.push((checks = h("div", { class: "checks" })));
      checks.append(node);
    } else {
      nodes.push(...[node].flat());
    }
  }
  return nodes;
}

// `parent`'s children become `nodes`, moving only what moved (a focused control stays focused).
export function place(parent, nodes) {
  nodes.forEach((node, index) => {
    if (parent.children[index] !== node) parent.insertBefore(node, parent.children[index] || null);
  });
  while (parent.children.length > nodes.length) parent.lastElementChild.remove();
}

function controlOf(form, f) {
  const control = f.ui && f.ui.widget !== "upload" ? form.elements.namedItem(f.name) : null;
  return control instanceof Element ? control : null;
}

// The limits in words ("1–200, multiple of 16, of the form 4k+1"), or the field's own hint;
// devices: how many this server (or the largest Ray node) has.
export function hintOf(f, device = "GPU") {
  if (f.ui.hint !== null) return f.ui.hint;
  const ray = f.scope === "ray node";
  if (f.ui.widget === "devices") {
    if (f.maximum === null) return ray ? "the Ray cluster is out of reach: the job waits for it" : "";
    return `${plural(f.maximum, device)} ${ray ? "on the largest Ray node" : "on this server"}`;
  }
  const rules = [];
  if (f.minimum !== null && f.maximum !== null) rules.push(`${f.minimum}–${f.maximum}`);
  if (f.multiple_of) rules.push(`multiple of ${f.multiple_of}`);
  if (f.form) rules.push(`of the form ${f.form}`);
  return rules.join(", ");
}

// The chosen model's bounds on the number controls, and their hints.
export function limitFields(form, fields, device = "GPU") {
  for (const f of fields) {
    const control = controlOf(form, f);
    if (!control || control.type !== "number") continue;
    for (const [attribute, value] of [["min", f.minimum], ["max", f.maximum]]) {
      if (value === null) control.removeAttribute(attribute);
      else control.setAttribute(attribute, value);
    }
    const hint = form.querySelector(`#cj-${CSS.escape(f.name)}-hint`);
    if (hint) hint.textContent = hintOf(f, device);
  }
}

// `values` into the controls, by name; a value that is missing (or null) leaves its control as it is.
// The model is the caller's to choose (choosing it changes the fields).
export function fillFields(form, fields, values) {
  for (const f of fields) {
    const control = f.ui && f.ui.widget !== "model" ? controlOf(form, f) : null;
    const value = values[f.name];
    if (!control || value === undefined || value === null) continue;
    if (control.type === "checkbox") control.checked = Boolean(value);
    else control.value = value;
  }
}

// FastVideo switches a field off while its `off_when` field is on: shown unchecked and disabled.
export function applyOffWhen(form, fields) {
  for (const f of fields) {
    const control = f.off_when ? controlOf(form, f) : null;
    const master = control ? form.elements.namedItem(f.off_when) : null;
    if (!control) continue;
    const on = Boolean(master && master.checked);
    control.disabled = on;
    if (on) control.checked = false;
  }
}

// The request body's part for these fields: empty number means "the model's default"
// (left out), an unparsable one is sent as typed for the server to name; a
// disabled check is left out; a textarea is one line.
export function readFields(form, fields) {
  const out = {};
  for (const f of fields) {
    const control = controlOf(form, f);
    if (!control) continue; // not shown (a secret), or the caller's own (the upload)
    if (control.type === "checkbox") {
      if (!control.disabled) out[f.name] = control.checked;
    } else if (control.type === "number") {
      const text = control.value.trim();
      if (text !== "") out[f.name] = Number(text);
      else if (control.validity.badInput) out[f.name] = control.value;
    } else if (control.localName === "select") {
      if (control.value !== "") out[f.name] = control.value;
    } else {
      out[f.name] = f.ui.widget === "textarea" ? oneLine(control.value) : control.value;
    }
  }
  return out;
}
