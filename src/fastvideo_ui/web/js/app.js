// Bootstraps the page: routes between views, wires card actions to the API,
// and keyboard shortcuts. Components do the rendering.

import { api } from "./api.js";
import { loadModels } from "./catalogue.js";
import { hasLog, plural } from "./format.js";
import { live } from "./live.js";
import { announce, shortPrompt } from "./ui.js";
import "./components/connection-banner.js";
import "./components/queue-banner.js";
import "./components/cluster-panel.js";
import "./components/compare-bar.js";
import "./components/compare-view.js";
import "./components/confirm-dialog.js";
import "./components/create-job-dialog.js";
import "./components/gallery-view.js";
import "./components/job-detail-dialog.js";
import "./components/job-list.js";
import "./components/log-console.js";
import "./components/login-dialog.js";
import "./components/sweep-grid.js";
import "./components/sweep-list.js";

const $ = (selector) => document.querySelector(selector);

let toastTimer;
function toast(message) {
  const node = $("#toast");
  node.textContent = message;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    node.hidden = true;
  }, 6000);
}

// A job's details have a URL of their own (#/jobs/<id>), over the view that
// was shown (the jobs view when the page opens on one).
const DETAIL = /^\/jobs\/([^/]+)$/;
let shownView = null;
let viewHash = null; // the view's hash before details opened: closing them goes back to it

// A sweep's grid (#/sweeps/<id>?rows=&cols=&tab=, its layout) is a view of its own, under the Sweeps link.
const SWEEP = /^\/sweeps\/([^/]+)$/;

// Compare (#/compare?ids=a,b[&mode=wipe]) shows over no other view; Close goes
// back to the view it was opened from (the jobs view when the page opened on it).
let compareBack = false;

function showCompare(query) {
  if (shownView !== "compare") compareBack = shownView !== null;
  shownView = "compare";
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== "view-compare";
  for (const link of document.querySelectorAll("nav [data-view]")) link.removeAttribute("aria-current");
  document.title = "Compare · fastvideo-ui";
  const params = new URLSearchParams(query);
  const ids = (params.get("ids") || "").split(",").filter(Boolean);
  $("compare-view").show(ids, params.get("mode") || "side").catch((error) => toast(`compare: ${error.message}`));
}

function leaveCompare() {
  if (compareBack) history.back();
  else location.replace("#/jobs");
}

