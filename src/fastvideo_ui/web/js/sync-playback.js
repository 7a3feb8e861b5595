// Several <video> elements played from one clock (the sweep grid, compare).
//
//   const sync = new SyncPlayback();
//   sync.add(video); ... sync.play(); sync.pause(); sync.seek(1.5);
//   controls.playback = sync;   // a <sync-controls> element: play/pause, scrub bar, time
//
// How: the master clock is performance.now() based (time = where it was last
// set + the wall time since, while playing); the videos follow it, never the
// other way round, so a slow or stalled one cannot hold the rest back. Each
// video is muted and does not loop itself. On every animation frame, a video
// more than DRIFT seconds off the clock is set to it (currentTime), unless it
// is still seeking from the last correction. The loop is the longest video's
// duration: a shorter one holds its last frame until the clock wraps, and
// then all of them start again at 0 together. A video that has no metadata
// yet (or is added later) joins at the clock's time once it has. remove()
// only forgets a video: the caller owns the element.
//
// Events: "play", "pause", "timeupdate" (each frame while playing, and on
// seek), "durationchange".

import { h } from "./ui.js";

const DRIFT = 0.04; // seconds: about one frame at 24 fps
const END = 0.001; // a video held at its end shows its last frame, not "ended" past it

function ready(video) {
  return video.readyState >= HTMLMediaElement.HAVE_METADATA && Number.isFinite(video.duration) && video.duration > 0;
}

export class SyncPlayback extends EventTarget {
  constructor() {
    super();
    this.videos = new Set();
    this.offset = 0; // the clock's time when it was last set (s)
    this.since = 0; // performance.now() at that moment, while playing
    this.isPlaying = false;
    this.frame = null;
    this.knownDuration = 0;
    this.onMetadata = (event) => this.join(event.target);
  }

  get playing() {
    return this.isPlaying;
  }

  // The longest duration among the videos that have metadata; 0 before any has.
  get duration() {
    let longest = 0;
    for (const video of this.videos) if (ready(video)) longest = Math.max(longest, video.duration);
    return longest;
  }

  get currentTime() {
    const raw = this.isPlaying ? this.offset + (performance.now() - this.since) / 1000 : this.offset;
    const duration = this.duration;
    return duration ? Math.min(raw, duration) : 0;
  }

  emit(type) {
    this.dispatchEvent(new Event(type));
  }

  add(video) {
    if (this.videos.has(video)) return;
    this.videos.add(video);
    video.muted = true;
    video.loop = false;
    video.playsInline = true;
    video.addEventListener("loadedmetadata", this.onMetadata);
    video.addEventListener("durationchange", this.onMetadata);
    if (ready(video)) this.join(video);
  }

  remove(video) {
    if (!this.videos.delete(video)) return;
    video.removeEventListener("loadedmetadata", this.onMetadata);
    video.removeEventListener("durationchange", this.onMetadata);
    this.durationChanged();
  }

  // A video with metadata takes the clock's time (and its state).
  join(video) {
    if (!this.videos.has(video) || !ready(video)) return;
    this.durationChanged();
    this.place(video, this.currentTime, true);
  }

  durationChanged() {
    const duration = this.duration;
    if (duration === this.knownDuration) return;
    this.knownDuration = duration;
    this.emit("durationchange");
  }

  play() {
    if (this.isPlaying) return;
    if (this.duration && this.offset >= this.duration) this.offset = 0; // played to the end: from the start
    this.since = performance.now();
    this.isPlaying = true;
    for (const video of this.videos) this.place(video, this.offset, true);
    this.emit("play");
    this.frame = requestAnimationFrame(() => this.tick());
  }

  pause() {
    if (!this.isPlaying) return;
    this.offset = this.currentTime;
    this.isPlaying = false;
    cancelAnimationFrame(this.frame);
    this.frame = null;
    for (const video of this.videos) this.place(video, this.offset, true);
    this.emit("pause");
    this.emit("timeupdate");
  }

  seek(seconds) {
    const duration = this.duration;
    this.offset = Math.max(0, Math.min(Number(seconds) || 0, duration));
    this.since = performance.now();
    for (const video of this.videos) this.place(video, this.offset, true);
    this.emit("timeupdate");
  }

