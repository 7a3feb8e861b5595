"""A Scheduler built as Runtime.build wires one (its publisher, wake-up and
supervisor made first and given to it), for tests that drive it without a server."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastvideo_ui.jobs.catalogue import Catalogue
from fastvideo_ui.jobs.events import EventBus
from fastvideo_ui.jobs.logs import LogBook
from fastvideo_ui.jobs.metrics import Metrics
from fastvideo_ui.jobs.publisher import JobListener, JobPublisher
from fastvideo_ui.jobs.scheduler import Scheduler
from fastvideo_ui.jobs.store import JobStore
from fastvideo_ui.jobs.supervisor import RunSupervisor
from fastvideo_ui.jobs.wakeup import Wakeup
from fastvideo_ui.workers.devices import Inventory


def make_scheduler(store: JobStore, logs: LogBook, inventory: Inventory, output_dir: Path,
                   stop_grace_s: float = 1.0, listeners: Sequence[JobListener] = ()) -> Scheduler:
    catalogue = Catalogue()
    publisher = JobPublisher(EventBus(), store, catalogue, listeners)
    wake = Wakeup()
    supervisor = RunSupervisor(store, logs, publisher, wake, inventory, output_dir, stop_grace_s, Metrics())
    return Scheduler(store, logs, publisher, inventory, catalogue, supervisor, wake)
