"""Counts in words, for messages people read."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 CPU slot`, `2 CPU slots`: never "1 CPU slots"."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"
