"""The TUI's one door to the models, chip specs, networks and engine (no textual here).

The parts arrive separately (and the engine needs a compiler at install time), so each
accessor raises `Unavailable` with a sentence for the UI instead of an ImportError; the
UI shows that sentence where the numbers would be. Nothing here invents a number.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

# The contract's chip ids (docs/CONTRACTS.md), used for the chip controls until the specs load.
CONTRACT_CHIPS = ("ipu-mk1", "ipu-mk2", "ipu-bow", "v100", "a100-40gb", "a100-80gb", "h100", "host")


class Unavailable(RuntimeError):
    """A part of ipuexplore is missing or failed to load; str() is the UI's message."""


def _import(module: str, what: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or module
        raise Unavailable(f"{what} not available ({missing} cannot be imported: {exc})") from exc


def _attr(module, name: str, what: str):
    """A contract function of a part; a part still being written may not have it yet."""
    try:
        return getattr(module, name)
    except AttributeError:
        raise Unavailable(f"{what} not available yet ({module.__name__}.{name} is missing)") from None


def hardware():
    return _import("ipuexplore.hardware", "chip specs")


def models():
    return _import("ipuexplore.models", "performance models")


def networks():
    return _import("ipuexplore.networks", "networks")


def engine():
    """The engine module; its compiled core is what usually is missing."""
    try:
        return importlib.import_module("ipuexplore.engine")
    except ImportError as exc:
        raise Unavailable(f"engine not built: {exc}") from exc


def chip_ids() -> list[str]:
    try:
        return list(_attr(hardware(), "list_chips", "chip specs")())
    except Unavailable:
        return list(CONTRACT_CHIPS)


@functools.lru_cache(maxsize=32)
def chip(chip_id: str) -> Any:
    try:
        return _attr(hardware(), "load_chip", "chip specs")(chip_id)
    except Unavailable:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise Unavailable(f"chip {chip_id!r} could not be loaded: {exc}") from exc


def chip_name(chip_id: str) -> str:
    """The chip's display name where the spec has one, else its id."""
    try:
        spec = chip(chip_id)
    except Unavailable:
        return chip_id
    return str(getattr(spec, "name", None) or chip_id)


def chip_short(chip_id: str) -> str:
    """A column-header name: 'Graphcore IPU Mk1 (GC2)' -> 'IPU Mk1', 'NVIDIA V100 SXM2 16 GB' -> 'V100 SXM2'."""
    name = chip_name(chip_id)
    for prefix in ("Graphcore ", "NVIDIA "):
        name = name.removeprefix(prefix)
    return " ".join(name.split(" (")[0].split()[:2]) or chip_id


def estimate(chip_id: str, layer, *, batch: int, dtype: str, train: bool):
    """models.estimate for one chip; a model that rejects the layer raises ValueError.

    Cached: estimates are frozen dataclasses of frozen inputs, and the charts ask for the
    same layers on every keypress.
    """
    return _estimate(chip_id, layer, batch, dtype, train)


@functools.lru_cache(maxsize=4096)
def _estimate(chip_id: str, layer, batch: int, dtype: str, train: bool):
    estimate_fn = _attr(models(), "estimate", "performance models")
    return estimate_fn(chip(chip_id), layer, batch=batch, dtype=dtype, train=train)
