"""Uploaded images and jobs that take one: validation by Pillow, metadata
stripped, stored by content, animated by the preview renderer, and deleted
with the last job that used them."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from conftest import PREVIEW, WAN, InProcessServer, Server, wait_for
from fastvideo_ui.jobs.uploads import UploadRefused, normalize_image

SMALL = {"model_id": PREVIEW, "prompt": "a slow look across", "num_inference_steps": 2, "num_frames": 9,
         "height": 64, "width": 96}


def image_bytes(width: int = 96, height: int = 64, fmt: str = "PNG", **save: Any) -> bytes:
    """Left half red, right half blue: easy to find again in a video."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = (230, 20, 20)
    pixels[:, width // 2:] = (20, 20, 230)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt, **save)
    return out.getvalue()


def upload(server: Server, data: bytes, content_type: str = "image/png") -> Any:
    return server.client.post("/api/uploads", content=data, headers={"Content-Type": content_type})


def test_an_upload_is_cleaned_stored_by_content_and_served(server: Server) -> None:
    first = upload(server, image_bytes())
    assert first.status_code == 201, first.text
    body = first.json()
    stored = server.client.get(body["url"])
    assert stored.headers["content-type"] == "image/png"
    assert body["id"] == hashlib.sha256(stored.content).hexdigest() and body["bytes"] == len(stored.content)
    assert (body["width"], body["height"], body["source_format"]) == (96, 64, "PNG")
    # The same picture, as a form and as a JPEG-free second upload, is the same upload.
    again = server.client.post("/api/uploads", files={"file": ("same.png", image_bytes(), "image/png")})
    assert again.status_code == 201 and again.json()["id"] == body["id"]
    assert server.client.head(body["url"]).status_code == 200
    assert server.client.get("/api/uploads/" + "0" * 64).status_code == 404
    assert server.client.get("/api/uploads/../jobs.sqlite3").status_code == 404


def test_exif_is_stripped_and_the_picture_turned_upright(server: Server) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    exif[0x010F] = "SecretCam"  # the maker; GPS would be just as gone
    jpeg = image_bytes(96, 64, "JPEG", exif=exif.tobytes(), quality=95)
    assert b"SecretCam" in jpeg
    made = upload(server, jpeg, "image/jpeg").json()
    assert (made["width"], made["height"], made["source_format"]) == (64, 96, "JPEG")  # upright
    stored = server.client.get(made["url"]).content
    assert b"SecretCam" not in stored and b"Exif" not in stored
    assert not Image.open(io.BytesIO(stored)).getexif()


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a size its data does not have (a decompression bomb's first line)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b""))


def test_bad_images_are_refused_by_kind(server: Server) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (32, 32)).save(gif, format="GIF")
    answers = {
        "text": upload(server, b"hello, not a picture"),
        "gif": upload(server, gif.getvalue(), "image/png"),
        "not an image type": server.client.post("/api/uploads", json={"image": "x"}),
        "truncated": upload(server, image_bytes(400, 300)[:600]),
        "tiny": upload(server, image_bytes(8, 8)),
        "bomb": upload(server, _png_claiming(20000, 20000)),
        "over our cap": upload(server, _png_claiming(8000, 6000)),
        "a row over our cap": upload(server, _png_claiming(3073, 3072)),
    }
    # Over the cap: the declared length is enough for a 413, before a byte of the body is read.
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(b"POST /api/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                    b"Content-Length: 40000000\r\n\r\n")
        answers["too large"] = httpx.Response(int(raw.recv(65536).split(b" ", 2)[1]))
    assert {what: answer.status_code for what, answer in answers.items()} == {
        "text": 415, "gif": 415, "not an image type": 415, "truncated": 422, "tiny": 422, "bomb": 422,
        "over our cap": 422, "a row over our cap": 422, "too large": 413}
    assert "9.4 million pixels (3072x3072)" in answers["bomb"].json()["detail"][0]["msg"]
    assert "8000x6000" in answers["over our cap"].json()["detail"][0]["msg"]
    assert "3073x3072: over the 9.4 million pixels" in answers["a row over our cap"].json()["detail"][0]["msg"]
    assert answers["truncated"].json()["detail"][0]["loc"] == ["body", "file"]
    assert not list((server.data_dir / "uploads").glob("*.png"))  # nothing refused was kept


def _loads_recorded(monkeypatch: pytest.MonkeyPatch, hold_s: float = 0.0) -> dict[str, Any]:
    """Every Pillow decode (ImageFile.load with tiles to read): the size it decodes at, and how many ran at
    once at most."""
    from PIL import ImageFile

    real = ImageFile.ImageFile.load
    seen: dict[str, Any] = {"sizes": [], "running": 0, "most": 0}
    lock = threading.Lock()

    def load(self: ImageFile.ImageFile) -> Any:
        if not self.tile:  # decoded already: crop, convert and getexif call load() again
            return real(self)
        with lock:
            seen["sizes"].append(self.size)
            seen["running"] += 1
            seen["most"] = max(seen["most"], seen["running"])
        try:
            time.sleep(hold_s)
            return real(self)
        finally:
            with lock:
                seen["running"] -= 1

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return seen


def test_a_picture_over_the_cap_is_refused_by_its_header_before_a_pixel_is_decoded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    decodes = _loads_recorded(monkeypatch)
    with pytest.raises(UploadRefused) as refused:  # issue 24's 6000x6000: 144 MB decoded, 432 MB in all
        normalize_image(_png_claiming(6000, 6000))
    assert refused.value.status == 422
    assert "6000x6000: over the 9.4 million pixels (3072x3072)" in str(refused.value)
    assert decodes["sizes"] == []


def test_a_large_jpeg_is_decoded_reduced_and_every_upload_kept_within_what_models_use(
        monkeypatch: pytest.MonkeyPatch) -> None:
    decodes = _loads_recorded(monkeypatch)
    jpeg = io.BytesIO()
    Image.new("L", (6144, 4096), 90).save(jpeg, format="JPEG")  # 25 million pixels: decoded at 1/4 scale
    assert normalize_image(jpeg.getvalue())[1:] == (1536, 1024, "JPEG")
    assert decodes["sizes"] == [(1536, 1024)]
    # A PNG is decoded whole, then kept within 2048 pixels a side: no model renders more.
    assert normalize_image(image_bytes(3072, 2048))[1:] == (2048, 1365, "PNG")


def test_the_picture_is_reduced_in_bands_as_one_resize_would_reduce_it() -> None:
    from fastvideo_ui.jobs.uploads import _rgb_fitted

    pixels = np.random.default_rng(7).integers(0, 256, (3001, 2500, 4), dtype=np.uint8)
    for picture in (Image.fromarray(pixels), Image.fromarray(pixels[..., 0]).convert("P")):
        whole = picture.convert("RGB").resize((1706, 2048), Image.Resampling.LANCZOS)
        banded = _rgb_fitted(picture)
        assert banded.mode == "RGB" and banded.size == (1706, 2048)
        assert np.array_equal(np.asarray(banded), np.asarray(whole))


def test_uploads_at_once_decode_at_most_two_pictures_at_a_time(server: Server,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    decodes = _loads_recorded(monkeypatch, hold_s=0.5)
    pictures = [image_bytes(96 + 8 * i, 64) for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda picture: upload(server, picture).status_code, pictures))
    assert answers == [201] * 6
    assert len(decodes["sizes"]) == 6 and decodes["most"] == 2  # --max-image-decodes' default


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads and resets Linux's peak RSS")
def test_the_largest_upload_costs_under_100_mb_and_its_memory_is_given_back(tmp_path: Path) -> None:
    # The largest picture accepted, all detail, in a process of its own: its
    # peak RSS (VmHWM) is the decode's, with nothing else to blur it.
    pixels = np.random.default_rng(3).integers(0, 256, (769, 769, 4), dtype=np.uint8)
    picture = tmp_path / "big.png"
    Image.fromarray(np.repeat(np.repeat(pixels, 4, axis=0), 4, axis=1)[:3072, :3072]).save(picture)
    script = f"""
import io, threading
from PIL import Image
from fastvideo_ui.jobs.uploads import normalize_image
def status(key):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(key))
small = io.BytesIO()
Image.new("RGB", (64, 64)).save(small, format="PNG")
normalize_image(small.getvalue())  # Pillow's imports are no cost of the upload
data = open({str(picture)!r}, "rb").read()
before = status("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")  # the peak starts again from here
worker = threading.Thread(target=normalize_image, args=(data,))  # a worker thread, as in the server
worker.start()
worker.join()
print(status("VmHWM:") - before, status("VmRSS:") - before)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    peak, after = (int(value) for value in done.stdout.split())
    assert peak < 100_000_000, f"peak +{peak / 2**20:.0f} MiB"
    assert after < 20 * 2**20, f"+{after / 2**20:.0f} MiB stayed"


def test_the_preview_animates_the_image_and_jobs_check_it(server: Server, tmp_path: Path) -> None:
    image = upload(server, image_bytes()).json()["id"]
    missing = server.client.post("/api/jobs", json=SMALL | {"image": "f" * 64})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "image"]
    assert server.client.post("/api/jobs", json=SMALL | {"image": "not-an-id"}).status_code == 422

    job = server.create(**SMALL, image=image, start=True)
    assert job["image"] == image and job["image_url"] == f"/api/uploads/{image}"
    done = server.wait_status(job["id"], "completed")
    path = tmp_path / "v.mp4"
    path.write_bytes(server.client.get(done["video_url"]).content)
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24").astype(int) for frame in container.decode(video=0)]
    first = frames[0]
    left, right = first[:, :30].mean(axis=(0, 1)), first[:, -30:].mean(axis=(0, 1))
    assert left[0] > left[2] + 80 and right[2] > right[0] + 80, (left, right)  # red left, blue right: the image
    assert np.abs(frames[-1] - frames[0]).mean() > 2  # and the camera moved

    remix = server.client.post(f"/v1/videos/{job['id']}/remix", json={"prompt": "again"}).json()
    assert server.job(remix["id"])["image"] == image

    # Continue from the last frame: it becomes an upload, and the next job starts from it.
    last = server.client.post(f"/api/uploads/from-job/{job['id']}")
    assert last.status_code == 201, last.text
    picture = np.asarray(Image.open(io.BytesIO(server.client.get(last.json()["url"]).content))).astype(int)
    assert picture.shape == frames[-1].shape and np.abs(picture - frames[-1]).mean() < 1
    continued = server.create(**SMALL, image=last.json()["id"], start=True)
    assert continued["image"] == last.json()["id"]
    pending = server.create(**SMALL)
    assert server.client.post(f"/api/uploads/from-job/{pending['id']}").status_code == 409
    for started in (remix["id"], continued["id"]):  # none left running when the server stops
        server.wait_status(started, "completed")


def test_an_upload_goes_with_the_last_job_that_used_it(server: Server) -> None:
    image = upload(server, image_bytes()).json()["id"]
    stored = server.data_dir / "uploads" / f"{image}.png"
    one = server.create(**SMALL, image=image)
    two = server.create(**SMALL, image=image)
    server.client.delete(f"/api/jobs/{one['id']}")
    assert stored.exists()  # the second job still uses it
    server.client.delete(f"/api/jobs/{two['id']}")
    assert not stored.exists()


def test_an_upload_no_job_used_is_swept_at_start_after_a_day(tmp_path: Path) -> None:
    first = InProcessServer(tmp_path / "data", []).start()
    try:
        kept = upload(first, image_bytes()).json()["id"]
        unused = upload(first, image_bytes(64, 64)).json()["id"]
        fresh = upload(first, image_bytes(80, 64)).json()["id"]
        first.create(**SMALL, image=kept)
    finally:
        first.terminate()
    uploads = tmp_path / "data" / "uploads"
    day_ago = os.path.getmtime(uploads / f"{unused}.png") - 2 * 86400
    for name in (kept, unused):
        os.utime(uploads / f"{name}.png", (day_ago, day_ago))
    second = InProcessServer(tmp_path / "data", []).start()
    try:
        assert sorted(path.stem for path in uploads.glob("*.png")) == sorted([kept, fresh])
    finally:
        second.terminate()


def test_two_identical_uploads_at_once_both_succeed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each save writes a temporary file, then renames it into place. Named per
    # process, the two saves shared one: the first rename took it, and the
    # second found nothing to rename (a 500). Both are held at the rename
    # here, so they overlap every time.
    import threading

    from fastvideo_ui.jobs import uploads as uploads_module

    store = uploads_module.UploadStore(tmp_path / "uploads")
    real_replace = os.replace
    both_written = threading.Barrier(2, timeout=30)

    def replace_together(source: Any, target: Any) -> None:
        both_written.wait()
        real_replace(source, target)

    monkeypatch.setattr(uploads_module.os, "replace", replace_together)
    start = threading.Barrier(2, timeout=30)
    results: list[Any] = []

    def save() -> None:
        start.wait()
        try:
            results.append(store.save(image_bytes()).id)
        except Exception as exc:  # noqa: BLE001 - the test reports it
            results.append(exc)

    threads = [threading.Thread(target=save) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 2 and all(isinstance(result, str) for result in results), results
    assert results[0] == results[1]
    assert [path.name for path in (tmp_path / "uploads").iterdir()] == [f"{results[0]}.png"]  # no temp left
    assert hashlib.sha256((tmp_path / "uploads" / f"{results[0]}.png").read_bytes()).hexdigest() == results[0]


def test_a_text_to_video_model_refuses_an_image(fastvideo: Callable[..., Any]) -> None:
    fake = fastvideo()
    image = upload(fake.server, image_bytes()).json()["id"]
    refused = fake.server.client.post("/api/jobs", json={"model_id": WAN, "prompt": "p", "image": image})
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "image"]
    assert "does not take an image" in refused.json()["detail"][0]["msg"]


def test_an_input_reference_file_replaces_an_image_id_sent_beside_it(server: Server) -> None:
    """The file is the job's image: an id beside it is not checked (it was not before the spec either)."""
    created = server.client.post("/v1/videos", data={"prompt": "look", "model": PREVIEW, "size": "96x64",
                                                     "seconds": "1", "image": "0" * 64},
                                 files={"input_reference": ("ref.png", image_bytes(), "image/png")})
    assert created.status_code == 200, created.text
    job = server.job(created.json()["id"])
    assert job["image"] == hashlib.sha256(server.client.get(f"/api/uploads/{job['image']}").content).hexdigest()
    unknown = server.client.post("/api/jobs", json={"model_id": PREVIEW, "prompt": "p", "image": "0" * 64})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "image"]
    assert unknown.json()["detail"][0]["msg"] == ("no upload has this id: upload the input image first "
                                                  "(POST /api/uploads)")
    server.wait_status(job["id"], "completed")


def test_openais_input_reference_becomes_the_jobs_image(server: Server) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        video = client.videos.create(prompt="look", model=PREVIEW, size="96x64", seconds="1",
                                     input_reference=("ref.png", image_bytes(), "image/png"),
                                     extra_body={"num_inference_steps": 2})
        with pytest.raises(openai.BadRequestError) as refused:
            client.videos.create(prompt="look", model=PREVIEW, input_reference=("ref.png", b"junk", "image/png"))
    expected = hashlib.sha256(server.client.get(f"/api/uploads/{server.job(video.id)['image']}").content).hexdigest()
    assert server.job(video.id)["image"] == expected
    assert refused.value.body["param"] == "input_reference"  # type: ignore[index]
    server.wait_status(video.id, "completed")  # none left running when the server stops


def test_the_new_job_dialog_takes_an_image_and_a_job_continues_from_its_last_frame(
        server: Server, open_page: Callable[..., Any], tmp_path: Path) -> None:
    from playwright.sync_api import expect

    picture = tmp_path / "look.png"
    picture.write_bytes(image_bytes())
    page = open_page(server)
    page.locator("header [data-action=new-job]").click()
    expect(page.locator("dialog.create-job")).to_be_visible()  # opened, its model list filled
    dialog = page.locator("dialog.create-job")
    expect(page.locator("#cj-image-label")).to_have_text("Input image (optional)")  # the preview takes one
    page.set_input_files("#cj-image-file", str(picture))
    expect(dialog.locator(".image-thumb")).to_be_visible()
    page.fill("#cj-prompt", "from a picture")
    for name, value in {"height": 64, "width": 96, "num_frames": 9, "num_inference_steps": 2}.items():
        page.fill(f"#cj-{name}", str(value))
    page.locator("dialog.create-job button[type=submit]").click()
    expect(dialog).to_be_hidden()
    job = server.client.get("/api/jobs").json()[0]
    assert job["image"] == upload(server, image_bytes()).json()["id"]
    card = page.locator(f"job-card[data-id='{job['id']}']")
    expect(card.locator("img.input-thumb")).to_be_visible()
    server.wait_status(job["id"], "completed")

    # Pasting an image into the dialog sets it too (what Ctrl+V with a copied picture dispatches).
    page.locator("header [data-action=new-job]").click()
    expect(page.locator("dialog.create-job")).to_be_visible()  # opened, its model list filled
    expect(dialog.locator(".image-thumb")).to_be_hidden()  # a new job starts without one
    page.evaluate("""(data) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "pasted.png", { type: "image/png" }));
        document.querySelector("#cj-prompt").dispatchEvent(
            new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true }));
    }""", base64.b64encode(image_bytes(64, 64)).decode())
    expect(dialog.locator(".image-thumb")).to_be_visible()
    expect(page.locator("#cj-image-note")).to_have_text("64×64")
    # Dropping one replaces it (a dropped image is the input; a dropped MP4 fills the form instead).
    page.evaluate("""(data) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
        const dialog = document.querySelector("dialog.create-job");
        dialog.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }""", base64.b64encode(image_bytes(80, 48)).decode())
    expect(page.locator("#cj-image-note")).to_have_text("80×48")
    page.keyboard.press("Escape")

    # The gallery's tile shows the input image too.
    page.locator("a[data-view=gallery]").click()
    expect(page.locator(f"gallery-view .tile[data-id='{job['id']}'] img.input-thumb")).to_be_visible()
    page.locator("a[data-view=jobs]").click()

    # Continue from the last frame: the detail view's button opens New job with that frame as the image.
    card.locator("video").wait_for()
    card.locator("a[data-action=details]").click()
    detail = page.locator("dialog.detail")
    expect(detail.locator(".input-image img")).to_be_visible()
    detail.get_by_role("button", name="Continue from last frame").click()
    expect(page.locator("#cj-title")).to_have_text("Continue from the last frame")
    expect(page.locator("#cj-image-note")).to_have_text("its last frame")
    expect(page.locator("#cj-prompt")).to_have_value("from a picture")
    page.locator("dialog.create-job button[type=submit]").click()
    expect(dialog).to_be_hidden()
    follow_up = next(j for j in server.client.get("/api/jobs").json() if j["id"] != job["id"])
    assert follow_up["image"] and follow_up["image"] != job["image"]
    assert follow_up["image"] == server.client.post(f"/api/uploads/from-job/{job['id']}").json()["id"]
    server.wait_status(follow_up["id"], "completed")  # none left running when the server stops


def test_an_image_to_video_model_loads_fastvideos_i2v_pipeline_and_gets_the_image(
        fastvideo: Callable[..., Any]) -> None:
    i2v = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"
    fake = fastvideo()
    model = next(m for m in fake.server.client.get("/api/models").json() if m["id"] == i2v)
    assert (model["type"], model["image_input"], model["available"]) == ("i2v", "required", True)
    needs = fake.server.client.post("/api/jobs", json={"model_id": i2v, "prompt": "p"})
    assert needs.status_code == 422 and "needs an input image" in needs.json()["detail"][0]["msg"]

    image = upload(fake.server, image_bytes()).json()["id"]
    job = fake.create(model_id=i2v, prompt="the picture moves", image=image, start=True)
    done = fake.server.wait_status(job["id"], "completed", "failed")
    assert done["status"] == "completed", done["error"]
    load = fake.events("load")[-1]
    generate = fake.events("generate")[-1]
    assert load["model"] == i2v and load["kwargs"]["workload_type"] == "i2v"
    assert generate["kwargs"]["image_path"] == str(fake.server.data_dir / "uploads" / f"{image}.png")
    # A text-to-video job loads without a workload_type, as before.
    t2v = fake.create(prompt="no picture", start=True)
    fake.server.wait_status(t2v["id"], "completed")
    assert "workload_type" not in fake.events("load")[-1]["kwargs"]


def test_a_long_running_server_sweeps_unused_uploads_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastvideo_ui import runtime

    monkeypatch.setattr(runtime, "UPLOAD_SWEEP_EVERY_S", 0.2)  # the hourly sweep, hurried
    server = InProcessServer(tmp_path / "data", []).start()
    try:
        unused = upload(server, image_bytes()).json()["id"]
        stored = tmp_path / "data" / "uploads" / f"{unused}.png"
        day_ago = os.path.getmtime(stored) - 2 * 86400
        os.utime(stored, (day_ago, day_ago))
        wait_for(lambda: not stored.exists(), timeout=10, what="the periodic sweep")
    finally:
        server.terminate()
