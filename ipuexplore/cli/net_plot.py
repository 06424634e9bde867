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


def roofline_plot(analysis, *, width: int = 100, height: int = 24, color: bool = False) -> str:
    """One log-log panel per chip of `analysis` (networks.analyse), as text."""
    import plotext as plt

    plt.clear_figure()
    if not color:
        plt.theme("clear")
    chips = list(analysis.chips)
    plt.subplots(1, len(chips))
    plt.plotsize(width, height)
    for column, chip_id in enumerate(chips, start=1):
        chip = load_chip(chip_id)
        points = layer_points(analysis.rows, chip_id, analysis.batch)
        plt.subplot(1, column)
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
    text = plt.build()
    mode = "training" if analysis.train else "inference"
    heading = (f"{analysis.network.name}, batch {analysis.batch}, {analysis.dtype} {mode}: "
               "each layer at its achieved TFLOP/s (model) under the chip's roofs\n")
    return heading + (text if color else re.sub(r"\x1b\[[0-9;]*m", "", text))
