"""A sweep's grid and compare in Debian's Chromium. Prints medians; asserts nothing.

    .venv/bin/python bench/grid.py [--side 8] [--repeats 5]

An N x N sweep of small preview jobs (guidance scale by seed), all completed, then per run:
- navigation to the grid's first paint with every cell in it (ms), and to its first poster shown;
- <video> elements the grid holds (the cells near the viewport), against N x N;
- while playing: the spread (max - min) of the cells' currentTime, sampled every 100 ms for 2 s;
- the same spread for two jobs in compare.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import CHROMIUM, CHROMIUM_ARGS, Server, wait_for  # noqa: E402

# Set before the page's scripts run: the time all cells are in the page and painted, and the first poster.
PAINT_PROBE = """
window.__cells = null; window.__poster = null;
const wanted = Number(sessionStorage.getItem('cells') || 0);
const probe = () => {
  const cells = document.querySelectorAll('sweep-cell');
  if (window.__cells === null && wanted && cells.length >= wanted) {
    requestAnimationFrame(() => { window.__cells = performance.now(); });
  }
  const shown = [...document.querySelectorAll('sweep-cell img')].some((img) => img.complete && img.naturalWidth);
  if (window.__poster === null && shown) window.__poster = performance.now();
  if (window.__cells === null || window.__poster === null) requestAnimationFrame(probe);
};
requestAnimationFrame(probe);
"""

# The spread of the videos' currentTime, sampled `count` times `every` ms apart while they play.
SPREAD = """async ([selector, count, every]) => {
  const spreads = [];
  for (let i = 0; i < count; i++) {
    await new Promise((r) => setTimeout(r, every));
    const times = [...document.querySelectorAll(selector)].map((v) => v.currentTime);
    spreads.push(Math.max(...times) - Math.min(...times));
  }
  return spreads;
}"""


def make_sweep(server: Server, side: int) -> dict[str, Any]:
    body = {"base": {"model_id": "fastvideo-ui/preview", "prompt": "a red fox in fresh snow", "height": 240,
                     "width": 416, "num_frames": 17, "num_inference_steps": 4},
            "axes": {"guidance_scale": [1 + i for i in range(side)], "seed": list(range(1, side + 1))},
            "start": True}
    answer = server.client.post("/api/sweeps", json=body)
    if answer.status_code != 201:
        raise SystemExit(f"POST /api/sweeps: {answer.status_code} {answer.text}")
    sweep = answer.json()
    for cell in sweep["jobs"]:
        server.wait_status(cell["id"], "completed", timeout=600)
    return sweep


def play_and_measure(page: Any, controls: str, videos: str, count: int) -> list[float]:
    wait_for(lambda: page.evaluate(f"[...document.querySelectorAll('{videos}')].length >= {count} && "
                                   f"[...document.querySelectorAll('{videos}')].every((v) => v.readyState >= 2)"),
             what="the videos to load")
    page.locator(f"{controls} button").first.click()
    spreads: list[float] = page.evaluate(SPREAD, [videos, 20, 100])
    page.locator(f"{controls} button").first.click()
    return spreads


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", type=int, default=8, help="the sweep is side x side jobs (at most 8)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cells = args.side * args.side
    results: dict[str, list[float]] = {}

    def record(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        server = Server(Path(tmp) / "data", []).start()
        sweep = make_sweep(server, args.side)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(args.repeats):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_init_script(f"sessionStorage.setItem('cells', '{cells}');" + PAINT_PROBE)
            page = context.new_page()
            page.goto(f"{server.url}/#/sweeps/{sweep['id']}")
            wait_for(lambda page=page: page.evaluate("window.__cells !== null && window.__poster !== null"))
            record(f"navigation to all {cells} cells painted (ms)", page.evaluate("window.__cells"))
            record("navigation to the first poster shown (ms)", page.evaluate("window.__poster"))
            held = page.evaluate("document.querySelectorAll('video').length")
            record(f"<video> elements held (of {cells} cells)", held)
            near = page.evaluate("document.querySelectorAll('sweep-cell video').length")
            spreads = play_and_measure(page, "sweep-grid sync-controls", "sweep-cell video", near)
            record("grid playing: median spread of currentTime (s)", statistics.median(spreads))
            record("grid playing: largest spread of currentTime (s)", max(spreads))

            first, second = sweep["jobs"][0]["id"], sweep["jobs"][1]["id"]
            page.goto(f"{server.url}/#/compare?ids={first},{second}")
            spreads = play_and_measure(page, "compare-view sync-controls", "compare-view video", 2)
            record("compare playing: largest spread of currentTime (s)", max(spreads))
            context.close()
        browser.close()
        server.terminate()

    print(f"sweep grid, {args.side}x{args.side}, median of {args.repeats} runs (Chromium {CHROMIUM}, headless)")
    for name, values in results.items():
        print(f"  {name:<58} {statistics.median(values):>10.3f}   (min {min(values):.3f}, max {max(values):.3f})")


if __name__ == "__main__":
    main()
