"""How a call picks its kernel set: the key shared by the generated modules and the runtime.

A loss with static parameters (switches, integer values) or parameters given as arrays has one
kernel set per combination; the generator names each set by this key and the runtime looks it
up by the same key. Plain Python: neither side imports the other.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["variant_key", "static_parts"]


def variant_key(static_on: Iterable[str], arrays: Iterable[str]) -> tuple[str, ...]:
    """Which kernel set serves a call: static switches that are on (``name``) or integer
    static values (``name=value``), parameters given as arrays (``name[]``)."""
    return tuple(sorted([*static_on, *(a + "[]" for a in arrays)]))


def static_parts(static: dict) -> list[str]:
    """The variant-key parts of static parameter values: a switch by its name when on, an
    integer as ``name=value``."""
    return [
        k if isinstance(v, bool) else f"{k}={v}"
        for k, v in static.items()
        if not (isinstance(v, bool) and not v)
    ]
