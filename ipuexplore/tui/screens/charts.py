"""Charts: throughput vs channels per group (both chips + host), and a roofline per chip."""

from __future__ import annotations

import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from .. import backend, chartdata, live, results
from ..messages import SweepProgress
from ..widgets.charts import RooflineChart, ThroughputChart

HOST_REPEATS = 3  # best of three short runs per point


class ChartsScreen(Screen):
    BINDINGS = [Binding("m", "measure_host", "Measure host", id="charts.host")]

    def __init__(self) -> None:
        super().__init__()
        self.generation = 0
        self.points: list[chartdata.SweepPoint] = []
        self.host_points: dict[int, float] = {}
        self._drawn_for = None

    def compose(self) -> ComposeResult:
        yield Static(id="charts-note", classes="note")
        yield Static(id="legend-sweep", classes="legend")
        yield ThroughputChart(id="chart-sweep")
        with Horizontal(id="rooflines"):
            with Vertical():
                yield Static(id="legend-roof-a", classes="legend")
                yield RooflineChart(id="roof-a")
            with Vertical():
                yield Static(id="legend-roof-b", classes="legend")
                yield RooflineChart(id="roof-b")
        yield Footer()

    def on_mount(self) -> None:
        self.redraw()

    def on_screen_resume(self) -> None:
        if self._drawn_for != self.app.settings:
            self.redraw()

    def on_screen_suspend(self) -> None:
        self.workers.cancel_group(self, "sweep")

    def redraw(self) -> None:
        s = self.app.settings
        self._drawn_for = s
        self.generation += 1
        self.host_points = {}
        self.workers.cancel_group(self, "sweep")
        self.points, error = chartdata.model_sweep(s)
        self._draw_sweep()
        chips = results.chip_results(s)
        for widget_id, chip_id, res in (("#roof-a", s.chip_a, chips[0]), ("#roof-b", s.chip_b, chips[1])):
            chart = self.query_one(widget_id, RooflineChart)
            legend = self.query_one(f"#legend-{widget_id[1:]}", Static)
            try:
                roof = chartdata.roofline(chip_id, s.dtype, backend.chip_short(chip_id))
            except backend.Unavailable as exc:
                chart.plt.clear_figure()
                chart.refresh()
                legend.update(Text(f"{chip_id}: {exc}", style="bold red"))
                continue
            est = res.estimate
            point = (est.arithmetic_intensity, est.achieved_flop_s) if est is not None else None
            legend.update(chart.draw(roof, point, s.dtype))
        mode = "training" if s.train else "inference"
        text = Text(f"{s.layer().describe()}, batch {s.batch} {s.dtype} {mode}, keep {s.keep}. "
                    "m: measure the host at each group size")
        if error:
            text.append(f"\n{error}", style="bold red")
        self.query_one("#charts-note", Static).update(text)

    def _draw_sweep(self) -> None:
        s = self.app.settings
        chips = [(s.chip_a, backend.chip_short(s.chip_a) + " (model)"),
                 (s.chip_b, backend.chip_short(s.chip_b) + " (model)")]
        legend = self.query_one(ThroughputChart).draw(self.points, chips, s.cpg, self.host_points)
        self.query_one("#legend-sweep", Static).update(legend)

    # ---- host sweep -------------------------------------------------------------------
    def action_measure_host(self) -> None:
        if not self.app.live_enabled:
            self.notify(f"live measurement off: {self.app.live_disabled_reason}", severity="warning")
            return
        self.host_points = {}
        self._sweep_host(self.generation, self.app.settings)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep",
          description="Measuring the host at each group size")
    def _sweep_host(self, generation: int, s) -> None:
        worker = get_current_worker()
        try:
            engine = backend.engine()
        except backend.Unavailable as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        choices = s.cpg_choices()
        points: dict[int, float] = {}
        with engine.Pool() as pool:
            for i, cpg in enumerate(choices):
                if worker.is_cancelled:
                    return
                try:
                    shape = live.live_layer(s.with_cpg(cpg).layer(), s.batch)
                    op, x = live.create_op(engine, shape, pool, "direct")
                    best = 0.0
                    for _ in range(HOST_REPEATS):
                        op.run(x)
                        best = max(best, float(op.stats.gflop_s))
                except Exception as exc:  # noqa: BLE001 - show it, keep the model curves
                    self.app.call_from_thread(self.notify, f"host at {cpg}/group: {exc}", severity="error")
                    return
                points[cpg] = best
                self.post_message(SweepProgress(generation, dict(points), i + 1, len(choices)))
                time.sleep(0.01)

    def on_sweep_progress(self, message: SweepProgress) -> None:
        if message.generation != self.generation:
            return
        self.host_points = message.points
        self._draw_sweep()
        if message.done == message.total:
            self.notify("host measured at every group size", timeout=2)

    def export_data(self) -> dict:
        s = self.app.settings
        rows = []
        for p in self.points:
            row = {"cpg": p.cpg, "groups": s.with_cpg(p.cpg).groups}
            for chip_id in (s.chip_a, s.chip_b):
                row[f"{chip_id}_flop_s"] = p.flop_s.get(chip_id)
            row["host_direct_gflop_s"] = self.host_points.get(p.cpg)
            rows.append(row)
        return {"view": "charts", "settings": s.to_dict(), "rows": rows}
