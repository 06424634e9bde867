"""Both chips' estimates for a LayerSettings, and how they read (no textual here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ipuexplore.formatting import percent, seconds, si

from . import backend
from .settings import LayerSettings


@dataclass(frozen=True)
class ChipResult:
    """One chip's column: an Estimate, or the reason there is none."""

    chip_id: str
    name: str
    estimate: Any = None
    error: str = ""
    batch: int = 1
    short: str = ""  # column-header name

    @property
    def img_s(self) -> float | None:
        if self.estimate is None or not self.estimate.time_s > 0:
            return None
        return self.batch / self.estimate.time_s


def short_unit(unit: str) -> str:
    """'tensor cores (fp16)' -> 'tensor cores': the parenthesis is in the help and exports."""
    return unit.split(" (")[0]


def rows(result: ChipResult) -> list[tuple[str, str]]:
    """(metric, formatted value) in display order."""
    e = result.estimate
    return [
        ("FLOPs (2xMAC)", si(e.flops, "FLOP")),
        ("bytes moved", si(e.bytes, "B")),
        ("intensity", f"{e.arithmetic_intensity:.3g} FLOP/B"),
        ("time", seconds(e.time_s)),
        ("images/s", si(result.img_s, "")),
        ("TFLOP/s", f"{e.achieved_flop_s / 1e12:.3g}"),
        ("bandwidth", si(e.bandwidth_b_s, "B/s")),
        ("utilisation", percent(e.utilisation)),
        ("runs on", short_unit(str(e.unit))),
        ("bound by", f"{e.bound} ({e.memory_level})" if e.bound == "memory" else str(e.bound)),
    ]


def raw(result: ChipResult) -> dict:
    """Unformatted numbers for export."""
    e = result.estimate
    if e is None:
        return {"chip": result.chip_id, "error": result.error}
    return {
        "chip": result.chip_id, "flops": e.flops, "bytes": e.bytes,
        "arithmetic_intensity": e.arithmetic_intensity, "time_s": e.time_s,
        "img_s": result.img_s, "achieved_flop_s": e.achieved_flop_s,
        "bandwidth_b_s": e.bandwidth_b_s, "utilisation": e.utilisation, "bound": e.bound,
        "unit": e.unit, "memory_level": e.memory_level,
    }


def chip_results(s: LayerSettings) -> list[ChipResult]:
    """One ChipResult per compared chip; model errors become the result's `error`."""
    try:
        layer = s.layer()
    except ValueError as exc:
        return [ChipResult(c, c, error=f"invalid layer: {exc}", short=c) for c in (s.chip_a, s.chip_b)]
    out = []
    for chip_id in (s.chip_a, s.chip_b):
        name, short = backend.chip_name(chip_id), backend.chip_short(chip_id)
        try:
            est = backend.estimate(chip_id, layer, batch=s.batch, dtype=s.dtype, train=s.train)
        except (ValueError, KeyError, ZeroDivisionError, TypeError) as exc:
            out.append(ChipResult(chip_id, name, error=f"model rejected the layer: {exc}", batch=s.batch, short=short))
        except Exception as exc:  # noqa: BLE001 - a model bug must show in the UI, not crash it
            out.append(ChipResult(chip_id, name, error=f"model failed: {type(exc).__name__}: {exc}",
                                  batch=s.batch, short=short))
        else:
            out.append(ChipResult(chip_id, name, estimate=est, batch=s.batch, short=short))
    return out