  tick() {
    if (!this.isPlaying) return;
    const duration = this.duration;
    if (!duration) {
      this.since = performance.now(); // nothing to play yet: the clock waits at 0
    } else if (this.offset + (performance.now() - this.since) / 1000 >= duration) {
      // The longest has ended: every video starts again at 0, together.
      this.offset = 0;
      this.since = performance.now();
      for (const video of this.videos) this.place(video, 0, true);
    } else {
      const now = this.currentTime;
      for (const video of this.videos) this.place(video, now, false);
    }
    this.emit("timeupdate");
    this.frame = requestAnimationFrame(() => this.tick());
  }

  // One video to the clock: `force` sets its time whatever its drift (a
  // seek, play, pause, or joining); otherwise only a drift past DRIFT is corrected.
  place(video, time, force) {
    if (!ready(video)) return;
    const end = Math.max(0, video.duration - END);
    const target = Math.min(time, end);
    const held = time >= end; // a shorter video, past its end: its last frame until the loop
    const off = Math.abs(video.currentTime - target) > DRIFT;
    if ((force && video.currentTime !== target) || (off && !video.seeking)) video.currentTime = target;
    if (this.isPlaying && !held) {
      if (video.paused) video.play().catch(() => {}); // muted, so autoplay rules allow it; a removed video refuses
    } else if (!video.paused) {
      video.pause();
    }
  }
}

// The time in words: "1.2 / 3.4 s".
function clockText(time, duration) {
  return `${time.toFixed(1)} / ${duration.toFixed(1)} s`;
}

const STEP = 0.1; // seconds an arrow key moves the scrub bar; Shift: a second

// <sync-controls>: play/pause, a scrub bar and the time for one SyncPlayback
// (set `.playback`). Space or Enter on the button plays and pauses; the scrub
// bar takes arrows (Shift for a second), Home and End.
export class SyncControls extends HTMLElement {
  connectedCallback() {
    if (this.button) return;
    this.button = h("button", { type: "button", class: "btn", "aria-label": "Play" }, "▶ Play");
    this.range = h("input", { type: "range", min: "0", max: "0", step: "any", value: "0",
      "aria-label": "Position", disabled: true });
    this.time = h("span", { class: "sync-time", "aria-live": "off" }, clockText(0, 0));
    this.button.addEventListener("click", () => {
      if (!this.sync) return;
      if (this.sync.playing) this.sync.pause();
      else this.sync.play();
    });
    this.range.addEventListener("input", () => this.sync?.seek(Number(this.range.value)));
    this.range.addEventListener("keydown", (event) => this.key(event));
    this.append(this.button, this.range, this.time);
    this.listener = () => this.render();
    if (this.sync) this.bind(this.sync);
  }

  get playback() {
    return this.sync || null;
  }

  set playback(sync) {
    if (this.sync === sync) return;
    if (this.sync) for (const type of ["play", "pause", "timeupdate", "durationchange"]) {
      this.sync.removeEventListener(type, this.listener);
    }
    this.sync = sync;
    if (this.button && sync) this.bind(sync);
  }

  bind(sync) {
    for (const type of ["play", "pause", "timeupdate", "durationchange"]) sync.addEventListener(type, this.listener);
    this.render();
  }

  key(event) {
    if (!this.sync) return;
    const step = event.shiftKey ? 1 : STEP;
    const moves = { ArrowLeft: -step, ArrowDown: -step, ArrowRight: step, ArrowUp: step };
    let to = null;
    if (event.key in moves) to = this.sync.currentTime + moves[event.key];
    else if (event.key === "Home") to = 0;
    else if (event.key === "End") to = this.sync.duration;
    if (to === null) return;
    event.preventDefault();
    this.sync.seek(to);
  }

  render() {
    const sync = this.sync;
    const duration = sync ? sync.duration : 0;
    const time = sync ? sync.currentTime : 0;
    const playing = Boolean(sync && sync.playing);
    const label = playing ? "Pause" : "Play";
    if (this.button.getAttribute("aria-label") !== label) {
      this.button.setAttribute("aria-label", label);
      this.button.textContent = playing ? "❚❚ Pause" : "▶ Play";
    }
    this.button.disabled = !duration;
    this.range.disabled = !duration;
    this.range.max = String(duration);
    if (document.activeElement !== this.range || !playing) this.range.value = String(time);
    this.range.setAttribute("aria-valuetext", clockText(time, duration));
    const text = clockText(time, duration);
    if (this.time.textContent !== text) this.time.textContent = text;
  }
}

customElements.define("sync-controls", SyncControls);
