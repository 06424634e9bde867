"""The layer view: controls on the left, both chips' estimates and the live host on the right."""

from __future__ import annotations

import os

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from .. import backend, results
from ..settings import LayerSettings
from ..widgets.charts import ChartsPanel
from ..widgets.chip_panel import ChipPanel, RatioBanner
from ..widgets.controls import LayerControls
from ..widgets.host_panel import HostPanel
from ..widgets.stepper import Stepper


class LayerScreen(Screen):
    """Every control change re-estimates both chips at once and restarts the live run."""

    BINDINGS = [
        Binding("down", "focus_controls(0)", "first control", show=False),
        Binding("up", "focus_controls(-1)", "last control", show=False),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (48, "-tall")]  # tall and wide: charts shown here too

    def __init__(self) -> None:
        super().__init__()
        self._shown: LayerSettings | None = None  # the settings on screen

    def compose(self) -> ComposeResult:
        app = self.app
        with Horizontal(id="layer-main"):
            with VerticalScroll(id="left"):
                yield LayerControls(app.settings, backend.chip_ids(), id="controls")
                yield Static(id="layer-desc", classes="note")
            with VerticalScroll(id="results"):
                yield RatioBanner(id="ratio")
                yield ChipPanel(id="chips")
                yield HostPanel(
                    id="host", enabled=app.live_enabled, disabled_reason=app.live_disabled_reason
                )
                yield ChartsPanel(id="layer-charts")
        yield Footer()

    def on_mount(self) -> None:
        self.apply(self.app.settings)
        self.query_one("#ctl-channels_per_group").focus()

    def action_focus_controls(self, index: int) -> None:
        """Up/Down with nothing focused (a click elsewhere) bring focus back to the controls."""
        if self.focused is None:
            steppers = [w for w in self.query(Stepper) if not w.disabled]
            if steppers:
                steppers[index].focus()

    def on_screen_suspend(self) -> None:
        self.query_one(HostPanel).pause()

    def on_screen_resume(self) -> None:
        host = self.query_one(HostPanel)
        if self.app.settings != self._shown:
            self.apply(self.app.settings)  # changed elsewhere (command palette)
        else:
            host.resume()

    def on_stepper_changed(self, message: Stepper.Changed) -> None:
        try:
            new = self.app.settings.change(message.stepper.field, message.value)
        except ValueError as exc:
            self.notify(str(exc), title="Not a valid layer", severity="error")
            self.query_one(LayerControls).sync(self.app.settings)
            return
        self.app.settings = new
        try:
            self.apply(new)
        except Exception as exc:  # noqa: BLE001 - a bug in one panel must not end the session
            self.notify(f"{type(exc).__name__}: {exc}", title="Could not show this layer",
                        severity="error", timeout=8)

    def apply(self, s: LayerSettings) -> None:
        """Show `s`: controls, estimates, ratio and a fresh live measurement."""
        self._shown = s
        self.query_one(LayerControls).sync(s)
        chips = results.chip_results(s)
        self.last_results = chips
        self.query_one(ChipPanel).show(chips)
        self.query_one(RatioBanner).show(chips[0], chips[1], s.channels_per_group)
        self.query_one(ChartsPanel).redraw(s)
        desc = self.query_one("#layer-desc", Static)
        try:
            layer = s.layer()
        except ValueError as exc:
            desc.update(Text(f"invalid layer: {exc}", style="bold red"))
            self.query_one(HostPanel).stop("nothing to measure: the layer is invalid")
            return
        desc.update(
            f"{layer.describe()}\n{layer.params:,} params, "
            f"{layer.flops * s.batch / 1e9:.3g} GFLOP fwd per batch (2xMAC)"
        )
        self.query_one(HostPanel).measure(layer, s.batch, s.train)

    def export_data(self) -> dict:
        """The view as rows: one per chip, one per host strategy."""
        s = self.app.settings
        mode = "training" if s.train else "inference"
        context = {"batch": s.batch, "dtype": s.dtype, "mode": mode}  # a CSV row stands on its own
        rows = [{"source": "model", **context, **results.raw(r)} for r in self.last_results]
        host = self.query_one(HostPanel)
        for algorithm in ("direct", "gemm"):
            m = host.latest.get(algorithm)
            if m is not None:
                rows.append({
                    "source": f"host-{algorithm}", **context, "dtype": "fp32", "chip": "host", "gflop_s": m.gflop_s,
                    "gb_s": m.gb_s, "img_s": m.img_s, "time_s": m.wall_s,
                    "measured_layer": host.shape.layer.describe() if host.shape else "",
                    "measured_batch": host.shape.batch if host.shape else None,
                })
        return {"view": "layer", "settings": s.to_dict(), "rows": rows}


def live_setting() -> tuple[bool, str]:
    """Live measurement is on unless IPUEXPLORE_NO_LIVE is set (snapshot tests set it)."""
    if os.environ.get("IPUEXPLORE_NO_LIVE"):
        return False, "IPUEXPLORE_NO_LIVE is set"
    return True, ""
