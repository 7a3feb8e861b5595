"""What the jobs layer tells the world as jobs change: each job's JSON on the
event bus and to its listeners (webhooks watch for ends), a run's progress,
and the queue's positions when they move. One object, made before the
scheduler and its supervisor, so both are given it at construction."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..database.tables import JobRow
from . import events
from .catalogue import Catalogue
from .events import EventBus
from .serialize import job_json
from .states import JobStatus
from .store import JobStore

JobListener = Callable[[JobRow, dict[str, Any]], None]


class JobPublisher:
    def __init__(self, bus: EventBus, store: JobStore, catalogue: Catalogue,
                 listeners: Sequence[JobListener] = ()) -> None:
        self.bus = bus
        self.store = store
        self.catalogue = catalogue
        self.listeners = tuple(listeners)  # called with every job's row and JSON as it changes
        self._last_positions: dict[str, int] = {}

    def positions(self) -> dict[str, int]:
        """1-based place in its device pool's queue, for every queued job."""
        positions: dict[str, int] = {}
        counters: dict[str, int] = {}
        for job in self.store.queue_order():
            spec = self.catalogue.find(job.params.model_id)
            kind = spec.device_kind if spec else "cpu"
            counters[kind] = counters.get(kind, 0) + 1
            positions[job.id] = counters[kind]
        return positions

    def job(self, row: JobRow, event: str = events.UPDATED) -> None:
        position = self.positions().get(row.id) if row.status == JobStatus.QUEUED.value else None
        job = job_json(row, position)
        self.bus.publish(event, job)
        for listener in self.listeners:
            listener(row, job)

    def progress_of(self, job_id: str, shown: Mapping[str, Any]) -> None:
        """A running job's progress event from its progress fields as they stand (serialize.PROGRESS_START's)."""
        self.bus.publish(events.PROGRESS, {"id": job_id, "status": JobStatus.RUNNING.value, **shown})

    def queue(self, paused: bool, force: bool = False) -> None:
        """The queue's positions, when they moved since last said (`force`: say them anyway)."""
        positions = self.positions()
        if force or positions != self._last_positions:
            self._last_positions = positions
            self.bus.publish(events.QUEUE, {"positions": positions, "paused": paused})

    def deleted(self, job_id: str) -> None:
        self.bus.publish(events.DELETED, {"id": job_id})
