"""The scheduler's wake-up call, made before the scheduler so that whatever
may let a queued job start (a create, a run's end, a Ray node joining) can be
given it at construction, without holding the scheduler itself."""

from __future__ import annotations

import asyncio


class Wakeup:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def kick(self) -> None:
        """Something changed: the scheduler makes a pass."""
        self._event.set()

    def run_ended(self) -> None:
        """A run ended: its devices are free (a completed one is history already: jobs/history.py)."""
        self.kick()

    async def wait(self) -> None:
        """Until kicked."""
        await self._event.wait()
        self._event.clear()
