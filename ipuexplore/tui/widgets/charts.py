"""Charts drawn with textual-plotext: throughput vs group size, and a roofline per chip."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from ipuexplore.formatting import si
from ipuexplore.models.roofline import LayerPoint
from ipuexplore.models.sweep import BatchPoint, SweepPoint, batch_sweep, layer_batch_costs

from .. import backend, chartdata, results
from ..chartdata import Roofline, intensity_axis, log_ticks
from ..settings import BATCHES as BATCH_CHOICES
from ..settings import LayerSettings
from .keys import Keys

# plotext colour names: chip A, chip B, host (legends go outside the plot: plotext draws its
# legend over the data's top-left corner, where the current point often is)
COLOURS = ("green", "red", "cyan")
LEVEL_COLOURS = ("blue", "magenta", "yellow")
KIND_COLOURS = ("red", "green", "cyan", "white", "orange", "gray")  # a network's layer types


def _tick_label(value: float) -> str:
    return f"{value:g}" if value >= 0.01 else f"{value:.0e}"


def _yticks(plt, values: list[float]) -> None:
    """Round tick values on the log y axis (plotext's own are long decimals)."""
    ticks = log_ticks(min(values), max(values), 5)
    if len(ticks) >= 2:
        plt.yticks(ticks, [_tick_label(t) for t in ticks])


def _key(legend: Keys, label: str, colour: str, mark: str = "━━") -> None:
    legend.add(Text.assemble((f"{mark} " if mark else "", colour), label))


class _SafePlot(PlotextPlot):
    """A PlotextPlot that plots afresh on every render and never raises from it.

    plotext's build takes the log of a log-scaled figure's data in place, so rendering one
    figure twice (a resize) took the log of the log: a math domain error where c/g = 1.
    """

    _replot: Callable[[], Keys] | None = None  # plots the figure from its inputs; returns the legend

    def show(self, replot: Callable[[], Keys]) -> Keys:
        """Plot with `replot` now and on every later render; returns the legend."""
        self._replot = replot
        legend = replot()
        self.refresh()
        return legend

    def render(self):
        if self.size.width < 12 or self.size.height < 6:
            return Text("")
        try:
            if self._replot is not None:
                self._replot()
            return super().render()
        except (ValueError, ZeroDivisionError, IndexError) as exc:
            return Text(f"chart cannot be drawn here: {exc}", style="dim")


class ThroughputChart(_SafePlot):
    """Achieved TFLOP/s against channels per group (log-log), current value marked."""

    def draw(self, points: list[SweepPoint], chips: list[tuple[str, str]], current: int,
             host: dict[int, float] | None = None, host_label: str = "host (measured)") -> Keys:
        """Draw; returns the legend."""
        return self.show(partial(self._plot_figure, points, chips, current, host, host_label))

    def _plot_figure(self, points, chips, current, host, host_label) -> Keys:
        legend = Keys()
        plt = self.plt
        plt.clear_figure()
        plt.title("achieved TFLOP/s vs channels per group")
        plt.xlabel("channels per group (c/g)")
        plt.xscale("log")
        plt.yscale("log")
        xs = [p.channels_per_group for p in points]
        ys: list[float] = []
        for (chip_id, name), colour in zip(chips, COLOURS):
            pts = [(p.channels_per_group, p.estimates[chip_id].achieved_flop_s / 1e12) for p in points
                   if chip_id in p.estimates and p.estimates[chip_id].achieved_flop_s > 0]
            if pts:
                ys += [y for _, y in pts]
                plt.plot([x for x, _ in pts], [y for _, y in pts], color=colour, marker="braille")
                _key(legend, name, colour)
        if host:
            pts = sorted((c, g / 1e3) for c, g in host.items() if g > 0)
            if pts:
                ys += [y for _, y in pts]
                plt.plot([x for x, _ in pts], [y for _, y in pts], color=COLOURS[2], marker="braille")
                _key(legend, host_label, COLOURS[2])
        if ys:
            _yticks(plt, ys)
        if xs:
            plt.xticks(xs, [str(x) for x in xs])
            plt.vline(current, "white")
            _key(legend, f"{current}/group (now)", "white", "│")
        return legend


class RooflineChart(_SafePlot):
    """One chip's roofline (compute roof, one slope per memory level) and the layer's point."""

    def draw(self, roof: Roofline, point: tuple[float, float] | None, dtype: str,
             layers: list[LayerPoint] | None = None) -> Keys:
        """Draw (with `layers`: a network's layers as points, coloured by type); returns the legend."""
        return self.show(partial(self._plot_figure, roof, point, dtype, layers))

    def _plot_figure(self, roof: Roofline, point: tuple[float, float] | None, dtype: str,
                     layers: list[LayerPoint] | None = None) -> Keys:
        legend = Keys()
        plt = self.plt
        plt.clear_figure()
        plt.title(f"{roof.chip_name}: TFLOP/s ({dtype})")
        plt.xlabel("FLOP/byte")
        plt.xscale("log")
        plt.yscale("log")
        ridges = [roof.ridge(bw) for _, bw in roof.levels if bw > 0]
        intensities = intensity_axis(ridges + ([point[0]] if point else []) + [p.intensity for p in layers or []])
        ys: list[float] = []
        for (name, bw), colour in zip(roof.levels, LEVEL_COLOURS):
            if bw > 0:
                line = list(roof.line(bw, intensities) / 1e12)
                ys += line
                plt.plot(list(intensities), line, color=colour, marker="braille")
                _key(legend, f"{name} {si(bw, 'B/s')}", colour)
        for kind, colour in zip(sorted({p.kind for p in layers or []}), KIND_COLOURS):
            mine = [p for p in layers if p.kind == kind]
            ys += [p.achieved_flop_s / 1e12 for p in mine]
            plt.scatter([p.intensity for p in mine], [p.achieved_flop_s / 1e12 for p in mine], color=colour, marker="●")
            _key(legend, f"{kind} ({len(mine)})", colour, "●")
        if layers is None and point and point[0] > 0 and point[1] > 0 and math.isfinite(point[0]):
            plt.scatter([point[0]], [point[1] / 1e12], color="red", marker="●")
            _key(legend, f"layer: {point[0]:.3g} FLOP/B, {point[1] / 1e12:.3g} TFLOP/s", "red", "●")
        if ys:
            _yticks(plt, ys)
        xt = log_ticks(float(intensities[0]), float(intensities[-1]), 6)
        if len(xt) >= 2:
            plt.xticks(xt, [_tick_label(t) for t in xt])
        return legend


class LatencyChart(_SafePlot):
    """Images/s against one step's latency (log-log), one point per batch size, per chip."""

    def draw(self, points: list[BatchPoint], chips: list[tuple[str, str]], current: int) -> Keys:
        return self.show(partial(self._plot_figure, points, chips, current))

    def _plot_figure(self, points, chips, current) -> Keys:
        legend = Keys()
        plt = self.plt
        plt.clear_figure()
        plt.title(f"images/s vs latency, batch {points[0].batch}..{points[-1].batch}")
        plt.xlabel("latency per step (µs)")
        plt.xscale("log")
        plt.yscale("log")
        ys: list[float] = []
        xs: list[float] = []
        for (chip_id, name), colour in zip(chips, COLOURS):
            pts = [(p.chips[chip_id].latency_s * 1e6, p.chips[chip_id].throughput_img_s, p.batch)
                   for p in points if chip_id in p.chips and p.chips[chip_id].latency_s > 0]
            if not pts:
                continue
            xs += [x for x, _, _ in pts]
            ys += [y for _, y, _ in pts]
            plt.plot([x for x, _, _ in pts], [y for _, y, _ in pts], color=colour, marker="braille")
            now = [(x, y) for x, y, b in pts if b == current]
            if now:
                plt.scatter([now[0][0]], [now[0][1]], color=colour, marker="●")
            _key(legend, name, colour)
        yt = log_ticks(min(ys), max(ys), 5) if ys else []
        if len(yt) >= 2:
            plt.yticks(yt, [si(t) for t in yt])  # 1 M, not 1e+06
        if xs:
            xt = log_ticks(min(xs), max(xs), 6)
            if len(xt) >= 2:
                plt.xticks(xt, [_tick_label(t) for t in xt])
        _key(legend, f"● batch {current} (now)", "white", "")
        return legend


class ChartsPanel(Vertical):
    """The sweep chart above one roofline per chip, with their legends; `redraw(settings)`."""

    def __init__(self, *, latency: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.latency = latency  # also the latency/throughput chart beside the sweep (charts view)
        self.batch_points: list[BatchPoint] = []
        self.network_layers: dict[str, list[LayerPoint]] | None = None  # chip id -> a network's layers
        self.points: list[SweepPoint] = []
        self.host_points: dict[int, float] = {}
        self.error = ""
        self._settings: LayerSettings | None = None

    def compose(self) -> ComposeResult:
        if self.latency:
            with Horizontal(classes="sweeps"):
                with Vertical():
                    yield Static(classes="legend legend-sweep")
                    yield ThroughputChart(classes="chart-sweep")
                with Vertical():
                    yield Static(classes="legend legend-latency")
                    yield LatencyChart(classes="chart-latency")
        else:
            yield Static(classes="legend legend-sweep")
            yield ThroughputChart(classes="chart-sweep")
        with Horizontal(classes="rooflines"):
            with Vertical():
                yield Static(classes="legend legend-roof-a")
                yield RooflineChart(classes="roof-a")
            with Vertical():
                yield Static(classes="legend legend-roof-b")
                yield RooflineChart(classes="roof-b")

    def redraw(self, s: LayerSettings) -> None:
        """Model curves and rooflines for `s`; host points are dropped (another layer)."""
        self._settings = s
        self.host_points = {}
        self.points, self.error = chartdata.model_sweep(s)
        self.draw_sweep()
        if self.latency:
            self._draw_latency(s)
        chips = results.chip_results(s)
        for suffix, chip_id, res in (("a", s.chip_a, chips[0]), ("b", s.chip_b, chips[1])):
            chart = self.query_one(f".roof-{suffix}", RooflineChart)
            legend = self.query_one(f".legend-roof-{suffix}", Static)
            try:
                roof = chartdata.roofline(chip_id, s.dtype, backend.chip_short(chip_id))
            except (OSError, ValueError) as exc:  # a spec that does not load
                chart.plt.clear_figure()
                chart.refresh()
                legend.update(Text(f"{chip_id}: {exc}", style="bold red"))
                continue
            est = res.estimate
            point = (est.arithmetic_intensity, est.achieved_flop_s) if est is not None else None
            layers = None if self.network_layers is None else self.network_layers.get(chip_id, [])
            legend.update(chart.draw(roof, point, s.dtype, layers))

    def _draw_latency(self, s: LayerSettings) -> None:
        legend = self.query_one(".legend-latency", Static)
        try:
            cost = layer_batch_costs(s.layer(), [backend.chip(s.chip_a), backend.chip(s.chip_b)],
                                     dtype=s.dtype, train=s.train)
            self.batch_points = batch_sweep(cost, sorted(set(BATCH_CHOICES) | {s.batch}))
        except (OSError, ValueError) as exc:
            self.batch_points = []
            legend.update(Text(f"latency vs throughput: {exc}", style="bold red"))
            return
        chips = [(s.chip_a, backend.chip_short(s.chip_a)), (s.chip_b, backend.chip_short(s.chip_b))]
        legend.update(self.query_one(LatencyChart).draw(self.batch_points, chips, s.batch))

    def set_host_points(self, points: dict[int, float]) -> None:
        self.host_points = dict(points)
        self.draw_sweep()

    def draw_sweep(self) -> None:
        s = self._settings
        if s is None:
            return
        chips = [(s.chip_a, backend.chip_short(s.chip_a) + " (model)"),
                 (s.chip_b, backend.chip_short(s.chip_b) + " (model)")]
        legend = self.query_one(ThroughputChart).draw(self.points, chips, s.channels_per_group, self.host_points)
        if self.error:
            legend.tail = Text(f"\n{self.error}", style="bold red")
        self.query_one(".legend-sweep", Static).update(legend)
