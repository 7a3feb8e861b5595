"""What the server resolves for a run before its worker gets it: each
`resolve` field's value (spec.fields), through the resolver the field names
(a LoRA's library name to its file; a Hub id fetched into the cache first).
A resolver is handed the run's fetch, the same weights fetch a model's
weights go through, so its progress is the job's progress; a value that
cannot be resolved fails the run with a reason a user can act on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

from ..spec.fields import FIELDS, JobParams

# A Hub repo into the cache, the job showing the download (with the weights fetch's own arguments: a LoRA's
# file, weights/fetch.py); False: the job was stopped meanwhile.
Fetch = Callable[..., Awaitable[bool]]
RESOLVED: Final = tuple(f for f in FIELDS if f.resolve)


class InputUnavailable(Exception):
    """A field's value cannot be had for this run: the message says what is missing and why."""


class Stopping(Exception):
    """The job was stopped while one of its inputs was being fetched."""


class Resolver(Protocol):
    async def __call__(self, value: Any, fetch: Fetch) -> Any:
        """The value as the worker needs it (JSON), or InputUnavailable / Stopping."""


async def resolve_inputs(params: JobParams, resolvers: Mapping[str, Resolver], fetch: Fetch) -> dict[str, Any]:
    """Each set `resolve` field's resolved value, by field name."""
    out: dict[str, Any] = {}
    for f in RESOLVED:
        value = getattr(params, f.name)
        if not value:
            continue
        resolver = resolvers.get(f.resolve or "")
        if resolver is None:
            raise InputUnavailable(f"{f.name}: this server has no {f.resolve!r} resolver")
        out[f.name] = await resolver(value, fetch)
    return out
