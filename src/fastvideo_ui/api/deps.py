"""The one door between the routes and the server's runtime: each route names
what it needs (the JobService, the upload store, ...) as a FastAPI dependency
from here, and nothing else under api/ reaches app.state.runtime
(tests/test_layers.py). The dependencies are `async def`: FastAPI runs a sync
one in the thread pool, a thread hop on every request."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ..config import Settings
from ..jobs.catalogue import ModelSpec
from ..jobs.events import EventBus
from ..jobs.metrics import Metrics
from ..jobs.presets import PresetStore
from ..jobs.service import JobService
from ..jobs.store import JobNotFound
from ..jobs.uploads import UploadStore
from ..loras.library import LoraLibrary
from ..runtime import Runtime
from ..webhooks.store import WebhookStore
from ..weights.downloads import DownloadManager
from ..workers.devices import Inventory


def uuid_id(text: str, not_found: Callable[[str], Exception]) -> str:
    """Ids are UUIDs (jobs', sweeps', presets'), in their canonical form; anything else names nothing
    (nor a file): `not_found(text)` is raised."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise not_found(text) from None


def job_id(text: str) -> str:
    """A job's id from a path: JobNotFound for anything but a UUID."""
    return uuid_id(text, JobNotFound)


@dataclass(frozen=True)
class Models:
    """The models this server serves, and whether each can run here (and if not, why)."""

    all: Callable[[], list[ModelSpec]]
    find: Callable[[str], ModelSpec | None]  # None: no model has this id here
    availability: Callable[[ModelSpec], tuple[bool, str]]


@dataclass(frozen=True)
class ServerFacts:
    """What /api/health says of the server process beyond its jobs."""

    started_at: float
    fastvideo_installed: bool


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def _jobs(request: Request) -> JobService:
    return _runtime(request).jobs


async def _uploads(request: Request) -> UploadStore:
    return _runtime(request).jobs.uploads


async def _presets(request: Request) -> PresetStore:
    return _runtime(request).presets


async def _loras(request: Request) -> LoraLibrary:
    return _runtime(request).loras


async def _settings(request: Request) -> Settings:
    return _runtime(request).settings


async def _settings_reads(request: Request) -> asyncio.Semaphore:
    return _runtime(request).settings_reads


async def _downloads(request: Request) -> DownloadManager:
    return _runtime(request).downloads


async def _deliveries(request: Request) -> WebhookStore:
    return _runtime(request).webhooks


async def _bus(request: Request) -> EventBus:
    return _runtime(request).bus


async def _metrics(request: Request) -> Metrics:
    return _runtime(request).metrics


async def _inventory(request: Request) -> Inventory:
    return _runtime(request).inventory


async def _models(request: Request) -> Models:
    runtime = _runtime(request)
    return Models(runtime.catalogue.all, runtime.catalogue.find, runtime.model_availability)


async def _facts(request: Request) -> ServerFacts:
    runtime = _runtime(request)
    return ServerFacts(runtime.started_at, runtime.fastvideo_installed)


Jobs = Annotated[JobService, Depends(_jobs)]
Uploads = Annotated[UploadStore, Depends(_uploads)]
Loras = Annotated[LoraLibrary, Depends(_loras)]
Presets = Annotated[PresetStore, Depends(_presets)]
ServerSettings = Annotated[Settings, Depends(_settings)]
SettingsReads = Annotated[asyncio.Semaphore, Depends(_settings_reads)]  # held around each MP4 settings read
Downloads = Annotated[DownloadManager, Depends(_downloads)]
Deliveries = Annotated[WebhookStore, Depends(_deliveries)]
Bus = Annotated[EventBus, Depends(_bus)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
Devices = Annotated[Inventory, Depends(_inventory)]
ModelsDep = Annotated[Models, Depends(_models)]
Facts = Annotated[ServerFacts, Depends(_facts)]
