"""Charts drawn with textual-plotext: throughput vs group size, and a roofline per chip."""

from __future__ import annotations

import math

from rich.text import Text
from textual_plotext import PlotextPlot

from ..chartdata import Roofline, SweepPoint, intensity_axis
from ..fmt import si

# plotext colour names: chip A, chip B, host (legends go outside the plot: plotext draws its
# legend over the data's top-left corner, where the current point often is)
COLOURS = ("green", "red", "cyan")
LEVEL_COLOURS = ("blue", "magenta", "yellow")


def _key(text: Text, label: str, colour: str, mark: str = "━━") -> None:
    text.append(mark + " ", style=colour)
    text.append(label + "  ")


class ThroughputChart(PlotextPlot):
    """Achieved TFLOP/s against channels per group (log-log), current value marked."""

    def draw(self, points: list[SweepPoint], chips: list[tuple[str, str]], current: int,
             host: dict[int, float] | None = None, host_label: str = "host (measured)") -> Text:
        """Draw; returns the legend."""
        legend = Text()
        plt = self.plt
        plt.clear_figure()
        plt.title("achieved TFLOP/s vs channels per group")
        plt.xlabel("channels per group (c/g)")
        plt.xscale("log")
        plt.yscale("log")
        xs = [p.cpg for p in points]
        for (chip_id, name), colour in zip(chips, COLOURS):
            pts = [(p.cpg, p.flop_s[chip_id] / 1e12) for p in points
                   if p.flop_s.get(chip_id, 0) > 0]
            if pts:
                plt.plot([x for x, _ in pts], [y for _, y in pts], color=colour, marker="braille")
                _key(legend, name, colour)
        if host:
            pts = sorted((c, g / 1e3) for c, g in host.items() if g > 0)
            if pts:
                plt.plot([x for x, _ in pts], [y for _, y in pts], color=COLOURS[2], marker="braille")
                _key(legend, host_label, COLOURS[2])
        if xs:
            plt.xticks(xs, [str(x) for x in xs])
            plt.vline(current, "white")
            _key(legend, f"current: {current}/group", "white", "│")
        self.refresh()
        return legend


class RooflineChart(PlotextPlot):
    """One chip's roofline (compute roof, one slope per memory level) and the layer's point."""

    def draw(self, roof: Roofline, point: tuple[float, float] | None, dtype: str) -> Text:
        """Draw; returns the legend."""
        legend = Text()
        plt = self.plt
        plt.clear_figure()
        plt.title(f"{roof.chip_name}: TFLOP/s ({dtype})")
        plt.xlabel("FLOP/byte")
        plt.xscale("log")
        plt.yscale("log")
        ridges = [roof.ridge(bw) for _, bw in roof.levels if bw > 0]
        ai = intensity_axis(ridges + ([point[0]] if point else []))
        for (name, bw), colour in zip(roof.levels, LEVEL_COLOURS):
            if bw > 0:
                plt.plot(list(ai), list(roof.line(bw, ai) / 1e12), color=colour, marker="braille")
                _key(legend, f"{name} {si(bw, 'B/s')}", colour)
        if point and point[0] > 0 and point[1] > 0 and math.isfinite(point[0]):
            plt.scatter([point[0]], [point[1] / 1e12], color="red", marker="●")
            _key(legend, f"layer: {point[0]:.3g} FLOP/B, {point[1] / 1e12:.3g} TFLOP/s", "red", "●")
        self.refresh()
        return legend
