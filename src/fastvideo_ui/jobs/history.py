"""The completed runs estimates are made from (jobs/estimates.py), kept in
memory: each model's latest runs are read from the database once, and each run
that completes afterwards is added as it ends. Before, every run's end emptied
the cache and the next job's estimate queried the jobs table again (sorting
every completed job of its model), once per job on a busy server. A run kept
here stays history when its job is deleted: its timing was real."""

from __future__ import annotations

from typing import Any

from ..database.tables import JobRow
from ..spec.rules import params_of
from .catalogue import Catalogue, ModelSpec
from .estimates import Estimate, Shape, estimate
from .store import JobStore

KEPT = 20  # a model's runs kept, newest first (estimates reads fewer)
KEPT_OTHERS = 50  # runs of any model, for a model never run


class RunHistory:
    def __init__(self, store: JobStore, catalogue: Catalogue) -> None:
        self.store = store
        self.catalogue = catalogue
        self._by_model: dict[str, list[tuple[Any, ...]]] = {}  # estimates.History, per model
        self._any_model: list[tuple[Any, ...]] | None = None  # (model id, *a History entry)
        self._estimates: dict[tuple[str, Shape], Estimate | None] = {}

    def estimate_of(self, params: Any, spec: ModelSpec) -> Estimate | None:
        """The estimate of a job with these values (by attribute) of model `spec`."""
        key = (params.model_id, Shape.of(params))
        if key not in self._estimates:
            history = self._runs_of(params.model_id)
            others: list[tuple[Any, ...]] = []
            if spec.parameters_b is not None and not history:
                others = [(parameters, *run) for model_id, *run in self._runs_of_any_model()
                          if model_id != spec.id and (parameters := self._parameters_b(model_id))]
            self._estimates[key] = estimate(history, key[1], spec.parameters_b, others)
        return self._estimates[key]

    def completed(self, row: JobRow) -> None:
        """A run completed: the newest history of its model."""
        if row.started_at is None or row.finished_at is None:
            return
        run = (row.finished_at - row.started_at, row.load_seconds, row.step_seconds, *Shape.of(params_of(row)).key)
        if row.model_id in self._by_model:
            self._by_model[row.model_id] = [run, *self._by_model[row.model_id]][:KEPT]
        if self._any_model is not None:
            self._any_model = [(row.model_id, *run), *self._any_model][:KEPT_OTHERS]
        self._estimates.clear()

    def _runs_of(self, model_id: str) -> list[tuple[Any, ...]]:
        if model_id not in self._by_model:
            self._by_model[model_id] = list(self.store.durations(model_id, KEPT))
        return self._by_model[model_id]

    def _runs_of_any_model(self) -> list[tuple[Any, ...]]:
        if self._any_model is None:
            self._any_model = self.store.recent_durations(KEPT_OTHERS)
        return self._any_model

    def _parameters_b(self, model_id: str) -> float | None:
        spec = self.catalogue.find(model_id)
        return spec.parameters_b if spec is not None else None
