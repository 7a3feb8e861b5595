"""/v1/videos driven by the official `openai` SDK against the running server,
as a user's script would drive it, and the shape mapping on its own."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from conftest import LONG, PREVIEW, WAN, InProcessServer, Server, wait_for
from fastvideo_ui.api.limits import MAX_BODY_BYTES
from fastvideo_ui.api.schemas import CreateJobRequest
from fastvideo_ui.api.video_shape import asked_from_openai, frames_for, video_json
from fastvideo_ui.jobs.catalogue import Catalogue
from fastvideo_ui.jobs.params import InvalidParams
from fastvideo_ui.jobs.uploads import MAX_UPLOAD_BYTES

# The SDK marks its videos methods deprecated (OpenAI's own service is retiring
# them); the API shape is what other tools still speak.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TOKEN = "v1-token-Qx7Rm2Kp9Vd4Lw8Hs3Zb"


def sdk(server: Server, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=30)


def finished(client: openai.OpenAI, video_id: str) -> Any:
    return wait_for(lambda: (video := client.videos.retrieve(video_id)).status in ("completed", "failed") and video,
                    timeout=60, what=f"video {video_id} to finish")


def test_the_sdk_creates_retrieves_downloads_remixes_lists_and_deletes(server: Server) -> None:
    client = sdk(server)
    video = client.videos.create(prompt="a red fox", model=PREVIEW, seconds="2", size="96x64",
                                 extra_body={"num_inference_steps": 3, "seed": 77, "negative_prompt": "blur",
                                             "retry_on_oom": True, "guidance_scale": 2.5})
    assert video.object == "video" and video.status in ("queued", "in_progress") and video.prompt == "a red fox"
    # The SDK sends a form; every extra field arrived with its type.
    job = server.job(video.id)
    assert (job["width"], job["height"], job["num_frames"], job["fps"]) == (96, 64, 32, 16)  # 2 s at 16 fps
    assert (job["num_inference_steps"], job["seed"], job["negative_prompt"], job["retry_on_oom"],
            job["guidance_scale"]) == (3, 77, "blur", True, 2.5)

    done = finished(client, video.id)
    assert (done.status, done.progress, done.size, done.seconds, done.model) == ("completed", 100, "96x64", "2",
                                                                                PREVIEW)
    assert done.completed_at is not None and done.completed_at >= done.created_at and done.error is None
    content = client.videos.download_content(video.id).content
    assert content == server.client.get(f"/api/jobs/{video.id}/video").content and content[4:8] == b"ftyp"
    assert client.videos.download_content(video.id, variant="thumbnail").content[:2] == b"\xff\xd8"

    remix = client.videos.remix(video.id, prompt="a blue fox")
    assert remix.remixed_from_video_id == video.id and remix.prompt == "a blue fox" and remix.id != video.id
    copy = server.job(remix.id)
    assert {name: copy[name] for name in ("seed", "num_inference_steps", "width", "height", "num_frames",
                                          "negative_prompt", "guidance_scale")} \
        == {name: job[name] for name in ("seed", "num_inference_steps", "width", "height", "num_frames",
                                         "negative_prompt", "guidance_scale")}
    third = client.videos.create(prompt="a grey wolf", model=PREVIEW, size="64x64", seconds="1",
                                 extra_body={"num_inference_steps": 2})
    finished(client, remix.id)
    finished(client, third.id)

    newest_first = [video.id, remix.id, third.id][::-1]
    page = client.videos.list(limit=2)
    assert [item.id for item in page.data] == newest_first[:2] and page.has_more
    assert [item.id for item in client.videos.list(limit=2)] == newest_first  # the SDK follows `after`
    assert [item.id for item in client.videos.list(limit=1, order="asc")] == newest_first[::-1]

    deleted = client.videos.delete(remix.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (remix.id, True, "video.deleted")
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(remix.id)
    assert server.client.get(f"/api/jobs/{remix.id}").status_code == 404


def test_errors_come_in_openais_shape_and_name_the_field(server: Server) -> None:
    client = sdk(server)
    refusals = {
        "num_inference_stepz": dict(extra_body={"num_inference_stepz": 3}),
        "size": dict(size="10x10"),
        "seconds": dict(seconds="soon"),
        "model": dict(model="sora-2"),
        "seed": dict(extra_body={"seed": -1}),
    }
    for param, asked in refusals.items():
        with pytest.raises(openai.BadRequestError) as refused:
            client.videos.create(prompt="a fox", **({"model": PREVIEW} | asked))  # type: ignore[arg-type]
        error = refused.value.body
        assert isinstance(error, dict) and error["param"] == param, (param, error)
        assert error["type"] == "invalid_request_error" and error["message"].startswith(param), error
    with pytest.raises(openai.NotFoundError) as missing:
        client.videos.retrieve("not-a-video")
    assert missing.value.body["param"] == "video_id"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        client.videos.list(limit=1000)
    assert not server.client.get("/api/jobs").json()  # nothing refused was stored

    # JSON works as well as the SDK's form; a missing prompt, or a file, is refused by name.
    made = server.client.post("/v1/videos", json={"prompt": "json fox", "model": PREVIEW, "size": "64x64",
                                                  "seconds": 1, "num_inference_steps": 2})
    assert made.status_code == 200 and made.json()["size"] == "64x64", made.text
    server.wait_status(made.json()["id"], "completed")  # none left running when the server stops
    for body, param in (({"model": PREVIEW}, "prompt"), ([1, 2], None)):
        refused_json = server.client.post("/v1/videos", json=body)
        assert refused_json.status_code == 400 and refused_json.json()["error"]["param"] == param
    with_file = server.client.post("/v1/videos", data={"prompt": "x", "model": PREVIEW},
                                   files={"input_reference": ("a.png", b"\x89PNG", "image/png")})
    assert with_file.status_code == 400 and with_file.json()["error"]["param"] == "input_reference"
    unknown = server.client.get("/v1/images")
    assert unknown.status_code == 404 and "error" in unknown.json()


def openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The answer's error, checked to be in OpenAI's shape with this status."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    return body["error"]


def test_bodies_that_broke_the_parser_are_400s_that_name_the_field(server: Server) -> None:
    huge = "9" * 400  # past a float's range, as a JSON integer
    base = f'"prompt": "a fox", "model": "{PREVIEW}"'
    bodies = {
        "seconds": f'{{{base}, "seconds": {huge}}}',
        "fps": f'{{{base}, "seconds": 2, "fps": {huge}}}',
        "\\ud800": f'{{{base}, "\\ud800": 1}}',  # a lone surrogate as a key, echoed as an unknown field
        None: f'{{{base}, "seed": {"[" * 100_000}{"]" * 100_000}}}',  # deeper than Python's JSON parser goes
    }
    for param, body in bodies.items():
        answer = server.client.post("/v1/videos", content=body.encode(), headers={"content-type": "application/json"})
        error = openai_error(answer, 400)
        assert error["param"] == param, (param, error)
        if param is not None:
            assert error["message"].startswith(param), error
    # Every number the body takes, 400 digits long.
    numbers = [name for name, field in CreateJobRequest.model_fields.items()
               if field.annotation in (int, float, int | None, float | None)]
    assert {"seed", "fps", "num_frames", "guidance_scale"} <= set(numbers)
    for name in numbers:
        answer = server.client.post("/v1/videos", content=f'{{{base}, "{name}": {huge}}}'.encode(),
                                    headers={"content-type": "application/json"})
        assert openai_error(answer, 400)["param"] == name
    assert not server.client.get("/api/jobs").json()  # nothing refused was stored


def test_answers_given_before_the_route_come_in_openais_shape_too(server: Server) -> None:
    too_large = server.client.post("/v1/videos", content=b"{" + b" " * (300 * 1024) + b"}",
                                   headers={"content-type": "application/json"})
    assert "262144 bytes" in openai_error(too_large, 413)["message"]
    streamed = server.client.post("/v1/videos", content=iter([b"{", b" " * (300 * 1024), b"}"]),
                                  headers={"content-type": "application/json"})  # no Content-Length
    openai_error(streamed, 413)
    cross_site = server.client.post("/v1/videos", json={"prompt": "a fox"}, headers={"origin": "http://evil.example"})
    assert "evil.example" in openai_error(cross_site, 403)["message"]
    rebound = server.client.get("/v1/videos", headers={"host": "evil.example"})
    assert "--allowed-host" in openai_error(rebound, 400)["message"]
    broken_form = server.client.post("/v1/videos", content=b"--x\r\nnot a part",
                                     headers={"content-type": "multipart/form-data; boundary=x"})
    openai_error(broken_form, 400)
    bad_remix = server.client.post("/v1/videos/0/remix", content=b"{", headers={"content-type": "application/json"})
    openai_error(bad_remix, 400)
    # /api keeps FastAPI's shape.
    assert set(server.client.post("/api/jobs", content=b" " * (300 * 1024)).json()) == {"detail"}


def test_an_input_reference_may_be_far_larger_than_a_json_body(server: Server) -> None:
    noise = np.random.default_rng(7).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, format="PNG")
    image = out.getvalue()
    assert len(image) > MAX_BODY_BYTES  # 469 KiB, against 256
    made = server.client.post("/v1/videos", data={"prompt": "look", "model": PREVIEW, "size": "96x64",
                                                  "seconds": "1", "num_inference_steps": "2"},
                              files={"input_reference": ("noise.png", image, "image/png")})
    assert made.status_code == 200, made.text
    assert server.job(made.json()["id"])["image"]
    server.wait_status(made.json()["id"], "completed")
    # The form's cap is the upload's, and a little for the other fields; JSON keeps its own.
    over = server.client.post("/v1/videos", data={"prompt": "look", "model": PREVIEW},
                              files={"input_reference": ("big.png", b"\0" * (MAX_UPLOAD_BYTES + MAX_BODY_BYTES),
                                                         "image/png")})
    assert str(MAX_UPLOAD_BYTES + MAX_BODY_BYTES) in openai_error(over, 413)["message"]
    as_json = server.client.post("/v1/videos", json={"prompt": "look", "model": PREVIEW, "pad": "x" * len(image)})
    openai_error(as_json, 413)


def test_a_bad_request_is_refused_before_its_input_reference_is_decoded_or_stored(
        server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # The image was decoded and stored first: an empty prompt was refused after
    # a 13000x13000 progressive JPEG's +496 MiB decode, and the image kept.
    from fastvideo_ui.jobs import uploads

    opened: list[int] = []
    real_open = uploads.open_image

    def recorded_open(data: bytes, *limits: Any) -> Any:
        opened.append(len(data))
        return real_open(data, *limits)

    monkeypatch.setattr(uploads, "open_image", recorded_open)
    out = io.BytesIO()
    Image.new("RGB", (96, 64), (200, 30, 30)).save(out, format="PNG")

    def create(**fields: Any) -> Any:
        return server.client.post("/v1/videos", data={"model": PREVIEW, "size": "96x64", "seconds": "1", **fields},
                                  files={"input_reference": ("ref.png", out.getvalue(), "image/png")})

    refused = {
        "empty prompt": create(prompt=" "),
        "unknown field": create(prompt="p", colour="red"),
        "steps over the model's": create(prompt="p", num_inference_steps="100000"),
        "bad seconds": create(prompt="p", seconds="forever"),
    }
    assert {what: answer.status_code for what, answer in refused.items()} == dict.fromkeys(refused, 400)
    assert openai_error(refused["empty prompt"], 400)["param"] == "prompt"
    assert openai_error(refused["unknown field"], 400)["message"].startswith(
        "colour: unknown field; besides prompt, model, seconds, size, input_reference a video takes ")
    assert openai_error(refused["steps over the model's"], 400)["param"] == "num_inference_steps"
    assert opened == []
    assert not list((server.data_dir / "uploads").glob("*.png"))
    made = create(prompt="a good one", num_inference_steps="2")
    assert made.status_code == 200, made.text
    assert len(opened) == 1 and server.job(made.json()["id"])["image"]
    server.wait_status(made.json()["id"], "completed")  # none left running when the server stops


def test_cancel_stops_a_running_video(server: Server) -> None:
    client = sdk(server)
    video = client.videos.create(prompt="long", model=PREVIEW,
                                 extra_body={name: LONG[name] for name in LONG})
    wait_for(lambda: client.videos.retrieve(video.id).status == "in_progress", what="the video to start")
    cancelled = client.post(f"/videos/{video.id}/cancel", cast_to=openai.types.Video)
    stopped = wait_for(lambda: (v := client.videos.retrieve(video.id)).status == "failed" and v)
    assert cancelled.id == video.id and stopped.error.code == "stopped"
    assert server.job(video.id)["status"] == "stopped"
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(video.id)


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Server]:
    running = InProcessServer(tmp_path / "data", ["--api-token", TOKEN])
    running.client.headers["Authorization"] = f"Bearer {TOKEN}"
    try:
        yield running.start()
    finally:
        running.terminate()
        running.client.close()


def test_the_api_token_guards_v1_as_a_bearer_key(guarded: Server) -> None:
    with pytest.raises(openai.AuthenticationError):
        sdk(guarded, key="wrong-key-0123456789").videos.list()
    assert httpx.get(guarded.url + "/v1/videos").status_code == 401
    video = sdk(guarded, key=TOKEN).videos.create(prompt="a fox", model=PREVIEW, size="64x64", seconds="1",
                                                  extra_body={"num_inference_steps": 2})
    assert finished(sdk(guarded, key=TOKEN), video.id).status == "completed"


# -- the mapping, without a server ------------------------------------------------------

def test_size_and_seconds_become_the_models_own_sizes_and_frame_counts() -> None:
    catalogue = Catalogue()
    wan = catalogue.find(WAN)
    assert wan is not None
    asked, renamed = asked_from_openai(catalogue.find, {"model_id": WAN, "fps": None, "num_frames": None, "width": None,
                                        "height": None}, {"size": "1003x562", "seconds": "4"})
    # Wan takes multiples of 16 and 4k+1 frames: 4 s at its 16 fps is 64, so 65.
    assert (asked["width"], asked["height"], asked["num_frames"]) == (1008, 560, 65)
    assert renamed == {"model_id": "model", "width": "size", "height": "size", "num_frames": "seconds"}
    # Explicit fields win over size and seconds; fps moves the frame count.
    asked, _ = asked_from_openai(catalogue.find, {"model_id": WAN, "fps": 8, "num_frames": 17, "width": 832,
                                                  "height": None}, {"size": "1280x720", "seconds": "2"})
    assert (asked["width"], asked["height"], asked["num_frames"]) == (832, 720, 17)
    assert frames_for(wan, "2", 8) == 17
    for bad in ("0", "-1", "nan", "1e9", "two"):
        with pytest.raises(InvalidParams):
            frames_for(wan, bad, 16)
    with pytest.raises(InvalidParams):
        asked_from_openai(catalogue.find, {"model_id": WAN}, {"size": "wide"})


def test_every_job_status_has_an_openai_status() -> None:
    job = {"id": "j", "created_at": 10.5, "finished_at": 20.2, "model_id": PREVIEW, "progress": 42.7,
           "prompt": "p", "remixed_from": None, "num_frames": 81, "fps": 16, "width": 832, "height": 480,
           "error": None}
    seen = {}
    for status in ("pending", "queued", "running", "completed", "failed", "stopped"):
        video = video_json(job | {"status": status})
        seen[status] = (video["status"], video["progress"], video["error"] and video["error"]["code"],
                        video["completed_at"])
    assert seen == {
        "pending": ("queued", 42, None, None), "queued": ("queued", 42, None, None),
        "running": ("in_progress", 42, None, None), "completed": ("completed", 100, None, 20),
        "failed": ("failed", 42, "generation_failed", None), "stopped": ("failed", 42, "stopped", None),
    }
    assert video_json(job | {"status": "completed"})["seconds"] == "5.06"
