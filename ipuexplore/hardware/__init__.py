"""Chip specifications: one TOML file per chip in this package, loaded into frozen dataclasses.

    >>> from ipuexplore.hardware import load_chip, list_chips
    >>> list_chips()[:3]
    ['ipu-mk1', 'ipu-mk2', 'ipu-bow']
    >>> load_chip("v100").spec.hbm_bw_gb_s
    900.0

``load_chip`` also takes a path to a user's own file (``--hw-file``). The host's spec is
``host.toml`` (figures measured on the dev machine) unless the caller asks for measurement
(``load_chip("host", measure_host=True)``) and the C engine is built: then its peak FLOP/s
and memory bandwidth come from ``ipuexplore.engine.host_peaks()``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from types import MappingProxyType

from .loader import load_chip_file, parse_chip
from .spec import TAGS, Chip, CpuSpec, Figure, GpuSpec, IpuSpec, SystemSpec

__all__ = [
    "Chip",
    "CpuSpec",
    "Figure",
    "GpuSpec",
    "IpuSpec",
    "SystemSpec",
    "SYSTEM_IDS",
    "listing",
    "TAGS",
    "CHIP_IDS",
    "DEFAULT_PAIR",
    "list_chips",
    "load_chip",
    "parse_chip",
]

# Shipped ids in the order tables show them: the source article's pair first.
CHIP_IDS = ("ipu-mk1", "ipu-mk2", "ipu-bow", "v100", "v100-2019", "a100-40gb", "a100-80gb", "h100",
            "a100-80gb-mlperf", "h100-mlperf", "host")
# Shipped systems (family "system": several chips and their links), after the chips.
SYSTEM_IDS = ("ipu-c2", "ipu-pod16", "ipu-pod64", "ipu-pod256", "bow-pod16", "bow-pod64", "bow-pod256", "dgx-1-v100", "dgx-a100", "dgx-h100",
              "dgx-a100-mlperf", "dgx-h100-mlperf")
# The pair the source article compares (Graphcore blog, Masters 2020): every view's default.
DEFAULT_PAIR = ("ipu-mk1", "v100")


def list_chips() -> list[str]:
    """Ids of every shipped target: the chips, then the systems (what ``--chips`` takes)."""
    return list(CHIP_IDS + SYSTEM_IDS)


def listing() -> list[tuple[str, str]]:
    """(id, one-line description) of every shipped chip and system, in table order."""
    out = []
    for chip_id in list_chips():
        chip = _shipped(chip_id)
        what = f"{chip.devices} x {chip.device}" if chip.system is not None else chip.family
        out.append((chip_id, f"{chip.name} ({what})"))
    return out


def load_chip(id_or_path: str | os.PathLike, *, measure_host: bool = False) -> Chip:
    """A shipped chip by id, or a spec file by path (anything with a '/' or ending .toml)."""
    if isinstance(id_or_path, Chip):
        return id_or_path
    text = os.fspath(id_or_path)
    if text in CHIP_IDS or text in SYSTEM_IDS:
        chip = _shipped(text)
        if text == "host" and measure_host:
            chip = _measured_host(chip)
        return chip
    if text.endswith(".toml") or os.sep in text or "/" in text or os.path.exists(text):
        return load_chip_file(text, load_chip)
    raise ValueError(f"unknown chip {text!r}: expected one of {', '.join(CHIP_IDS + SYSTEM_IDS)} or a path to a .toml spec")


@lru_cache(maxsize=None)
def _shipped(chip_id: str) -> Chip:
    text = resources.files(__package__).joinpath(f"{chip_id}.toml").read_text(encoding="utf-8")
    chip = parse_chip(text, f"ipuexplore/hardware/{chip_id}.toml", load_chip)
    if chip.id != chip_id:  # a packaging mistake, not a user error
        raise RuntimeError(f"{chip_id}.toml declares id {chip.id!r}")
    return chip


def _measured_host(default: Chip) -> Chip:
    """The host spec with the engine's measured peaks, or the default when it isn't built."""
    try:
        from ipuexplore import engine  # lazy: the engine is optional (a C extension)

        peaks = engine.host_peaks()
    except Exception:  # not built, or measurement failed: the shipped defaults stand
        return default
    flop_s = getattr(peaks, "peak_flop_s", None)
    bw = getattr(peaks, "mem_bw_b_s", None)
    changes: dict[str, float] = {}
    figures = dict(default.figures)
    note = Figure("M", "measured by ipuexplore.engine.host_peaks() on this machine")
    if isinstance(flop_s, (int, float)) and flop_s > 0:
        changes["peak_fp32_gflop_s"] = flop_s / 1e9
        figures["peak_fp32_gflop_s"] = note
    if isinstance(bw, (int, float)) and bw > 0:
        changes["dram_bw_gb_s"] = bw / 1e9
        figures["dram_bw_gb_s"] = note
    workers = getattr(peaks, "workers", None)
    if isinstance(workers, int) and workers > 0:
        changes["cores"] = workers
        figures["cores"] = note
    if not changes:
        return default
    spec = replace(default.spec, **changes)
    assert isinstance(spec, CpuSpec)
    isa = getattr(peaks, "isa", "")
    return replace(
        default,
        spec=spec,
        figures=MappingProxyType(figures),
        name=f"Host CPU (measured: {spec.cores} workers{', ' + isa if isinstance(isa, str) and isa else ''})",
    )
