// A sweep's jobs laid out as a grid: one axis down the rows, one across the
// columns, and every combination of the other axes' values a tab of its own.
// No DOM and no state (the grid view keeps the layout), so node can test it.
//
// A sweep is GET /api/sweeps/{id}: {axes: {name: [values]} (in axis order),
// jobs: [{id, coords: {name: value}, status, job}]}.

import { fieldsFor, modelLabel } from "./catalogue.js";
import { shown } from "./components/job-fields.js";

const LORA_AXIS = /^loras\.(\d+)\.strength$/;

// An axis in words: its field's label ("Guidance scale"); a LoRA strength axis says which LoRA.
export function axisLabel(name, modelId) {
  if (name === "lora_strength") return "LoRA strength";
  const lora = LORA_AXIS.exec(name);
  if (lora) return `LoRA ${Number(lora[1]) + 1} strength`;
  return fieldsFor(modelId).find((f) => f.name === name)?.ui?.label || name;
}

export function valueText(name, value) {
  return name === "model_id" ? modelLabel(value) : shown(value);
}

// "Guidance scale 3 · Seed 1".
export function describe(coords, modelId) {
  return Object.entries(coords).map(([name, value]) => `${axisLabel(name, modelId)} ${valueText(name, value)}`)
    .join(" · ");
}

// What the sweep's videos show: its prompt, or its prompts where the prompt is an axis.
export function promptOf(sweep) {
  return sweep.base.prompt || (sweep.axes.prompt || []).join(" | ");
}

export function axisNames(sweep) {
  return Object.keys(sweep.axes || {});
}

// The first two axes: rows and columns; a single axis goes across.
export function defaultLayout(sweep) {
  const names = axisNames(sweep);
  if (names.length === 1) return { rows: null, cols: names[0] };
  return { rows: names[0] ?? null, cols: names[1] ?? null };
}

// `which` ("rows" or "cols") becomes `name` (null: none); an axis already on
// the other side changes places with it, so rows and columns never share one.
export function withAxis(layout, which, name) {
  const other = which === "rows" ? "cols" : "rows";
  const next = { ...layout, [which]: name || null };
  if (name && layout[other] === name) next[other] = layout[which];
  return next;
}

// The layout a URL's query asks for ("rows=seed&cols=guidance_scale&tab=1"): {layout, tab}. A query
// that names no rows nor columns, or a name that is no axis of the sweep (or one axis both ways),
// gives the default layout; a tab that is no whole number, the first.
export function layoutQuery(sweep, query) {
  const params = new URLSearchParams(query);
  const names = axisNames(sweep);
  const layout = { rows: params.get("rows") || null, cols: params.get("cols") || null };
  const fits = (params.has("rows") || params.has("cols")) && (!layout.rows || layout.rows !== layout.cols)
    && [layout.rows, layout.cols].every((name) => name === null || names.includes(name));
  const tab = Number(params.get("tab") || 0);
  return { layout: fits ? layout : defaultLayout(sweep), tab: fits && Number.isInteger(tab) && tab > 0 ? tab : 0 };
}

// What the jobs share: of `fields`, those whose summary names no axis (a LoRA strength axis varies
// `loras`) and no value that differs between the `jobs` (a seed each job drew).
export function sharedFields(sweep, jobs, fields) {
  const axes = new Set(axisNames(sweep).map((name) => (name === "lora_strength" ? "loras" : name.split(".")[0])));
  const alike = (name) => jobs.every((job) => JSON.stringify(job[name] ?? null) === JSON.stringify(jobs[0][name] ?? null));
  return fields.filter((f) => {
    const names = [...(f.ui?.summary || "").matchAll(/\{(\w+)/g)].map((match) => match[1]);
    return names.every((name) => !axes.has(name) && alike(name));
  });
}

export function swapped(layout) {
  return { rows: layout.cols, cols: layout.rows };
}

// The axes neither down nor across, in axis order.
export function tabAxes(sweep, layout) {
  return axisNames(sweep).filter((name) => name !== layout.rows && name !== layout.cols);
}

// One tab per combination of the tab axes' values (first axis outermost),
// each its coords; a single tab of no coords where every axis is shown.
export function tabs(sweep, layout) {
  let combos = [{}];
  for (const name of tabAxes(sweep, layout)) {
    combos = combos.flatMap((coords) => sweep.axes[name].map((value) => ({ ...coords, [name]: value })));
  }
  return combos;
}

// The same coordinates whatever the order their keys came in.
function key(coords, names) {
  return JSON.stringify(names.map((name) => coords[name] ?? null));
}

// The grid of one tab: {rows: [value | null], cols: [value | null], cells: [[entry | null]]},
// entry being the sweep's jobs[] item at those coordinates (null: none there).
export function gridOf(sweep, layout, tabCoords = {}) {
  const names = axisNames(sweep);
  const byKey = new Map((sweep.jobs || []).map((entry) => [key(entry.coords, names), entry]));
  const rows = layout.rows ? sweep.axes[layout.rows] : [null];
  const cols = layout.cols ? sweep.axes[layout.cols] : [null];
  const cells = rows.map((row) => cols.map((col) => {
    const coords = { ...tabCoords };
    if (layout.rows) coords[layout.rows] = row;
    if (layout.cols) coords[layout.cols] = col;
    return byKey.get(key(coords, names)) || null;
  }));
  return { rows, cols, cells };
}

// "9 jobs: 3 completed, 6 queued", counts in the order statuses are listed.
export function countsText(counts, total, plural) {
  const parts = Object.entries(counts || {}).filter(([, n]) => n > 0).map(([status, n]) => `${n} ${status}`);
  return `${plural(total, "job")}${parts.length ? `: ${parts.join(", ")}` : ""}`;
}
