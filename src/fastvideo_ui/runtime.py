"""Everything one server holds, built and torn down with the app."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import Engine

from .auth.sessions import SessionBook
from .config import Settings
from .jobs.catalogue import Catalogue, ModelSpec, availability
from .database.engine import make_engine
from .database.migrate import migrate_apart
from .jobs import events
from .jobs.events import EventBus
from .jobs.lora_inputs import LoraResolver
from .jobs.lora_use import jobs_using_lora
from .jobs.metrics import Metrics
from .jobs.presets import PresetStore
from .jobs.logs import LogBook
from .jobs.publisher import JobPublisher
from .jobs.scheduler import Scheduler
from .jobs.service import JobService
from .jobs.store import JobStore
from .jobs.sweep_store import SweepStore
from .jobs.sweeps import SweepService
from .jobs.supervisor import RunSupervisor
from .jobs.uploads import ImageLimits, UploadStore
from .jobs.wakeup import Wakeup
from .loras.library import LoraLibrary
from .webhooks.sender import WebhookSender
from .webhooks.signing import new_secret
from .webhooks.store import WebhookStore
from .weights.downloads import DownloadManager
from .workers.devices import Inventory, detect_inventory
from .workers.ray_fleet import RayFleet

log = logging.getLogger("fastvideo_ui")

PROBE_TIMEOUT_S = 180
UPLOAD_SWEEP_EVERY_S = 3600


def webhook_secret(settings: Settings) -> str:
    """The configured secret, else the one made for this data dir on its first start."""
    if settings.webhook_secret:
        return settings.webhook_secret
    path = settings.data_dir / "webhook-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    secret = new_secret()
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(secret + "\n")
    return secret


def _cluster_changed(wake: Wakeup, bus: EventBus, status: dict[str, Any]) -> None:
    """Ray nodes joined or left, or the cluster went out of reach or came back."""
    wake.kick()
    bus.publish(events.CLUSTER, status)


def model_availability(inventory: Inventory, fastvideo_installed: bool, spec: ModelSpec) -> tuple[bool, str]:
    """Whether this server can run the model now, and if not, why."""
    if spec.device_kind == "cpu" and not inventory.cpu_slots:
        return False, "this server has no CPU slots (--cpu-slots 0)"
    if inventory.elastic and spec.device_kind == "gpu":
        return True, ""  # the cluster's nodes run it; while the cluster is out of reach, jobs wait for it
    return availability(spec, fastvideo_installed, len(inventory.gpus), inventory.gpu_reason)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    store: JobStore
    logs: LogBook
    bus: EventBus
    inventory: Inventory
    catalogue: Catalogue  # the models served: the built-in ones, then what the fastvideo probe adopts
    scheduler: Scheduler
    jobs: JobService
    fastvideo_installed: bool
    metrics: Metrics
    webhooks: WebhookStore
    webhook_sender: WebhookSender
    downloads: DownloadManager
    sessions: SessionBook | None  # signed-in browsers; None: no token, nobody signs in
    settings_reads: asyncio.Semaphore  # held around each MP4 settings read (--max-settings-reads)
    loras: LoraLibrary  # the LoRA adapters in --lora-dir
    started_at: float = field(default_factory=time.time)
    probe: asyncio.Task[None] | None = None  # the fastvideo registry read, while it runs
    sweeper: asyncio.Task[None] | None = None  # removes uploads no job used
    presets: PresetStore = field(init=False)  # named saved settings, in the jobs database

    def __post_init__(self) -> None:
        self.presets = PresetStore(self.engine)

    @classmethod
    def build(cls, settings: Settings, inventory: Inventory | None = None) -> "Runtime":
        assert settings.output_dir is not None and settings.log_dir is not None and settings.lora_dir is not None
        settings.output_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.db_path)
        migrate_apart(engine, settings.db_path)
        store = JobStore(engine)
        logs = LogBook(settings.log_dir)
        bus = EventBus(replay_bytes=settings.event_replay_bytes)
        inventory = inventory or detect_inventory(settings.gpus, settings.cpu_slots)
        catalogue = Catalogue()
        metrics = Metrics()
        # find_spec looks for the package without importing it (and torch with it).
        installed = importlib.util.find_spec("fastvideo") is not None
        uploads = UploadStore(settings.uploads_dir, settings.max_image_decodes,
                              ImageLimits(settings.max_image_memory, settings.max_image_metadata))
        loras = LoraLibrary(settings.lora_dir, settings.max_lora_bytes, in_use=partial(jobs_using_lora, engine))
        policy = settings.webhook_policy()
        webhooks = WebhookStore(engine)
        sender = WebhookSender(webhooks, webhook_secret(settings), settings.webhook_url, settings.webhook_attempts,
                               settings.webhook_backoff_s, policy, settings.webhook_timeout_s,
                               settings.webhook_posts_per_target)
        publisher = JobPublisher(bus, store, catalogue, listeners=(sender.observe,))
        downloads = DownloadManager(partial(bus.publish, events.DOWNLOAD), max_running=settings.max_downloads)
        wake = Wakeup()
        fleet = (RayFleet(settings.ray_address, inventory, partial(_cluster_changed, wake, bus),
                          settings.ray_shared_dir) if settings.ray_address else None)
        lora_inputs = LoraResolver(loras)  # a job's `loras`: checked at create, resolved to files before each run
        supervisor = RunSupervisor(store, logs, publisher, wake, inventory, settings.output_dir,
                                   settings.stop_grace_s, metrics, settings.uploads_dir, fleet=fleet,
                                   fetch_weights=downloads.ensure, resolvers={"lora": lora_inputs})
        scheduler = Scheduler(store, logs, publisher, inventory, catalogue, supervisor, wake,
                              affinity_wait_s=settings.affinity_wait_s)
        metrics.watch(store, inventory, lambda: supervisor.snapshot().workers, lambda: scheduler.paused,
                      (lambda: fleet.connected) if fleet is not None else None)
        available = partial(model_availability, inventory, installed)
        jobs = JobService(store, logs, publisher, scheduler, catalogue, available, uploads, policy.url_problem,
                          settings.output_dir, settings.log_dir, settings.max_queued,
                          checks={"lora": lora_inputs.problem})
        jobs.sweeps = SweepService(SweepStore(engine), jobs)
        sessions = None
        if settings.api_token:
            sessions = SessionBook(engine, settings.api_token, settings.max_sessions)
            sessions.load()
        return cls(settings, engine, store, logs, bus, inventory, catalogue, scheduler, jobs, installed, metrics,
                   webhooks, sender, downloads, sessions, asyncio.Semaphore(settings.max_settings_reads), loras)

    def sweep_uploads(self) -> None:
        swept = self.jobs.uploads.sweep(self.store.referenced_uploads())
        if swept:
            log.info("removed %d uploaded image(s) no job used", swept)

    async def _sweep_uploads_hourly(self) -> None:
        """Uploads no job used go after a day, on a server that runs for weeks too."""
        while True:
            await asyncio.sleep(UPLOAD_SWEEP_EVERY_S)
            try:
                await asyncio.to_thread(self.sweep_uploads)
            except Exception:  # noqa: BLE001 - a failed sweep is tried again next hour
                log.exception("sweeping uploads failed")

    async def start(self) -> None:
        self.sweep_uploads()
        self.sweeper = asyncio.get_running_loop().create_task(self._sweep_uploads_hourly())
        await self.scheduler.start()
        if self.scheduler.supervisor.fleet is not None:
            self.scheduler.supervisor.fleet.start()
        self.webhook_sender.start()
        if self.fastvideo_installed:
            self.probe = asyncio.get_running_loop().create_task(self._read_fastvideo_registry())
        log.info(
            "ready: %d GPU(s) [%s], %d CPU slot(s); data in %s",
            len(self.inventory.gpus), self.inventory.gpu_source, len(self.inventory.cpu_slots),
            self.settings.data_dir,
        )

    async def close(self) -> None:
        if self.probe is not None and not self.probe.done():
            self.probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.probe  # it kills its child on the way out
        if self.sweeper is not None:
            self.sweeper.cancel()
        await self.scheduler.close()  # its last events may queue webhooks: they go at the next start
        if self.scheduler.supervisor.fleet is not None:
            await self.scheduler.supervisor.fleet.close()
        await self.webhook_sender.close()
        await self.downloads.close()
        self.engine.dispose()

    def model_availability(self, spec: ModelSpec) -> tuple[bool, str]:
        return model_availability(self.inventory, self.fastvideo_installed, spec)

    async def _read_fastvideo_registry(self) -> None:
        """Ask the installed FastVideo for its models. With local GPUs, a worker
        is started on the first one now, importing FastVideo before the first
        job comes (which takes it), and it reads the registry once no job waits;
        else, or if it could not, a child process reads it (importing fastvideo
        imports torch, which the server never does). Until one answers, or if
        both fail, the built-in catalogue stands."""
        models = await self.scheduler.supervisor.warm_start()
        if models is not None:
            added = self.catalogue.adopt(models)
            log.info("fastvideo's registry read by the first worker: %d more model(s)", added)
            return
        await self._probe_fastvideo()

    async def _probe_fastvideo(self) -> None:
        """FastVideo's models, read in a child process."""
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "fastvideo_ui.backends.fastvideo_catalogue",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                out, err = await asyncio.wait_for(process.communicate(), PROBE_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.warning("fastvideo's model registry did not answer in %d s", PROBE_TIMEOUT_S)
                return
            finally:
                if process.returncode is None:  # timed out, or the server is shutting down: it imports torch
                    process.kill()
                    await process.wait()
            if process.returncode != 0:
                log.warning("could not read fastvideo's model registry: %s",
                            err.decode(errors="replace").strip().splitlines()[-1:] or process.returncode)
                return
            added = self.catalogue.adopt(json.loads(out))
            log.info("fastvideo's registry read: %d more model(s)", added)
        except (OSError, ValueError) as exc:
            log.warning("could not read fastvideo's model registry: %s", exc)
