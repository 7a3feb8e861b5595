"""A typed Python client for a fastvideo-ui server (httpx), under the CLI.

    from fastvideo_ui.client import Client
    with Client("http://127.0.0.1:8189", token=None) as client:
        job = client.create(model_id="fastvideo-ui/preview", prompt="a fox", start=True)
        job = client.wait(job["id"])
        client.download(job["id"], "fox.mp4")
"""

from __future__ import annotations

import os
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_SERVER = "http://127.0.0.1:8189"
TERMINAL = ("completed", "failed", "stopped")
AMBIGUOUS_LISTED = 10  # the jobs an ambiguous start of an id lists, to choose from
Job = dict[str, Any]


class ApiError(Exception):
    """The server refused: its status and its detail, in one line."""

    def __init__(self, status: int, detail: Any) -> None:
        self.status = status
        self.detail = detail
        super().__init__(self.describe(status, detail))

    def message(self, names: Mapping[str, str]) -> str:
        """This error, with each field named as `names` names it (the CLI's flags)."""
        return self.describe(self.status, self.detail, names)

    @staticmethod
    def describe(status: int, detail: Any, names: Mapping[str, str] | None = None) -> str:
        if isinstance(detail, list):  # 422: [{"loc": ["body", field], "msg": ...}]
            def field(item: dict[str, Any]) -> str:
                where = ".".join(str(part) for part in item.get("loc", [])[1:]) or "request"
                return (names or {}).get(where, where)

            return "; ".join(f"{field(item)}: {item.get('msg')}" for item in detail if isinstance(item, dict))
        return str(detail) if detail else f"HTTP {status}"


