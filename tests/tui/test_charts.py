"""Charts view: the group-size sweep for both chips (+ host) and a roofline per chip."""

from __future__ import annotations

import pytest

from ipuexplore.tui import chartdata
from ipuexplore.tui.screens.charts import ChartsScreen
from ipuexplore.tui.settings import LayerSettings

from .conftest import engine_built, run_app, text_of, wait_for_group, wait_until


def test_model_sweep_covers_every_valid_group_size():
    s = LayerSettings(width=64)
    points, error = chartdata.model_sweep(s)
    assert error == ""
    assert [p.channels_per_group for p in points] == [1, 2, 4, 8, 16, 32, 64]
    assert all(set(p.estimates) == {"ipu-mk1", "v100"} for p in points)


def test_roofline_bends_at_the_ridge():
    roof = chartdata.roofline("v100", "fp16")
    bw = dict(roof.levels)["hbm"]
    ridge = roof.ridge(bw)
    low, high = roof.line(bw, [ridge / 10, ridge * 10])
    assert low == pytest.approx(roof.peak_flop_s / 10) and high == roof.peak_flop_s


def test_charts_view_draws_both_chips_and_follows_the_layer():
    async def body(app, pilot):
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChartsScreen)
        assert len(screen.points) == len(app.settings.channels_per_group_choices())
        legend = text_of(screen.query_one(".legend-sweep"))
        assert "IPU Mk1" in legend and "V100" in legend and "8/group (now)" in legend
        assert "layer:" in text_of(screen.query_one(".legend-roof-a"))
        assert "hbm" in text_of(screen.query_one(".legend-roof-b"))
        # change the layer in the layer view; the charts follow on return
        await pilot.press("l")
        await pilot.pause()
        app.screen.query_one("#ctl-channels_per_group").focus()
        await pilot.press("left")
        await pilot.press("c")
        await pilot.pause()
        assert "4/group (now)" in text_of(app.screen.query_one(".legend-sweep"))

    run_app(body, size=(100, 40))


@pytest.mark.skipif(not engine_built(), reason="engine not built")
def test_host_sweep_measures_each_group_size():
    from ipuexplore.tui.app import IpuExploreApp

    async def body(app, pilot):
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("m")
        await wait_for_group(app, "sweep", timeout=60)
        screen = app.screen
        await wait_until(pilot, lambda: len(screen.host_points) == len(app.settings.channels_per_group_choices()))
        assert all(v > 0 for v in screen.host_points.values())
        assert "host" in text_of(screen.query_one(".legend-sweep"))

    run_app(body, size=(100, 40), app=IpuExploreApp(LayerSettings(width=32, size=14, batch=1), live=True))


def test_charts_are_drawn_once_per_layer(monkeypatch):
    from ipuexplore.tui.widgets.charts import ChartsPanel

    drawn = []
    redraw = ChartsPanel.redraw

    def counted(self, s):
        if self.id == "charts":  # the charts view's panel, not the layer view's
            drawn.append(s)
        redraw(self, s)

    monkeypatch.setattr(ChartsPanel, "redraw", counted)

    async def body(app, pilot):
        await pilot.press("c")
        await pilot.pause()
        assert len(drawn) == 1
        await pilot.press("l")
        await pilot.pause()
        await pilot.press("c")  # the same layer: nothing to redraw
        await pilot.pause()
        assert len(drawn) == 1
        await pilot.press("l", "right", "c")  # another group size
        await pilot.pause()
        assert len(drawn) == 2 and drawn[-1] == app.settings

    run_app(body, size=(100, 40))


@pytest.mark.skipif(not engine_built(), reason="engine not built")
def test_showing_the_charts_starts_one_host_sweep(monkeypatch):
    sweeps = []
    measure = ChartsScreen.action_measure_host

    def counted(self):
        sweeps.append(self.app.settings)
        measure(self)

    monkeypatch.setattr(ChartsScreen, "action_measure_host", counted)

    async def body(app, pilot):
        await pilot.press("c")
        await pilot.pause()
        assert len(sweeps) == 1  # Textual resumes a new screen twice: the second must not restart it
        finished = app.screen._host_complete
        await pilot.press("l")  # leaving cuts an unfinished sweep short ...
        await pilot.pause()
        await pilot.press("c")  # ... and coming back measures again
        await pilot.pause()
        assert len(sweeps) == (1 if finished else 2)

    run_app(body, size=(100, 40), live=True)


def test_a_chart_renders_again_after_a_resize():
    # plotext logs a log-scaled figure's data in place: a second render once took the log
    # of the log ("math domain error" where c/g = 1)
    from ipuexplore.tui.widgets.charts import RooflineChart, ThroughputChart

    async def body(app, pilot):
        await pilot.press("c")
        await pilot.pause()
        charts = list(app.screen.query(ThroughputChart)) + list(app.screen.query(RooflineChart))
        assert len(charts) == 3
        for chart in charts:
            for _ in range(2):
                assert "cannot be drawn" not in str(chart.render())

    run_app(body, size=(120, 48))


def test_charts_view_shows_latency_against_throughput():
    from ipuexplore.models.sweep import layer_batch_costs
    from ipuexplore.tui.widgets.charts import ChartsPanel, LatencyChart

    async def body(app, pilot):
        await pilot.press("c")
        await pilot.pause()
        panel = app.screen.query_one(ChartsPanel)
        s = app.settings
        assert [p.batch for p in panel.batch_points] == sorted(p.batch for p in panel.batch_points)
        assert s.batch in [p.batch for p in panel.batch_points]
        costs, _ = layer_batch_costs(s.layer(), [s.chip_a, s.chip_b], dtype=s.dtype)(s.batch)
        point = next(p for p in panel.batch_points if p.batch == s.batch)
        assert point.chips[s.chip_b].latency_s == costs[s.chip_b].latency_s
        chart = app.screen.query_one(LatencyChart)
        assert "cannot be drawn" not in str(chart.render())
        assert "batch 16 (now)" in text_of(app.screen.query_one(".legend-latency"))

    run_app(body, size=(120, 40))


def test_w_puts_a_whole_networks_layers_on_the_rooflines():
    from ipuexplore.models.roofline import layer_points
    from ipuexplore.networks import analyse, build
    from ipuexplore.tui.widgets.charts import ChartsPanel, RooflineChart

    async def body(app, pilot):
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        panel = app.screen.query_one(ChartsPanel)
        s = app.settings
        a = analyse(build("resnext50_32x4d"), [s.chip_a, s.chip_b], batch=s.batch, dtype=s.dtype)
        assert panel.network_layers[s.chip_b] == layer_points(a.rows, s.chip_b, s.batch)
        legend = text_of(app.screen.query_one(".legend-roof-b"))
        assert "grouped conv (16)" in legend and "conv (37)" in legend
        for chart in app.screen.query(RooflineChart):
            assert "cannot be drawn" not in str(chart.render())
        footer = app.screen._compositor.render_strips()[-1]
        assert "SVG" in "".join(seg.text for seg in footer)
        await pilot.press("w")
        await pilot.pause()
        assert panel.network_layers is None and "layer:" in text_of(app.screen.query_one(".legend-roof-b"))

    run_app(body, size=(80, 24))
