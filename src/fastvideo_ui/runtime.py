"""Everything one server holds, built and torn down with the app."""

from __future__ import annotations

import importlib.util
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine

from .config import Settings
from .jobs.catalogue import ALL_MODELS, ModelSpec, availability
from .jobs.db import make_engine, migrate
from .jobs.events import EventBus
from .jobs.logs import LogBook
from .jobs.scheduler import Scheduler
from .jobs.service import JobService
from .jobs.store import JobStore
from .workers.devices import Inventory, detect_inventory

log = logging.getLogger("fastvideo_ui")


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    store: JobStore
    logs: LogBook
    bus: EventBus
    inventory: Inventory
    scheduler: Scheduler
    jobs: JobService
    fastvideo_installed: bool
    started_at: float = field(default_factory=time.time)

    @classmethod
    def build(cls, settings: Settings) -> "Runtime":
        assert settings.output_dir is not None and settings.log_dir is not None
        settings.output_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.db_path)
        migrate(engine)
        store = JobStore(engine)
        logs = LogBook(settings.log_dir)
        bus = EventBus()
        inventory = detect_inventory(settings.gpus, settings.cpu_slots)
        scheduler = Scheduler(store, logs, bus, inventory, settings.output_dir, settings.stop_grace_s)
        jobs = JobService(store, logs, bus, scheduler)
        # find_spec looks for the package without importing it (and torch with it).
        installed = importlib.util.find_spec("fastvideo") is not None
        return cls(settings, engine, store, logs, bus, inventory, scheduler, jobs, installed)

    async def start(self) -> None:
        await self.scheduler.start()
        log.info(
            "ready: %d GPU(s) [%s], %d CPU slot(s); data in %s",
            len(self.inventory.gpus), self.inventory.gpu_source, len(self.inventory.cpu_slots),
            self.settings.data_dir,
        )

    async def close(self) -> None:
        await self.scheduler.close()
        self.engine.dispose()

    def model_availability(self, spec: ModelSpec) -> tuple[bool, str]:
        if spec.device_kind == "cpu" and not self.inventory.cpu_slots:
            return False, "this server has no CPU slots (--cpu-slots 0)"
        return availability(spec, self.fastvideo_installed, len(self.inventory.gpus), self.inventory.gpu_reason)

    def models(self) -> list[ModelSpec]:
        return list(ALL_MODELS)