class Client:
    def __init__(self, server: str | None = None, token: str | None = None, timeout: float = 30.0) -> None:
        server = server or os.environ.get("FASTVIDEO_UI_SERVER") or DEFAULT_SERVER
        token = token if token is not None else os.environ.get("FASTVIDEO_UI_API_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.http.close()

    def url(self, path: str) -> str:
        """The address of `path` (such as a job's video_url) on this server."""
        return str(self.http.base_url).rstrip("/") + path

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"cannot reach {self.http.base_url}: {exc}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text[:200]
            raise ApiError(response.status_code, detail)
        return response

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        return None if response.status_code == 204 else response.json()

    # -- jobs ------------------------------------------------------------------

    def create(self, **body: Any) -> Job:
        return self._call("POST", "/api/jobs", json=body)

    def job(self, job_id: str) -> Job:
        return self._call("GET", f"/api/jobs/{self.resolve(job_id)}")

    def jobs(self, status: str | None = None, q: str | None = None, limit: int = 50) -> list[Job]:
        params = {"limit": limit, **({"status": status} if status else {}), **({"q": q} if q else {})}
        return self._call("GET", "/api/jobs", params=params)

    def stop(self, job_id: str) -> Job:
        return self._call("POST", f"/api/jobs/{self.resolve(job_id)}/stop")

    def delete(self, job_id: str) -> None:
        self._call("DELETE", f"/api/jobs/{self.resolve(job_id)}")

    def logs(self, job_id: str, after: int = 0, limit: int = 5000) -> dict[str, Any]:
        return self._call("GET", f"/api/jobs/{self.resolve(job_id)}/logs", params={"after": after, "limit": limit})

    def log_lines(self, job_id: str, tail: int | None = None, follow: bool = False,
                  poll_s: float = 0.5) -> Iterator[str]:
        """The log's lines (its last `tail` lines), page by page; with `follow`,
        then new ones as they come, until the job ends."""
        job_id = self.resolve(job_id)
        after = 0 if tail is None else max(0, self.logs(job_id, limit=1)["total"] - tail)
        while True:
            page = self.logs(job_id, after)
            yield from page["lines"]
            after = page["next_after"]
            if page["lines"]:
                continue
            if not follow or (self.job(job_id)["status"] in TERMINAL and not self.logs(job_id, after)["lines"]):
                return
            time.sleep(poll_s)

    def follow_logs(self, job_id: str, poll_s: float = 0.5) -> Iterator[str]:
        """Every line of the log, then new ones as they come, until the job ends."""
        return self.log_lines(job_id, follow=True, poll_s=poll_s)

    def wait(self, job_id: str, on_update: Callable[[Job], None] | None = None, poll_s: float = 0.5) -> Job:
        """Poll until the job ends; `on_update` sees each state on the way."""
        job_id = self.resolve(job_id)
        while True:
            job = self.job(job_id)
            if on_update is not None:
                on_update(job)
            if job["status"] in TERMINAL:
                return job
            time.sleep(poll_s)

    def upload(self, path: str | Path) -> dict[str, Any]:
        """A picture stored on the server (POST /api/uploads): `{id, width, height, ...}`;
        a job names it by its id. OSError if the file cannot be read."""
        with open(path, "rb") as picture:
            return self._call("POST", "/api/uploads", files={"file": (Path(path).name, picture)})

    def download(self, job_id: str, path: str | Path) -> Path:
        job_id = self.resolve(job_id)
        target = Path(path)
        with self.http.stream("GET", f"/api/jobs/{job_id}/video") as response:
            if response.status_code != 200:
                response.read()
                raise ApiError(response.status_code, response.json().get("detail"))
            partial = target.with_name(target.name + ".part")
            with open(partial, "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
            partial.replace(target)  # never a half-written video under the real name
        return target

    def resolve(self, job_id: str) -> str:
        """A full job id from a unique prefix of one (as `jobs` prints them)."""
        try:
            return str(uuid.UUID(job_id))
        except ValueError:
            pass
        found: list[Job] = []
        before: str | None = None
        while True:
            response = self.http.get("/api/jobs", params={"limit": 1000, **({"before": before} if before else {})})
            if response.status_code >= 400:
                raise ApiError(response.status_code, response.json().get("detail"))
            found += [job for job in response.json() if job["id"].startswith(job_id.lower())]
            before = response.headers.get("x-next-before")
            if len(found) > AMBIGUOUS_LISTED or not before:
                break
        if len(found) == 1:
            return str(found[0]["id"])
        if not found:
            raise ApiError(404, f"no job id starts with {job_id!r}")
        listed = "".join(f"\n  {job['id']}  {job['status']}  {job['prompt'][:60]}" for job in found[:AMBIGUOUS_LISTED])
        more = "\n  and more" if len(found) > AMBIGUOUS_LISTED else ""
        raise ApiError(404, f"{job_id!r} is the start of more than one job id; give more of it:{listed}{more}")

    # -- the LoRA library -----------------------------------------------------------

    def loras(self) -> list[dict[str, Any]]:
        return self._call("GET", "/api/loras")

    def add_lora(self, path: str | Path, name: str | None = None) -> tuple[dict[str, Any], bool]:
        """The .safetensors file at `path` added to the server's LoRA library
        (as `name`, else its file name), streamed from the file, never read
        whole: its entry, and whether it is new (False: the same file was there).
        OSError if the file cannot be read."""
        with open(path, "rb") as file:
            response = self._send("POST", "/api/loras", params={"name": name or Path(path).name}, content=file,
                                  headers={"Content-Type": "application/octet-stream"},
                                  # the server syncs gigabytes to disk before it answers
                                  timeout=httpx.Timeout(self.http.timeout.connect, read=600))
        return response.json(), response.status_code == 201

    def remove_lora(self, name: str) -> None:
        self._call("DELETE", f"/api/loras/{quote(name, safe='')}")

    # -- presets (named saved settings) ------------------------------------------------

    def presets(self) -> list[dict[str, Any]]:
        return self._call("GET", "/api/presets")

    def preset_id(self, name: str) -> str:
        """The id of the preset with this name (as the server keeps names: without the space around
        them, in Unicode's NFC form, so a name typed decomposed finds it too)."""
        name = unicodedata.normalize("NFC", name.strip())
        for preset in self.presets():
            if preset["name"] == name:
                return str(preset["id"])
        raise ApiError(404, f"no preset is named {name!r}; `fastvideo-ui presets` lists them")

    def apply_preset(self, name: str, model_id: str | None = None) -> dict[str, Any]:
        """`{model_id, values}`: the named preset's values as the server checks them now, for `model_id`
        (else the preset's own model; null: for none, against the job spec alone)."""
        body = {"model_id": model_id} if model_id else {}
        return self._call("POST", f"/api/presets/{self.preset_id(name)}/apply", json=body)

    def delete_preset(self, name: str) -> None:
        self._call("DELETE", f"/api/presets/{self.preset_id(name)}")

    def export_presets(self) -> dict[str, Any]:
        return self._call("GET", "/api/presets/export")

    def import_presets(self, presets: Any, replace: bool = False) -> dict[str, Any]:
        """`{created, replaced, skipped}`, each a list of names; all refused if one is."""
        return self._call("POST", "/api/presets/import", json={"presets": presets, "replace": replace})

    # -- sweeps ----------------------------------------------------------------------

    def create_sweep(self, base: Mapping[str, Any], axes: Mapping[str, list[Any]],
                     start: bool = True) -> dict[str, Any]:
        """The jobs of every combination of the axes' values over the create body `base` (POST /api/sweeps)."""
        return self._call("POST", "/api/sweeps", json={"base": dict(base), "axes": dict(axes), "start": start})

    def sweep(self, sweep_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/sweeps/{quote(sweep_id, safe='')}")

    def sweeps(self, limit: int | None = None, before: str | None = None) -> list[dict[str, Any]]:
        """A page of sweeps, newest first, each light (GET /api/sweeps: 50 unless `limit`, at most 200)."""
        params = {key: value for key, value in (("limit", limit), ("before", before)) if value is not None}
        return self._call("GET", "/api/sweeps", params=params)

    def stop_sweep(self, sweep_id: str) -> dict[str, Any]:
        return self._call("POST", f"/api/sweeps/{quote(sweep_id, safe='')}/stop")

    def delete_sweep(self, sweep_id: str) -> None:
        self._call("DELETE", f"/api/sweeps/{quote(sweep_id, safe='')}")

    def wait_sweep(self, sweep_id: str, on_update: Callable[[dict[str, Any]], None] | None = None,
                   poll_s: float = 0.5) -> dict[str, Any]:
        """Poll until every job of the sweep has ended (or was deleted); `on_update` sees each state."""
        while True:
            sweep = self.sweep(sweep_id)
            if on_update is not None:
                on_update(sweep)
            if all(cell["status"] in (*TERMINAL, "deleted") for cell in sweep["jobs"]):
                return sweep
            time.sleep(poll_s)

    # -- the server ---------------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        return self._call("GET", "/api/models")

    def gpus(self) -> dict[str, Any]:
        return self._call("GET", "/api/gpus")
