"""How numbers and times read, in the CLI and the explorer alike: one unit, one way of writing it."""

from __future__ import annotations

import math

_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """1.23e9, 'B' -> '1.23 GB'; None or NaN -> an em dash (never a made-up number)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}".rstrip()
    return f"{value:.{digits}g} {unit}".rstrip()


def seconds(value: float | None) -> str:
    """A duration with a unit that keeps three significant digits (ns .. s)."""
    if value is None or not math.isfinite(value):
        return "—"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def percent(fraction: float | None) -> str:
    if fraction is None or not math.isfinite(fraction):
        return "—"
    return f"{100 * fraction:.1f}%"


def ratio(value: float | None) -> str:
    if value is None or not math.isfinite(value) or value <= 0:
        return "—"
    if value < 0.1:
        return f"{value:.2g}x"  # 0.0028x, not 0.00x
    return f"{value:.2f}x" if value < 10 else f"{value:.1f}x"
