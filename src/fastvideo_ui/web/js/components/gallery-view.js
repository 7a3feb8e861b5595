// Completed videos as a grid of posters: hover or focus plays a muted loop in
// place, a click opens the job's details. Paged like the jobs view; the search
// and the Starred filter live in the URL (#/gallery?q=...&starred=1), as the
// jobs view's do. A tile's corner has its star and its pick for Compare.

import { deviceNoun, fieldsFor, uploadFields } from "../catalogue.js";
import { JobFeed } from "../feed.js";
import { plural } from "../format.js";
import { live } from "../live.js";
import { selection } from "../selection.js";
import { h, requestAction, setText } from "../ui.js";
import { inputFiles, summary } from "./job-fields.js";
import { pickBox, showPick, showStar, starButton } from "./job-marks.js";

export class GalleryView extends HTMLElement {
  // Built on first show: the gallery costs nothing until someone opens it.
  // `q`, `starred`: the search and filter from the URL; the same again keeps what is shown.
  activate({ q = "", starred = false } = {}) {
    if (this.feed) {
      if (q === this.search.value && starred === this.starred.checked) return this.feed.loading || Promise.resolve();
      this.search.value = q;
      this.starred.checked = starred;
      return this.applyQuery();
    }
    this.tiles = new Map(); // id -> the tile's box (the tile's button and its corner's controls)
    this.feed = new JobFeed(live, { statuses: ["completed"], q, starred });
    this.starred = h("input", { type: "checkbox", id: "gallery-starred", checked: starred,
      onchange: () => this.queryChanged() });
    this.count = h("span", { class: "count" });
    this.search = h("input", { id: "gallery-search", type: "search", placeholder: "Search prompts", autocomplete: "off",
      value: q });
    let debounce;
    this.search.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => this.queryChanged(), 250);
    });
    this.grid = h("div", { class: "gallery-grid" });
    this.empty = h("p", { class: "empty", hidden: true });
    this.more = h("button", { type: "button", class: "btn more", hidden: true, onclick: () => this.feed.loadMore() },
      "Load more");
    this.append(
      h("div", { class: "toolbar", role: "search" },
        h("label", { for: "gallery-search", class: "visually-hidden" }, "Search prompts"), this.search,
        h("label", { class: "filter-check" }, this.starred, "★ Starred"), this.count),
      this.empty, this.grid, this.more);
    new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) this.feed.loadMore();
    }, { rootMargin: "600px 0px" }).observe(this.more);
    this.feed.addEventListener("reset", () => this.renderAll());
    this.feed.addEventListener("insert", (e) => {
      const next = this.feed.items[e.detail.index + 1];
      this.grid.insertBefore(this.tile(e.detail.job), next ? this.tiles.get(next.id) || null : null);
      this.chrome();
    });
    selection.addEventListener("change", () => {
      for (const box of this.tiles.values()) box.showMarks();
    });
    this.feed.addEventListener("update", (e) => {
      const box = this.tiles.get(e.detail.job.id);
      if (box && box.sameLook(e.detail.job)) {
        box.showMarks(e.detail.job); // a star: the focused button stays
        return;
      }
      box?.remove();
      this.tiles.delete(e.detail.job.id);
      const index = this.feed.items.indexOf(e.detail.job);
      const next = this.feed.items[index + 1];
      this.grid.insertBefore(this.tile(e.detail.job), next ? this.tiles.get(next.id) || null : null);
    });
    this.feed.addEventListener("remove", (e) => {
      this.tiles.get(e.detail.id)?.remove();
      this.tiles.delete(e.detail.id);
      this.chrome();
    });
    this.feed.addEventListener("total", () => this.chrome());
    return this.feed.refresh();
  }

  queryChanged() {
    const params = new URLSearchParams();
    if (this.search.value.trim()) params.set("q", this.search.value.trim());
    if (this.starred.checked) params.set("starred", "1");
    const query = params.toString();
    history.replaceState(null, "", `#/gallery${query ? `?${query}` : ""}`);
    this.applyQuery();
  }

  applyQuery() {
    return this.feed.setQuery({ statuses: ["completed"], q: this.search.value, starred: this.starred.checked });
  }

  renderAll() {
    this.tiles.clear();
    this.grid.replaceChildren(...this.feed.items.map((job) => this.tile(job)));
    this.chrome();
  }

  chrome() {
    const shown = this.feed.items.length;
    const total = this.feed.total;
    setText(this.count, shown === total ? plural(shown, "video") : `${shown} of ${plural(total, "video")}`);
    this.more.hidden = !this.feed.hasMore;
    this.empty.hidden = shown > 0 || !this.feed.loaded;
    const q = this.feed.q;
    const starred = this.feed.starred ? "starred " : "";
    setText(this.empty, q ? `No ${starred}video matches “${q}”.`
      : starred ? "No starred video: star one with ☆ on its tile or card." : "Completed videos appear here.");
  }

  tile(shown) {
    let job = shown; // the latest JSON: a star changes it in place (showMarks)
    const poster = h("img", { src: job.poster_url || "", alt: "", loading: "lazy", width: job.width, height: job.height });
    const frame = h("div", { class: "tile-media" }, poster);
    for (const input of inputFiles(job, uploadFields()).slice(0, 1)) {
      frame.append(h("img", { class: "input-thumb", src: input.url, alt: input.label, loading: "lazy" }));
    }
    const button = h("button", { type: "button", class: "tile", dataset: { id: job.id },
      "aria-label": `Open: ${job.prompt.slice(0, 100)}` },
      frame, h("span", { class: "tile-caption" }, job.prompt), h("span", { class: "tile-meta" },
        // A tile's short line: the parts of a card's line the spec marks `tile` (what the picture is, how to
        // make it again).
        summary(job, fieldsFor(job.model_id).filter((f) => f.ui?.tile), deviceNoun(job.model_id))));
    let video = null;
    const play = () => {
      if (video || !job.video_url) return;
      video = h("video", { src: job.video_url, muted: true, loop: true, playsinline: true, preload: "auto" });
      video.muted = true;
      if (job.poster_url) video.poster = job.poster_url;
      frame.append(video);
      video.play().catch(() => {});
    };
    const rest = () => {
      if (!video) return;
      video.pause();
      video.remove();
      video = null;
    };
    button.addEventListener("mouseenter", play);
    button.addEventListener("focus", play);
    button.addEventListener("mouseleave", rest);
    button.addEventListener("blur", rest);
    button.addEventListener("click", () => requestAction(this, "open", job));
    const star = starButton(() => job);
    const pick = pickBox(() => job, { label: false });
    const box = h("div", { class: "tile-box" }, button, h("div", { class: "tile-marks" }, pick.node, star));
    box.showMarks = (latest = job) => {
      job = latest;
      showStar(star, job);
      showPick(pick.box, job.id);
    };
    // Only its star changed: the tile stays (a focused star stays focused, a playing loop plays on).
    box.sameLook = (latest) => JSON.stringify({ ...latest, starred: null }) === JSON.stringify({ ...job, starred: null });
    box.showMarks();
    this.tiles.set(job.id, box);
    return box;
  }
}

customElements.define("gallery-view", GalleryView);
