"""The scheduler's wake-up call, made before the scheduler so that whatever
may let a queued job start (a create, a run's end, a Ray node joining) can be
given it at construction, without holding the scheduler itself."""

from __future__ import annotations

import asyncio


class Wakeup:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._run_ended = False

    def kick(self) -> None:
        """Something changed: the scheduler makes a pass."""
        self._event.set()

    def run_ended(self) -> None:
        """A run ended: a pass, and the duration estimates are stale (the run is new history)."""
        self._run_ended = True
        self.kick()

    async def wait(self) -> bool:
        """Until kicked; whether a run ended since the last wait."""
        await self._event.wait()
        self._event.clear()
        ended, self._run_ended = self._run_ended, False
        return ended
