"""`ipuexplore net NAME --plot roofline`: every layer of the network as a point per chip
(arithmetic intensity against achieved FLOP/s, one colour per layer type) under the chip's
roofs (peak FLOP/s and each memory level's bandwidth, models/roofline.py)."""

from __future__ import annotations

import re

import numpy as np

from ipuexplore.hardware import load_chip
from ipuexplore.models.roofline import attainable_flop_s, layer_points

KIND_COLORS = {"conv": "blue", "grouped conv": "red", "linear": "magenta", "norm": "green", "act": "orange", "add": "cyan", "pool": "yellow"}
ROOF_COLORS = ("gray", "black", "white")


def new_figure():
    """A plotext figure of its own: the module-level one is global and a log-scaled figure
    is logged in place when built, so reusing it (a second plot in one process) took the
    log of the log."""
    from plotext._figure import _figure_class

    return _figure_class()


def roofline_plot(analysis, *, width: int = 100, height: int = 24, color: bool = False) -> str:
    """One log-log panel per chip of `analysis` (networks.analyse), as text."""
    figure = new_figure()
    chips = list(analysis.chips)
    figure.subplots(1, len(chips))
    figure.plotsize(width, height)
    for column, chip_id in enumerate(chips, start=1):
        chip = load_chip(chip_id)
        points = layer_points(analysis.rows, chip_id, analysis.batch)
        plt = figure.subplot(1, column)
        if not color:
            plt.theme("clear")
        plt.xscale("log")
        plt.yscale("log")
        peak = chip.peak_flop_s(analysis.dtype)
        xs = [p.intensity for p in points]
        axis = np.logspace(np.log10(min(xs) / 2), np.log10(max(xs) * 2), 40)
        for (level, _capacity, bw), roof_color in zip(chip.memory_levels(), ROOF_COLORS * 3):
            plt.plot(list(axis), [attainable_flop_s(x, peak, bw) / 1e12 for x in axis],
                     marker="braille", color=roof_color, label=f"{level} {bw / 1e9:.0f} GB/s")
        for kind in sorted({p.kind for p in points}):
            mine = [p for p in points if p.kind == kind]
            plt.scatter([p.intensity for p in mine], [p.achieved_flop_s / 1e12 for p in mine],
                        marker="●", color=KIND_COLORS.get(kind, "black"), label=kind)
        plt.title(f"{chip_id}: TFLOP/s vs FLOP/byte")
        plt.xlabel("FLOP/byte")
    text = figure.build()
    mode = "training" if analysis.train else "inference"
    heading = (f"{analysis.network.name}, batch {analysis.batch}, {analysis.dtype} {mode}: "
               "each layer at its achieved TFLOP/s (model) under the chip's roofs\n")
    return heading + (text if color else re.sub(r"\x1b\[[0-9;]*m", "", text))
