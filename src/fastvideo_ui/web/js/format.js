// Pure formatting helpers: no DOM, no state.

// Every count shown in words: "1 video", "2 videos".
export function plural(count, noun, nouns = `${noun}s`) {
  return `${count} ${count === 1 ? noun : nouns}`;
}

export function bytes(count) {
  if (count === null || count === undefined || !Number.isFinite(count)) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = count;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

// A model's weights, in words: cached, downloading with progress, or not here.
export function weightsText(weights) {
  if (!weights) return "";
  const download = weights.download;
  if (download && download.status === "waiting") return "Weights: waiting for another download to finish";
  if (download && (download.status === "starting" || download.status === "downloading")) {
    const total = download.bytes_total ? ` / ${bytes(download.bytes_total)}` : "";
    const rate = download.rate_bytes_per_s ? `, ${bytes(download.rate_bytes_per_s)}/s` : "";
    const eta = download.eta_seconds !== null && download.eta_seconds !== undefined
      ? `, ${duration(download.eta_seconds)} left` : "";
    return `Weights: downloading ${bytes(download.bytes_done)}${total}${rate}${eta}`;
  }
  if (weights.cached) return `Weights: downloaded (${bytes(weights.size_bytes)})`;
  const why = download && download.status === "failed" ? ` (last try failed: ${download.error})`
    : download && download.status === "cancelled" ? " (download cancelled)" : "";
  const partial = weights.size_bytes ? `, ${bytes(weights.size_bytes)} of them so far` : "";
  return `Weights: not downloaded${partial}${why}; the first job fetches them, or download them now`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${String(m % 60).padStart(2, "0")}m`;
}

// To the minute: a list of cards whose times changed every second would never be still.
export function ago(epochSeconds, now = Date.now() / 1000) {
  const s = now - epochSeconds;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 3600 * 24) return `${Math.floor(s / 3600)}h ago`;
  return new Date(epochSeconds * 1000).toLocaleDateString();
}

// When ago(epochSeconds) next reads differently (epoch seconds; Infinity once it is a date).
export function agoChangesAt(epochSeconds, now = Date.now() / 1000) {
  const s = Math.max(0, now - epochSeconds);
  const unit = s < 3600 ? 60 : s < 3600 * 24 ? 3600 : null;
  return unit === null ? Infinity : epochSeconds + (Math.floor(s / unit) + 1) * unit;
}

export function timestamp(epochSeconds) {
  return epochSeconds ? new Date(epochSeconds * 1000).toLocaleString() : "";
}

// The timing line of a card: what happened last, and how long things took.
export function timings(job, now = Date.now() / 1000) {
  const parts = [`created ${ago(job.created_at, now)}`];
  if (job.started_at && job.queued_at) parts.push(`waited ${duration(job.started_at - job.queued_at)}`);
  if (job.status === "running" && job.started_at) parts.push(`running ${duration(now - job.started_at)}`);
  else if (job.started_at && job.finished_at) parts.push(`ran ${duration(job.finished_at - job.started_at)}`);
  return parts.join(" · ");
}

export function progressText(job) {
  const parts = [];
  if (job.phase) parts.push(job.phase);
  if (job.total_steps) parts.push(`step ${job.step ?? 0}/${job.total_steps}`);
  if (job.eta_seconds !== null && job.eta_seconds !== undefined) parts.push(`ETA ${duration(job.eta_seconds)}`);
  if (!parts.length && job.progress_msg) parts.push(job.progress_msg);
  return parts.join(" · ");
}

export const FINISHED = new Set(["completed", "failed", "stopped"]);

export const STATUS_LABEL = {
  pending: "Pending",
  queued: "Queued",
  running: "Running",
  completed: "Completed",
  failed: "Failed",
  stopped: "Stopped",
};

// Which run of its job this is; a queued job's is the run it waits for, so a
// job put back in the queue (a restart, a lost machine) reads "run 2" at once.
export function runNumber(job) {
  const waiting = job.status === "queued" || job.status === "pending";
  return (job.attempts || 0) + (waiting ? 1 : 0);
}

// How far a stopped or failed run got ("at step 235/3000", after its status:
// "Stopped at step 235/3000"); "" where its steps are not known (it ended
// before denoising, or never ran).
export function reachedText(job) {
  if ((job.status !== "stopped" && job.status !== "failed") || !job.total_steps) return "";
  return `at step ${job.step ?? 0}/${job.total_steps}`;
}

// Whether a job has a log worth showing: one that never ran has only its "created" line.
export function hasLog(job) {
  return job.status !== "pending" || job.attempts > 0;
}

export function randomSeed() {
  const value = new Uint32Array(1);
  crypto.getRandomValues(value);
  return value[0];
}

// The line breaks a prompt may be pasted with (prompts.py's list): the
// server takes a prompt as one line, since FastVideo echoes it where progress is read.
const LINE_BREAK = /\s*[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]\s*/g;

export function promptLines(text) {
  return text.split(LINE_BREAK).map((line) => line.trim()).filter(Boolean);
}

export function oneLine(text) {
  return text.replace(LINE_BREAK, " ").trim();
}
