// Every HTTP call the UI makes goes through here, so errors have one shape.

export class ApiError extends Error {
  constructor(status, detail) {
    super(ApiError.describe(status, detail));
    this.status = status;
    this.detail = detail;
  }

  // FastAPI's 422 detail is [{loc: ["body", field, ...], msg}]; this maps field -> messages. A list
  // field's item is named within it ("loras", "#2 strength: ...").
  get fieldErrors() {
    const out = {};
    if (this.status === 422 && Array.isArray(this.detail)) {
      for (const item of this.detail) {
        const loc = Array.isArray(item.loc) ? item.loc : [];
        const field = loc.length > 1 ? String(loc[1]) : "_form";
        const within = loc.slice(2).map((part) => (typeof part === "number" ? `#${part + 1}` : part)).join(" ");
        (out[field] ??= []).push(within ? `${within}: ${item.msg}` : item.msg);
      }
    }
    return out;
  }

  static describe(status, detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => `${(d.loc || []).slice(1).join(".") || "request"}: ${d.msg}`).join("; ");
    }
    return status ? `HTTP ${status}` : "The server cannot be reached";
  }
}

// A network failure (server down) is ApiError with status 0.
async function request(method, path, { body, params, file } = {}) {
  let url = path;
  if (params) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") query.set(key, value);
    }
    const text = query.toString();
    if (text) url += `?${text}`;
  }
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (file !== undefined) {
    init.headers["Content-Type"] = file.type || "application/octet-stream";
    init.body = file;
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, null);
  }
  let data = null;
  if ((response.headers.get("content-type") || "").includes("application/json")) {
    data = await response.json();
  }
  if (response.status === 401 && !path.startsWith("/api/session")) {
    // The session expired or the token changed: the page asks to sign in again.
    document.dispatchEvent(new CustomEvent("auth-required"));
  }
  if (!response.ok) throw new ApiError(response.status, data && data.detail);
  return { data, headers: response.headers };
}

export const api = {
  async listJobs({ limit, before, status, q, starred } = {}) {
    const { data, headers } = await request("GET", "/api/jobs", { params: { limit, before, status, q, starred } });
    return {
      jobs: data,
      total: Number(headers.get("X-Total-Count") ?? data.length),
      nextBefore: headers.get("X-Next-Before"),
    };
  },
  job: async (id) => (await request("GET", `/api/jobs/${id}`)).data,
  create: async (body) => (await request("POST", "/api/jobs", { body })).data,
  start: async (id) => (await request("POST", `/api/jobs/${id}/start`)).data,
  stop: async (id) => (await request("POST", `/api/jobs/${id}/stop`)).data,
  remove: async (id) => (await request("DELETE", `/api/jobs/${id}`)).data,
  move: async (id, where) => (await request("POST", `/api/jobs/${id}/move`, { body: where })).data,
  setPriority: async (id, priority) => (await request("POST", `/api/jobs/${id}/priority`, { body: { priority } })).data,
  hold: async (id) => (await request("POST", `/api/jobs/${id}/hold`)).data,
  release: async (id) => (await request("POST", `/api/jobs/${id}/release`)).data,
  queue: async () => (await request("GET", "/api/queue")).data,
  pauseQueue: async () => (await request("POST", "/api/queue/pause")).data,
  resumeQueue: async () => (await request("POST", "/api/queue/resume")).data,
  logs: async (id, after, limit) => (await request("GET", `/api/jobs/${id}/logs`, { params: { after, limit } })).data,
  // The settings a video was made with, read from inside the MP4 by the server.
  videoSettings: async (file) => (await request("POST", "/api/media/settings",
    { file: file.type ? file : new Blob([file], { type: "video/mp4" }) })).data.settings,
  // An input image: stored by the server (cleaned, by content); the job names its id.
  upload: async (file) => (await request("POST", "/api/uploads", { file })).data,
  // The LoRA library (GET /api/loras), and a .safetensors file added to it (streamed, checked by its header).
  loras: async () => (await request("GET", "/api/loras")).data,
  addLora: async (file) => (await request("POST", "/api/loras", { params: { name: file.name },
    file: new Blob([file], { type: "application/octet-stream" }) })).data,
  // A job's star (favourite): the answer is the job; a job event follows.
  star: async (id) => (await request("POST", `/api/jobs/${id}/star`)).data,
  unstar: async (id) => (await request("DELETE", `/api/jobs/${id}/star`)).data,
  // Named saved settings; `apply` re-validates them now and answers {model_id, values}.
  presets: async () => (await request("GET", "/api/presets")).data,
  createPreset: async (body) => (await request("POST", "/api/presets", { body })).data,
  updatePreset: async (id, body) => (await request("PATCH", `/api/presets/${id}`, { body })).data,
  deletePreset: async (id) => (await request("DELETE", `/api/presets/${id}`)).data,
  applyPreset: async (id, modelId) => (await request("POST", `/api/presets/${id}/apply`,
    { body: modelId ? { model_id: modelId } : {} })).data,
  exportPresets: async () => (await request("GET", "/api/presets/export")).data,
  importPresets: async (presets, replace = false) => (await request("POST", "/api/presets/import",
    { body: { presets, replace } })).data,
  // Sweeps: a base job's settings times axes of values, one job per combination (coords).
  // A page of sweeps, newest first, each light (its base's model and prompt, its axes' values cut).
  async sweeps({ limit, before } = {}) {
    const { data, headers } = await request("GET", "/api/sweeps", { params: { limit, before } });
    return {
      sweeps: data,
      total: Number(headers.get("X-Total-Count") ?? data.length),
      nextBefore: headers.get("X-Next-Before"),
    };
  },
  sweep: async (id) => (await request("GET", `/api/sweeps/${encodeURIComponent(id)}`)).data,
  createSweep: async (body) => (await request("POST", "/api/sweeps", { body })).data,
  startSweep: async (id) => (await request("POST", `/api/sweeps/${encodeURIComponent(id)}/start`)).data,
  stopSweep: async (id) => (await request("POST", `/api/sweeps/${encodeURIComponent(id)}/stop`)).data,
  deleteSweep: async (id) => (await request("DELETE", `/api/sweeps/${encodeURIComponent(id)}`)).data,
  lastFrame: async (id) => (await request("POST", `/api/uploads/from-job/${id}`)).data,
  download: async (modelId) => (await request("POST", `/api/models/${modelId}/download`)).data,
  cancelDownload: async (modelId) => (await request("DELETE", `/api/models/${modelId}/download`)).data,
  models: async () => (await request("GET", "/api/models")).data,
  health: async () => (await request("GET", "/api/health")).data,
  gpus: async () => (await request("GET", "/api/gpus")).data,
  session: async () => (await request("GET", "/api/session")).data,
  logIn: async (token) => (await request("POST", "/api/session", { body: { token } })).data,
  logOut: async () => (await request("DELETE", "/api/session")).data,
};
