"""Webhook deliveries and their attempts, in the jobs database."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, NamedTuple

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session, sessionmaker

from ..database.tables import WebhookAttempt, WebhookDelivery
from ..urls import redacted

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class Due(NamedTuple):
    id: str
    url: str
    payload: str
    attempts: int


class WebhookStore:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def _session(self) -> Session:
        return self._sessions()

    def add(self, delivery_id: str, job_id: str, event: str, url: str, payload: str, now: float) -> bool:
        """Queue a delivery; False when this id was queued before (an event is sent once)."""
        statement = insert(WebhookDelivery).values(
            id=delivery_id, job_id=job_id, event=event, url=url, payload=payload, status=PENDING,
            attempts=0, next_attempt_at=now, created_at=now,
        ).on_conflict_do_nothing(index_elements=["id"])
        with self._session() as session, session.begin():
            return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]

    def pending(self) -> Generator[tuple[str, str, float], None, None]:
        """Every pending delivery's id, URL and when it is due, soonest first,
        read as they are consumed: the sender stops once its slots are full."""
        query = (select(WebhookDelivery.id, WebhookDelivery.url, WebhookDelivery.next_attempt_at)
                 .where(WebhookDelivery.status == PENDING).order_by(WebhookDelivery.next_attempt_at))
        with self._session() as session:
            for delivery_id, url, at in session.execute(query):
                yield delivery_id, url, float(at or 0.0)

    def load(self, ids: list[str]) -> list[Due]:
        """These deliveries, in this order (one deleted meanwhile is left out)."""
        query = select(WebhookDelivery.id, WebhookDelivery.url, WebhookDelivery.payload, WebhookDelivery.attempts
                       ).where(WebhookDelivery.id.in_(ids))
        with self._session() as session:
            found = {row[0]: Due(*row) for row in session.execute(query)}
        return [found[delivery_id] for delivery_id in ids if delivery_id in found]

    def postpone(self, delivery_id: str, next_attempt_at: float) -> None:
        """Put a pending delivery back in the queue until then, as no attempt."""
        with self._session() as session, session.begin():
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is not None and delivery.status == PENDING:
                delivery.next_attempt_at = next_attempt_at

    def record(self, delivery_id: str, number: int, at: float, duration_ms: float, status_code: int | None,
               error: str | None, status: str, next_attempt_at: float | None) -> None:
        """One attempt, and where the delivery stands after it. A delivery whose
        job was deleted meanwhile is gone, and so is this record."""
        with self._session() as session, session.begin():
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return
            delivery.attempts = number
            delivery.status = status
            delivery.next_attempt_at = next_attempt_at
            if status != PENDING:
                delivery.finished_at = at
            session.add(WebhookAttempt(delivery_id=delivery_id, number=number, at=at, duration_ms=duration_ms,
                                       status_code=status_code, error=error))

    def for_job(self, job_id: str) -> list[dict[str, Any]]:
        """A job's deliveries, oldest first, each with its attempts."""
        with self._session() as session:
            deliveries = session.scalars(select(WebhookDelivery).where(WebhookDelivery.job_id == job_id)
                                         .order_by(WebhookDelivery.created_at, WebhookDelivery.id)).all()
            ids = [delivery.id for delivery in deliveries]
            attempts: dict[str, list[dict[str, Any]]] = {delivery_id: [] for delivery_id in ids}
            for attempt in session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids))
                                           .order_by(WebhookAttempt.number)):
                attempts[attempt.delivery_id].append({
                    "number": attempt.number, "at": attempt.at, "duration_ms": round(attempt.duration_ms, 1),
                    "status_code": attempt.status_code, "error": attempt.error,
                })
        return [{
            "id": delivery.id, "event": delivery.event, "url": redacted(delivery.url), "status": delivery.status,
            "attempts": attempts[delivery.id], "next_attempt_at": delivery.next_attempt_at,
            "created_at": delivery.created_at, "finished_at": delivery.finished_at,
        } for delivery in deliveries]

    def pending_count(self) -> int:
        with self._session() as session:
            return int(session.scalar(select(func.count()).select_from(WebhookDelivery)
                                      .where(WebhookDelivery.status == PENDING)) or 0)
