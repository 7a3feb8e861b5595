// With --ray: each node of the cluster, its GPUs and the job holding each one,
// and a warning while the cluster is out of reach (new jobs wait for it). Hidden
// on a server without Ray. Refreshed on "cluster" events (nodes joined or left,
// the cluster lost or back) and whenever a job changes, at most once a second.

import { api } from "../api.js";
import { plural } from "../format.js";
import { live } from "../live.js";
import { h, shortPrompt } from "../ui.js";

const REFRESH_MS = 1000;

export class ClusterPanel extends HTMLElement {
  connectedCallback() {
    if (this.warning) return;
    this.hidden = true;
    this.warning = h("p", { class: "cluster-warning", role: "alert", hidden: true });
    this.summary = h("summary");
    this.nodes = h("ul", { class: "cluster-nodes" });
    this.append(this.warning, h("details", {}, this.summary, this.nodes));
    live.addEventListener("cluster", () => this.refreshSoon());
    this.prompts = new Map(); // job id -> prompt, from the live events
    live.addEventListener("job", (event) => {
      this.prompts.set(event.detail.job.id, event.detail.job.prompt);
      this.refreshSoon();
    });
    live.addEventListener("state", (event) => {
      if (event.detail === "live" || event.detail === "polling") this.refreshSoon();
    });
  }

  refreshSoon() {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.refresh();
    }, this.last && Date.now() - this.last < REFRESH_MS ? REFRESH_MS : 0);
  }

  async refresh() {
    this.last = Date.now();
    let health, gpus;
    try {
      [health, gpus] = await Promise.all([api.health(), api.gpus()]);
    } catch {
      return; // the connection banner says why
    }
    if (!health.ray) {
      this.hidden = true;
      return;
    }
    this.hidden = false;
    this.render(health.ray, gpus.gpus);
    // A job that started before this page listened: its prompt, once.
    const unknown = gpus.gpus.map((gpu) => gpu.job_id).filter((id) => id && !this.prompts.has(id));
    if (unknown.length) {
      for (const id of new Set(unknown)) this.prompts.set(id, null);
      await Promise.all([...new Set(unknown)].map((id) => api.job(id).then(
        (job) => this.prompts.set(id, job.prompt), () => {})));
      this.render(health.ray, gpus.gpus);
    }
  }

  render(ray, gpus) {
    this.warning.hidden = ray.connected;
    this.warning.textContent = ray.connected ? "" :
      `The Ray cluster at ${ray.address} is out of reach: ${ray.error}. New GPU jobs wait for it; ` +
      "jobs that were running there are queued again.";
    const busy = gpus.filter((gpu) => gpu.job_id).length;
    const count = ray.nodes.length;
    this.summary.textContent = `Ray cluster: ${plural(count, "node")}, ${plural(gpus.length, "GPU")}, ${busy} busy`;
    this.nodes.replaceChildren(...ray.nodes.map((node) => {
      const own = gpus.filter((gpu) => gpu.node === node.key);
      return h("li", { dataset: { node: node.key } },
        h("span", { class: "node-name" }, `${node.name} (${node.key})`),
        own.length ? h("ul", {}, own.map((gpu) => this.gpuRow(gpu))) : h("span", { class: "muted" }, " no GPU"));
    }));
  }

  gpuRow(gpu) {
    const prompt = gpu.job_id ? this.prompts.get(gpu.job_id) : null;
    const holder = gpu.job_id
      ? h("span", { class: "holder", title: gpu.job_id }, prompt ? `“${shortPrompt(prompt, 40)}”` : `job ${gpu.job_id.slice(0, 8)}`)
      : h("span", { class: "muted" }, "idle");
    return h("li", { dataset: { gpu: gpu.id, job: gpu.job_id || "" } }, `GPU ${gpu.id.split(":").pop()}: `, holder);
  }
}

customElements.define("cluster-panel", ClusterPanel);
