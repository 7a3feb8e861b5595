"""A job's files between the server and a Ray node.

A run message names the server's output paths; the worker writes into its
actor's scratch directory instead, and the video and poster come home into the
server's output directory, through the object store, before the "completed" is
passed on. With a shared directory (mounted at the same path on every node and
on the server), the worker writes there and the files are moved home.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ..oserrors import describe_error
from .protocol import RunJob
from .ray_hosted import Hosted

log = logging.getLogger("fastvideo_ui.ray")


class FileShipper:
    def __init__(self, ray: Any, shared_dir: Path | None = None) -> None:
        self.ray = ray
        self.shared_dir = shared_dir

    def localise(self, hosted: Hosted, message: dict[str, Any]) -> dict[str, Any]:
        """The run message with paths on the worker's node: outputs in its
        scratch directory, and the job's uploads copied there. A message that is
        not a run (protocol.BadMessage) fails it, as the worker would."""
        run = RunJob.decode(message)
        where = str(self.shared_dir) if self.shared_dir else hosted.scratch
        video, poster = Path(where) / run.output_path.name, Path(where) / run.poster_path.name
        hosted.homes = {str(video): str(run.output_path), str(poster): str(run.poster_path)}
        uploads = {name: Path(self.ray.get(hosted.actor.put_file.remote(path.name, path.read_bytes()), timeout=60))
                   for name, path in run.uploads.items()}
        return dataclasses.replace(run, output_path=video, poster_path=poster, uploads=uploads).encode()

    def bring_home(self, hosted: Hosted, message: dict[str, Any]) -> dict[str, Any]:
        """Copies the video and poster into the server's output directory; the
        message then names those copies. A video that cannot come home fails the run."""
        homes, hosted.homes = hosted.homes, {}
        home_video = homes.get(message["video_path"])
        if home_video is None:
            return {"type": "failed", "error": f"the Ray worker reported an unexpected file {message['video_path']}"}
        try:
            self._fetch(hosted, message["video_path"], home_video)
        except Exception as exc:  # noqa: BLE001
            return {"type": "failed", "error": f"the video could not be copied from its node: {describe_error(exc)}"}
        poster = homes.get(message.get("poster_path") or "")
        if poster is not None:
            try:
                self._fetch(hosted, message["poster_path"], poster)
            except Exception as exc:  # noqa: BLE001 - a video without a poster is still the result
                log.warning("worker %s: the poster could not be copied: %s", hosted.worker_id, exc)
                poster = None
        return {**message, "video_path": home_video, "poster_path": poster}

    def discard(self, hosted: Hosted) -> None:
        """What a run that did not complete left in the shared directory (a
        scratch directory goes with its actor)."""
        if self.shared_dir is None:
            return
        for written in hosted.homes:
            Path(written).unlink(missing_ok=True)
        hosted.homes = {}

    def _fetch(self, hosted: Hosted, remote: str, home: str) -> None:
        if self.shared_dir is not None:
            shutil.move(remote, home)  # a rename when the output directory is on the same mount
            return
        partial = Path(f"{home}.part")
        offset = 0
        with open(partial, "wb") as out:
            while chunk := self.ray.get(hosted.actor.read_chunk.remote(remote, offset), timeout=120):
                out.write(chunk)
                offset += len(chunk)
        os.replace(partial, home)
