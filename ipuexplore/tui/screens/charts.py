"""Charts: throughput vs channels per group (both chips + host), and a roofline per chip."""

from __future__ import annotations

import time

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from .. import backend, live, netview
from ..messages import SweepProgress
from ..widgets.charts import ChartsPanel

HOST_REPEATS = 3  # best of three runs per point, each the layer at the view's batch unless
# the host model times it over live.RUN_BUDGET_S (live.live_layer says what it shrank)


class ChartsScreen(Screen):
    BINDINGS = [Binding("m", "measure_host", "Measure", id="charts.host"),
                # off the footer (the note above the charts names it) so every key fits 80 columns
                Binding("w", "network_roofline", "Net roofline", id="charts.network", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.generation = 0
        self._drawn_for = None
        self._host_complete = False
        self.network_name: str | None = None  # rooflines show this network's layers (w toggles)

    def compose(self) -> ComposeResult:
        yield Static(id="charts-note", classes="note")
        yield ChartsPanel(id="charts", latency=True)
        yield Footer(compact=True)  # every key fits 80 columns

    def _auto_measure(self) -> None:
        """The host curve is part of the chart: measure it on arrival (cancelled on leaving)."""
        if self.app.live_enabled:
            self.action_measure_host()

    def on_screen_resume(self) -> None:
        """Draws the charts when first shown too (a screen's first resume follows its mount)."""
        if self._drawn_for != self.app.settings:
            self.redraw()
            self._auto_measure()
        elif not self._host_complete and not self._sweeping():  # cut short by leaving the view
            self._auto_measure()

    def _sweeping(self) -> bool:
        # a cancelled sweep may still be inside its last engine call: it no longer counts
        return any(w.group == "sweep" and not w.is_finished and not w.is_cancelled for w in self.workers)

    def on_screen_suspend(self) -> None:
        self.workers.cancel_group(self, "sweep")

    @property
    def panel(self) -> ChartsPanel:
        return self.query_one(ChartsPanel)

    @property
    def host_points(self) -> dict[int, float]:
        return self.panel.host_points

    @property
    def points(self):
        return self.panel.points

    def action_network_roofline(self) -> None:
        """Rooflines with every layer of the network (the network view's pick, else its
        default) as a point per chip, coloured by layer type; again: the layer's point."""
        if self.network_name is None:
            self.network_name = self.app.pending_network or netview.Source().name
        else:
            self.network_name = None
        self.redraw()

    def _network_layers(self, s) -> dict | None:
        if self.network_name is None:
            return None
        from ipuexplore.models.roofline import layer_points
        from ipuexplore.networks import analyse, build

        a = analyse(build(self.network_name), [s.chip_a, s.chip_b], batch=s.batch, dtype=s.dtype, train=s.train)
        return {chip_id: layer_points(a.rows, chip_id, s.batch) for chip_id in (s.chip_a, s.chip_b)}

    def redraw(self) -> None:
        s = self.app.settings
        self._drawn_for = s
        self.generation += 1
        self.workers.cancel_group(self, "sweep")
        try:
            self.panel.network_layers = self._network_layers(s)
        except ValueError as exc:
            self.network_name, self.panel.network_layers = None, None
            self.notify(f"network roofline: {exc}", severity="error")
        self.panel.redraw(s)
        self._show_note("host: not measured (live measurement off)" if not self.app.live_enabled
                        else "host: measuring...")

    def _show_note(self, host: str) -> None:
        s = self.app.settings
        mode = "training" if s.train else "inference"
        roofs = (f"rooflines: every layer of {self.network_name} (w: back to this layer)"
                 if self.network_name else "rooflines: this layer (w: a whole network's layers)")
        self.query_one("#charts-note", Static).update(
            f"{s.layer().describe()}, batch {s.batch} {s.dtype} {mode}, keep {s.keep}; {roofs}\n"
            f"{host} (direct, fp32, best of {HOST_REPEATS}; m measures again)")

    # ---- host sweep -------------------------------------------------------------------
    def action_measure_host(self) -> None:
        if not self.app.live_enabled:
            self.notify(f"live measurement off: {self.app.live_disabled_reason}", severity="warning")
            return
        self.panel.set_host_points({})
        self._host_complete = False
        self._show_note("host: measuring...")
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
        choices = s.channels_per_group_choices()
        points: dict[int, float] = {}
        with engine.Pool() as pool:
            for i, per_group in enumerate(choices):
                if worker.is_cancelled:
                    return
                try:
                    shape = live.live_layer(s.with_channels_per_group(per_group).layer(), s.batch, s.train)
                    op = live.LiveOp(engine, shape, pool, "direct", s.train)
                    try:
                        best = max(float(op.run().gflop_s) for _ in range(HOST_REPEATS))
                    finally:
                        op.close()
                except Exception as exc:  # noqa: BLE001 - show it, keep the model curves
                    self.app.call_from_thread(self.notify, f"host at {per_group}/group: {exc}", severity="error")
                    return
                if worker.is_cancelled:
                    return
                points[per_group] = best
                self.post_message(SweepProgress(generation, dict(points), i + 1, len(choices)))
                time.sleep(0.01)

    def on_sweep_progress(self, message: SweepProgress) -> None:
        if message.generation != self.generation:
            return
        self.panel.set_host_points(message.points)
        self._host_complete = message.done == message.total
        self._show_note(f"host: {message.done}/{message.total} group sizes measured")

    def export_data(self) -> dict:
        s = self.app.settings
        rows = []
        for p in self.points:
            row = {"cpg": p.channels_per_group, "groups": p.groups}
            for chip_id in (s.chip_a, s.chip_b):
                est = p.estimates.get(chip_id)
                row[f"{chip_id}_flop_s"] = None if est is None else est.achieved_flop_s
            row["host_direct_gflop_s"] = self.host_points.get(p.channels_per_group)
            rows.append(row)
        return {"view": "charts", "settings": s.to_dict(), "rows": rows}
