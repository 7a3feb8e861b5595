"""Web UI figures in Debian's Chromium. Prints medians; asserts nothing.

    .venv/bin/python bench/ui.py [--jobs 1000] [--repeats 5]

- bytes transferred on a first load (cold cache), empty and with N jobs;
- time from navigation to the first page of cards painted, with N jobs;
- time to have all N cards loaded (page by page) and painted;
- scrolling the N-card list top to bottom: frame times and the longest task;
- <video> elements in the page after that scroll (the media window).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright
from sqlalchemy import update
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import CHROMIUM, CHROMIUM_ARGS, Server, wait_for  # noqa: E402
from core import seed_jobs  # noqa: E402

from fastvideo_ui.database.engine import make_engine  # noqa: E402
from fastvideo_ui.database.tables import JobRow  # noqa: E402

FIRST_PAGE_PROBE = """
window.__firstPage = null;
const probe = () => {
  if (document.querySelectorAll('job-card').length >= 50) window.__firstPage = performance.now();
  else requestAnimationFrame(probe);
};
requestAnimationFrame(probe);
"""

LOAD_ALL = """async () => {
  const list = document.querySelector('job-list');
  const t0 = performance.now();
  while (list.feed.hasMore) await list.loadMore();
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return [performance.now() - t0, document.querySelectorAll('job-card').length];
}"""

SCROLL = """async () => {
  const long = [];
  new PerformanceObserver((list) => long.push(...list.getEntries().map((e) => e.duration)))
    .observe({ type: 'longtask', buffered: false });
  const frames = [];
  let last = performance.now();
  window.scrollTo(0, 0);
  while (window.scrollY + window.innerHeight < document.documentElement.scrollHeight - 2) {
    window.scrollBy(0, 600);
    await new Promise((r) => requestAnimationFrame(r));
    const now = performance.now();
    frames.push(now - last);
    last = now;
  }
  await new Promise((r) => setTimeout(r, 300));
  frames.sort((a, b) => a - b);
  return {
    frames: frames.length,
    median: frames[Math.floor(frames.length / 2)],
    p95: frames[Math.floor(frames.length * 0.95)],
    longest_task: long.length ? Math.max(...long) : 0,
    videos: document.querySelectorAll('video').length,
  };
}"""


def first_load(browser: Any, url: str, probe: bool) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    if probe:
        context.add_init_script(FIRST_PAGE_PROBE)
    page = context.new_page()
    sizes: list[int] = []

    def finished(request: Any) -> None:
        if "/api/events" not in request.url:
            s = request.sizes()
            sizes.append(s["responseBodySize"] + s["responseHeadersSize"])

    page.on("requestfinished", finished)
    page.goto(url, wait_until="networkidle")
    # Polled from here: wait_for_function evaluates a string, which the page's CSP forbids.
    wait_for(lambda: page.evaluate("document.querySelector('job-list').feed.loaded"))
    out = {"bytes": sum(sizes), "requests": len(sizes), "page": page, "context": context}
    if probe:
        wait_for(lambda: page.evaluate("window.__firstPage !== null"))
        out["first_page_ms"] = page.evaluate("window.__firstPage")
    return out


def seed_with_media(data_dir: Path, count: int) -> None:
    """N jobs, the completed ones pointing at one real video and poster."""
    server = Server(data_dir, []).start()
    real = server.create(start=True, prompt="the one real clip", height=480, width=832, num_frames=49,
                         num_inference_steps=30)
    real = server.wait_status(real["id"], "completed")
    server.terminate()
    seed_jobs(data_dir, count - 1)
    engine = make_engine(data_dir / "jobs.sqlite3")
    with Session(engine) as session, session.begin():
        row = session.get(JobRow, real["id"])
        session.execute(update(JobRow).where(JobRow.status == "completed")
                        .values(output_path=row.output_path, poster_path=row.poster_path))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}

    def record(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        empty = Server(Path(tmp) / "empty", []).start()
        for _ in range(args.repeats):
            load = first_load(browser, empty.url, probe=False)
            record("first load, empty: bytes", load["bytes"])
            record("first load, empty: requests", load["requests"])
            load["context"].close()
        empty.terminate()

        seeded = Path(tmp) / "seeded"
        seed_with_media(seeded, args.jobs)
        server = Server(seeded, []).start()
        for _ in range(args.repeats):
            load = first_load(browser, server.url, probe=True)
            record(f"first load, {args.jobs} jobs: bytes", load["bytes"])
            record(f"first load, {args.jobs} jobs: first 50 cards painted (ms)", load["first_page_ms"])
            page = load["page"]
            elapsed, cards = page.evaluate(LOAD_ALL)
            record(f"all {cards} cards loaded and painted (ms)", elapsed)
            scroll = page.evaluate(SCROLL)
            record("scroll through all: median frame (ms)", scroll["median"])
            record("scroll through all: p95 frame (ms)", scroll["p95"])
            record("scroll through all: longest task (ms)", scroll["longest_task"])
            record("<video> elements after the scroll", scroll["videos"])
            load["context"].close()
        server.terminate()
        browser.close()

    print(f"web UI, median of {args.repeats} runs (Chromium {CHROMIUM}, headless)")
    for name, values in results.items():
        print(f"  {name:<58} {statistics.median(values):>10.1f}   (min {min(values):.1f}, max {max(values):.1f})")


if __name__ == "__main__":
    main()
