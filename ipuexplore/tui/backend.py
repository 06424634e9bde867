"""The explorer's guarded door to the compiled engine, and cached chip and estimate look-ups
(no textual here).

The core (hardware, models, networks) is imported directly. Only the engine may be missing
(it needs a compiler at install time): `engine()` is the one guarded import, and raises
`Unavailable` with the sentence the UI shows where the measurements would be.
"""

from __future__ import annotations

import functools

from ipuexplore.hardware import Chip, list_chips, load_chip
from ipuexplore.layers import Layer
from ipuexplore.models import Estimate
from ipuexplore.models import estimate as model_estimate


class Unavailable(RuntimeError):
    """The compiled engine is missing; str() is the UI's message."""


def engine():
    """The engine module (ipuexplore.engine), or Unavailable when its compiled core is missing."""
    try:
        from ipuexplore import engine as module
    except ImportError as exc:
        raise Unavailable(f"engine not built: {exc}") from exc
    return module


def chip_ids() -> list[str]:
    """The chips the controls offer: every shipped spec, as ipuexplore.hardware lists them."""
    return list_chips()


@functools.lru_cache(maxsize=32)
def chip(chip_id: str) -> Chip:
    return load_chip(chip_id)


def chip_name(chip_id: str) -> str:
    """The chip's display name, or its id when the spec does not load."""
    try:
        return chip(chip_id).name or chip_id
    except (OSError, ValueError):
        return chip_id


def chip_short(chip_id: str) -> str:
    """A column-header name: 'Graphcore IPU Mk1 (GC2)' -> 'IPU Mk1', 'NVIDIA V100 SXM2 16 GB' -> 'V100 SXM2'."""
    name = chip_name(chip_id)
    for prefix in ("Graphcore ", "NVIDIA "):
        name = name.removeprefix(prefix)
    return " ".join(name.split(" (")[0].split()[:2]) or chip_id


@functools.lru_cache(maxsize=4096)
def estimate(chip_id: str, layer: Layer, *, batch: int, dtype: str, train: bool) -> Estimate:
    """models.estimate for one chip; a model that rejects the layer raises ValueError.

    Cached: estimates are frozen dataclasses of frozen inputs, and the charts ask for the
    same layers on every keypress.
    """
    return model_estimate(chip(chip_id), layer, batch=batch, dtype=dtype, train=train)
