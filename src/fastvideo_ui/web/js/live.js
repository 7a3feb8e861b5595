// Live job events from GET /api/events (Server-Sent Events), with polling as
// the fallback where SSE is unavailable.
//
// Emits: "job" ({kind: "created" | "updated", job}), "progress", "queue",
// "deleted", "download", "cluster" (--ray: the nodes, or the cluster lost), "resync" (state may have been missed: refetch what is shown) and
// "state" (detail: "connecting" | "live" | "down" | "polling").

import { api } from "./api.js";

const JOB_EVENTS = ["created", "updated"];
const POLL_MS = 3000;
const MAX_BACKOFF_MS = 10000;

export class Live extends EventTarget {
  constructor() {
    super();
    this.state = "connecting";
    this.lastEventId = null;
    this.source = null;
    this.failures = 0; // SSE attempts in a row that never opened
    this.wasDown = false;
  }

  start() {
    if (typeof EventSource === "undefined") this.startPolling();
    else this.connect();
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.emit("state", state);
  }

  connect() {
    // The browser resends Last-Event-ID itself while this source lives; a new
    // source (after the old one gave up) carries it in ?since=.
    const url = this.lastEventId ? `/api/events?since=${encodeURIComponent(this.lastEventId)}` : "/api/events";
    const source = new EventSource(url);
    this.source = source;
    source.onopen = () => {
      this.failures = 0;
      this.setState("live");
      if (this.wasDown) {
        this.wasDown = false;
        this.emit("resync", "reconnected");
      }
    };
    source.onerror = () => {
      if (source.readyState !== EventSource.OPEN) {
        this.failures += 1;
        this.wasDown = true;
      }
      this.checkServer();
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (HTTP error or bad response): retry ourselves.
        const wait = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(this.failures, 4));
        setTimeout(() => this.connect(), wait);
      }
    };
    const handle = (type, wrap) => (event) => {
      if (event.lastEventId) this.lastEventId = event.lastEventId;
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      if (wrap) this.emit("job", { kind: type, job: data });
      else this.emit(type, data);
    };
    for (const type of JOB_EVENTS) source.addEventListener(type, handle(type, true));
    for (const type of ["progress", "queue", "deleted", "download", "cluster"]) source.addEventListener(type, handle(type));
    source.addEventListener("reset", (event) => {
      if (event.lastEventId) this.lastEventId = event.lastEventId;
      this.emit("resync", "reset");
    });
  }

  // Tell "the server is down" apart from "SSE does not get through" (a proxy
  // that buffers or blocks streams): the second falls back to polling.
  async checkServer() {
    if (this.checking) return;
    this.checking = true;
    try {
      // Public, like health, and says whether our session still holds (a
      // restart with a new token ends it; EventSource cannot see a 401).
      const session = await api.session();
      if (session.auth_required && !session.authenticated) {
        document.dispatchEvent(new CustomEvent("auth-required"));
        return;
      }
      if (this.failures >= 3 && this.source && this.source.readyState !== EventSource.OPEN) {
        this.source.close();
        this.startPolling();
      } else if (this.state !== "live") {
        this.setState("connecting");
      }
    } catch {
      this.setState("down");
    } finally {
      this.checking = false;
    }
  }

  startPolling() {
    this.setState("polling");
    const tick = async () => {
      try {
        await api.health();
        if (this.state === "down") this.setState("polling");
        this.emit("resync", "poll");
      } catch {
        this.setState("down");
      }
      setTimeout(tick, POLL_MS);
    };
    tick();
  }
}

export const live = new Live();
