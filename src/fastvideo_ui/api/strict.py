"""The base of every request body: unknown fields are refused, by name."""

from __future__ import annotations

import difflib

from pydantic import BaseModel, ConfigDict


class StrictBody(BaseModel):
    """A body that refuses a field it does not know (a 422 naming it): a
    misspelt `num_inference_step` must not quietly run a job with the model's
    default steps on a GPU."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def unknown_field(cls, name: str) -> str:
        close = difflib.get_close_matches(name, list(cls.model_fields), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else f"; the fields are {', '.join(cls.model_fields)}"
        return f"unknown field{hint}"
