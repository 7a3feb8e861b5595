"""The Ray bridge's FileShipper with a fake `ray`: a run's paths moved onto
the worker's node, and its video and poster brought home, through the object
store (in chunks) or through a shared directory. test_ray.py runs the real thing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_ray import FakeActor, FakeRay
from job_values import run_message

from fastvideo_ui.workers.ray_files import FileShipper
from fastvideo_ui.workers.ray_hosted import Hosted

VIDEO = b"a video of some bytes"
POSTER = b"a poster"


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    made = {name: tmp_path / name for name in ("home", "scratch", "shared", "uploads")}
    for path in made.values():
        path.mkdir()
    return made


def hosted_on_node(scratch: Path) -> Hosted:
    hosted = Hosted(1, "node-a-0123456789")
    hosted.actor = FakeActor(scratch)
    hosted.scratch = str(scratch)
    return hosted


def worker_writes(message: dict[str, Any]) -> dict[str, Any]:
    """What the worker does with a localised run: writes both files, says completed."""
    Path(message["output_path"]).write_bytes(VIDEO)
    Path(message["poster_path"]).write_bytes(POSTER)
    return {"type": "completed", "video_path": message["output_path"], "poster_path": message["poster_path"],
            "seed": 7}


def test_a_run_writes_into_its_actors_scratch_and_its_image_is_copied_there(dirs: dict[str, Path]) -> None:
    image = dirs["uploads"] / "cat.png"
    image.write_bytes(b"png bytes")
    hosted = hosted_on_node(dirs["scratch"])
    message = run_message(dirs["home"], image)

    localised = FileShipper(FakeRay()).localise(hosted, message)

    video, poster = str(dirs["scratch"] / "j1.mp4"), str(dirs["scratch"] / "j1.jpg")
    assert localised == {**message, "output_path": video, "poster_path": poster,
                         "uploads": {"image": str(dirs["scratch"] / "cat.png")}}
    assert (dirs["scratch"] / "cat.png").read_bytes() == b"png bytes"
    assert hosted.homes == {video: message["output_path"], poster: message["poster_path"]}


def test_a_run_without_an_image_sends_none(dirs: dict[str, Path]) -> None:
    localised = FileShipper(FakeRay()).localise(hosted_on_node(dirs["scratch"]), run_message(dirs["home"]))
    assert localised["uploads"] == {}


def test_the_video_and_poster_come_home_through_the_object_store(dirs: dict[str, Path]) -> None:
    shipper = FileShipper(FakeRay())
    hosted = hosted_on_node(dirs["scratch"])
    completed = worker_writes(shipper.localise(hosted, run_message(dirs["home"])))

    home = shipper.bring_home(hosted, completed)

    assert home == {**completed, "video_path": str(dirs["home"] / "j1.mp4"),
                    "poster_path": str(dirs["home"] / "j1.jpg")}
    assert (dirs["home"] / "j1.mp4").read_bytes() == VIDEO  # several 4-byte chunks
    assert (dirs["home"] / "j1.jpg").read_bytes() == POSTER
    assert sorted(path.name for path in dirs["home"].iterdir()) == ["j1.jpg", "j1.mp4"]  # no .part left
    assert hosted.homes == {}


def test_with_a_shared_directory_the_worker_writes_there_and_the_files_are_moved_home(
        dirs: dict[str, Path]) -> None:
    shipper = FileShipper(FakeRay(), dirs["shared"])
    hosted = hosted_on_node(dirs["scratch"])
    localised = shipper.localise(hosted, run_message(dirs["home"]))
    assert localised["output_path"] == str(dirs["shared"] / "j1.mp4")
    assert localised["poster_path"] == str(dirs["shared"] / "j1.jpg")

    home = shipper.bring_home(hosted, worker_writes(localised))

    assert (home["video_path"], home["poster_path"]) == (str(dirs["home"] / "j1.mp4"), str(dirs["home"] / "j1.jpg"))
    assert (dirs["home"] / "j1.mp4").read_bytes() == VIDEO
    assert list(dirs["shared"].iterdir()) == []  # moved, not copied


def test_a_file_the_run_was_not_given_fails_the_run(dirs: dict[str, Path]) -> None:
    shipper = FileShipper(FakeRay())
    hosted = hosted_on_node(dirs["scratch"])
    shipper.localise(hosted, run_message(dirs["home"]))
    elsewhere = str(dirs["scratch"] / "other.mp4")

    home = shipper.bring_home(hosted, {"type": "completed", "video_path": elsewhere, "poster_path": None})

    assert home == {"type": "failed", "error": f"the Ray worker reported an unexpected file {elsewhere}"}


def test_a_video_that_cannot_come_home_fails_the_run(dirs: dict[str, Path]) -> None:
    shipper = FileShipper(FakeRay())
    hosted = hosted_on_node(dirs["scratch"])
    completed = worker_writes(shipper.localise(hosted, run_message(dirs["home"])))
    Path(completed["video_path"]).unlink()

    home = shipper.bring_home(hosted, completed)

    assert home["type"] == "failed"
    assert home["error"].startswith("the video could not be copied from its node: FileNotFoundError: ")


def test_a_poster_that_cannot_come_home_leaves_the_video_without_one(dirs: dict[str, Path]) -> None:
    shipper = FileShipper(FakeRay())
    hosted = hosted_on_node(dirs["scratch"])
    completed = worker_writes(shipper.localise(hosted, run_message(dirs["home"])))
    Path(completed["poster_path"]).unlink()

    home = shipper.bring_home(hosted, completed)

    assert home == {**completed, "video_path": str(dirs["home"] / "j1.mp4"), "poster_path": None}
    assert (dirs["home"] / "j1.mp4").read_bytes() == VIDEO


def test_a_run_that_did_not_complete_leaves_nothing_in_the_shared_directory(dirs: dict[str, Path]) -> None:
    shipper = FileShipper(FakeRay(), dirs["shared"])
    hosted = hosted_on_node(dirs["scratch"])
    Path(shipper.localise(hosted, run_message(dirs["home"]))["output_path"]).write_bytes(b"half a video")

    shipper.discard(hosted)

    assert list(dirs["shared"].iterdir()) == []
    assert hosted.homes == {}


def test_without_a_shared_directory_discard_leaves_the_scratch_to_its_actor(dirs: dict[str, Path]) -> None:
    shipper = FileShipper(FakeRay())
    hosted = hosted_on_node(dirs["scratch"])
    Path(shipper.localise(hosted, run_message(dirs["home"]))["output_path"]).write_bytes(b"half a video")

    shipper.discard(hosted)

    assert [path.name for path in dirs["scratch"].iterdir()] == ["j1.mp4"]  # the scratch directory goes with the actor