function showView(path, query) {
  if (path === "/compare") return showCompare(query);
  $("#view-compare").hidden = true;
  $("compare-view").leave(); // nothing keeps playing behind another view
  const sweep = SWEEP.exec(path);
  const view = sweep ? "sweep" : path === "/sweeps" ? "sweeps" : path === "/gallery" ? "gallery" : "jobs";
  shownView = view;
  $("#view-jobs").hidden = view !== "jobs";
  $("#view-gallery").hidden = view !== "gallery";
  $("#view-sweeps").hidden = view !== "sweeps";
  $("#view-sweep").hidden = view !== "sweep";
  if (view !== "sweep") $("sweep-grid").leave(); // its clock stops with it
  for (const link of document.querySelectorAll("nav [data-view]")) {
    if (link.dataset.view === view.replace(/^sweep$/, "sweeps")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = view === "gallery" ? "Gallery · fastvideo-ui" : view.startsWith("sweep") ? "Sweeps · fastvideo-ui"
    : "Jobs · fastvideo-ui";
  if (view === "sweeps") {
    $("sweep-list").activate().catch((error) => toast(error.message));
    return;
  }
  if (view === "sweep") {
    $("sweep-grid").activate(decodeURIComponent(sweep[1]), query).catch(() => {}); // the grid says what went wrong
    return;
  }
  const params = new URLSearchParams(query);
  const q = params.get("q") || "";
  const starred = params.get("starred") === "1";
  if (view === "gallery") $("gallery-view").activate({ q, starred }).catch((error) => toast(error.message));
  else $("job-list").setQuery({ status: params.get("status") || "", q, starred });
}

function route() {
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const detail = DETAIL.exec(path);
  if (!detail) {
    viewHash = location.hash || "#/jobs";
    $("job-detail-dialog").dismiss();
    showView(path, query);
    return;
  }
  if (!shownView) showView("/jobs", "");
  const id = decodeURIComponent(detail[1]);
  $("job-detail-dialog").show(id).catch((error) => {
    toast(error.status === 404 ? `No job ${id}: it was deleted, or never existed` : `details: ${error.message}`);
    leaveDetails();
  });
}

// Closing a job's details: back to the view they opened over (Back does the same).
function leaveDetails() {
  if (!DETAIL.test(location.hash.replace(/^#/, "").split("?")[0])) return; // Back already left them
  if (viewHash) {
    history.back();
  } else {
    history.replaceState(null, "", "#/jobs");
    viewHash = "#/jobs";
  }
}

const ACTIONS = {
  async start(job) {
    await api.start(job.id);
  },
  async stop(job) {
    await api.stop(job.id);
    announce(`Stopping “${shortPrompt(job.prompt)}”`);
  },
  async delete(job) {
    const active = job.status === "running" || job.status === "queued";
    // Only what it has: a job that never completed has no video, one that never ran no log.
    const goes = [job.video_url && "video", hasLog(job) && "log"].filter(Boolean);
    const also = goes.length === 2 ? " Its video and log are deleted too."
      : goes.length ? ` Its ${goes[0]} is deleted too.` : "";
    const ok = await $("confirm-dialog").ask(
      `Delete “${shortPrompt(job.prompt, 80)}”?${active ? " It will be stopped first." : ""}${also}`,
      "Delete",
    );
    if (!ok) return;
    await api.remove(job.id);
    announce("Job deleted");
  },
  star: (job) => (job.starred ? api.unstar(job.id) : api.star(job.id)), // the card changes with the job's event
  "move-top": (job) => api.move(job.id, { to: "top" }),
  "move-bottom": (job) => api.move(job.id, { to: "bottom" }),
  "move-before": ({ id, before }) => api.move(id, { before }),
  hold: (job) => api.hold(job.id),
  release: (job) => api.release(job.id),
  duplicate: (job) => $("create-job-dialog").open(job),
  "use-settings": (job) => $("create-job-dialog").open(job, { title: "New job from these settings" }), // a sweep's cell
  continue: async (job) => {
    const frame = await api.lastFrame(job.id);
    $("create-job-dialog").open(job, { title: "Continue from the last frame", upload: frame.id });
  },
  logs: (job) => $("log-console").open(job),
  open: (job) => {
    location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
  },
};

document.addEventListener("job-action", async (event) => {
  const { action, job } = event.detail;
  const run = ACTIONS[action];
  if (!run) return;
  try {
    await run(job);
  } catch (error) {
    toast(`${action} failed: ${error.message}`);
  }
});

document.addEventListener("click", async (event) => {
  if (event.target.closest("[data-action='new-job']")) $("create-job-dialog").open();
  if (event.target.closest("[data-action='toggle-queue']")) {
    const banner = $("queue-banner");
    await banner.setPaused(!banner.paused).catch((error) => toast(`queue: ${error.message}`));
  }
  if (event.target.closest("[data-action='sign-out']")) {
    await api.logOut().catch(() => {});
    location.reload();
  }
});

// A 401 after the page is up (expired session, new token): sign in, then
// reload, so the event stream and every view start over authenticated.
document.addEventListener("auth-required", async () => {
  await $("login-dialog").ask();
  location.reload();
});

// Before anything else asks the API: sign in if this server wants a token.
async function signIn() {
  let session;
  try {
    session = await api.session();
  } catch (error) {
    // 429: this address is locked out after wrong tokens and its cookie is no
    // session; the dialog says how long to wait when it is tried.
    if (error.status !== 429) return; // server down: the banner says so, and a later 401 asks again
    session = { auth_required: true, authenticated: false };
  }
  if (session.auth_required && !session.authenticated) await $("login-dialog").ask();
  $("[data-action='sign-out']").hidden = !session.auth_required;
}

document.addEventListener("keydown", (event) => {
  const typing = event.target.closest("input, textarea, select, [contenteditable]");
  if (typing || event.ctrlKey || event.metaKey || event.altKey || document.querySelector("dialog[open]")) return;
  if (event.key === "n") {
    event.preventDefault();
    $("create-job-dialog").open();
  } else if (event.key === "/") {
    event.preventDefault();
    ($("#view-gallery").hidden ? $("#search") : $("#gallery-search"))?.focus();
  }
});

async function showServer() {
  try {
    const health = await api.health();
    const gpus = health.devices.gpus.length;
    const where = health.ray ? " on Ray" : "";
    $("#server-info").textContent = gpus ? `${plural(gpus, "GPU")}${where}`
      : health.ray ? "Ray: no GPU now" : "CPU preview (no GPU)";
    $("#server-info").title = health.devices.gpu_reason || "";
  } catch {
    // the banner says the server is down
  }
}

window.addEventListener("hashchange", route);
$("job-detail-dialog").addEventListener("details-closed", leaveDetails);
document.addEventListener("compare-closed", leaveCompare);
live.addEventListener("state", (event) => {
  if (event.detail === "live") showServer();
});
await signIn();
await loadModels().catch(() => {});
route();
live.start();
showServer();
