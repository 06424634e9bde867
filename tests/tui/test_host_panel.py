"""The live host panel: measures through the engine, never shows a stale number as current."""

from __future__ import annotations

import numpy as np
import pytest

from ipuexplore.layers import Layer
from ipuexplore.tui import live
from ipuexplore.tui.messages import LiveMeasured
from ipuexplore.tui.widgets.host_panel import HostPanel
from ipuexplore.tui.widgets.stepper import Stepper
from ipuexplore.tui.widgets.tile_map import TileMap

from .conftest import engine_built, run_app, text_of, wait_until

needs_engine = pytest.mark.skipif(not engine_built(), reason="engine not built")


def _fake(algorithm="direct", gflop_s=123.0, workers=4):
    share = np.full(workers, 1 / 3)
    return live.Measurement(algorithm, gflop_s, 4.5, 67.0, 0.01, share, share, share)


def test_live_layer_caps_big_layers_and_says_so():
    big = Layer.conv(256, 112, 112, 256, 3, pad=1, g=32)
    shape = live.live_layer(big, 64)
    assert shape.batch < 64 and f"batch 64→{shape.batch}" in shape.note
    assert shape.layer.c // shape.layer.g == 8  # channels per group kept
    assert live.model_time(shape.layer, shape.batch, False) <= live.RUN_BUDGET_S
    small = Layer.conv(16, 7, 7, 16, 3, pad=1, g=4)
    assert live.live_layer(small, 2) == live.LiveShape(small, 2, "")


def test_the_default_layer_runs_at_the_views_batch():
    """The view's layer (256 ch, 28x28, 8/group, batch 16) takes a few ms: nothing shrinks,
    in training mode either (three passes, still well under 0.1 s on the host model)."""
    from ipuexplore.tui.settings import LayerSettings

    s = LayerSettings()
    for train in (False, True):
        shape = live.live_layer(s.layer(), s.batch, train)
        assert (shape.batch, shape.layer, shape.note) == (s.batch, s.layer(), "")


def test_the_panel_shows_the_median_of_its_window():
    from ipuexplore.tui.widgets.host_panel import WINDOW, median_run

    runs = [_fake(gflop_s=g) for g in (80, 3, 85, 24, 82)]
    assert median_run(runs).gflop_s == 80
    assert WINDOW >= 5

    async def body(app, pilot):
        panel = app.screen.query_one(HostPanel)
        panel.enabled = True
        panel.shape = live.live_layer(app.settings.layer(), app.settings.batch)
        for g in (80.0, 3.0, 85.0, 24.0, 82.0):
            panel.post_message(LiveMeasured(panel.generation, _fake(gflop_s=g)))
            await pilot.pause()
        assert " 80.0 GFLOP/s" in text_of(panel.query_one("#host-direct"))
        assert "median of the last 5 runs" in text_of(panel.query_one("#host-shape"))

    run_app(body)


def test_a_narrow_panel_puts_gb_s_whole_on_its_own_line():
    """At 120x48 the panel is too narrow for a strategy's three figures: GB/s goes to the next
    line, value and unit together (wrapping had split "7.03 GB/s" between the lines); once the
    terminal is wide enough they share one line again."""
    fast = live.Measurement("direct", 109.3, 7.03, 3780.0, 0.01, *[np.full(2, 1 / 3)] * 3)

    async def body(app, pilot):
        panel = app.screen.query_one(HostPanel)
        panel.enabled = True
        panel.post_message(LiveMeasured(panel.generation, fast))
        await pilot.pause()
        lines = text_of(panel.query_one("#host-direct")).splitlines()
        assert [line.strip() for line in lines] == ["direct 109.3 GFLOP/s 3.78 k img/s", "7.03 GB/s"]
        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        await pilot.pause()
        assert text_of(panel.query_one("#host-direct")).strip() == "direct 109.3 GFLOP/s 3.78 k img/s 7.03 GB/s"

    run_app(body, size=(120, 48))


def test_shares_count_idle_workers_as_waiting():
    c, x, w = live.shares([3, 0], [1, 0], [0, 0])
    assert np.allclose(c, [0.75, 0]) and np.allclose(x, [0.25, 0]) and np.allclose(w, [0, 1])


def test_stale_measurements_are_dropped_and_control_changes_reset_to_measuring():
    async def body(app, pilot):
        panel = app.screen.query_one(HostPanel)
        panel.enabled = True  # no worker starts: live=False app, we post results by hand
        gen = panel.generation
        panel.post_message(LiveMeasured(gen, _fake()))
        await pilot.pause()
        assert "123.0 GFLOP/s" in text_of(panel.query_one("#host-direct"))
        assert app.screen.query_one(TileMap).worker_count == 4
        panel.post_message(LiveMeasured(gen - 1, _fake(gflop_s=999.0)))  # an older layer's run
        await pilot.pause()
        assert "999" not in text_of(panel.query_one("#host-direct"))
        # a control change: the old number must not stay on screen as current
        panel.enabled = False
        app.screen.query_one("#ctl-batch", Stepper).focus()
        await pilot.press("right")
        assert panel.generation > gen
        assert "123.0 " not in text_of(panel.query_one("#host-direct"))
        panel.post_message(LiveMeasured(gen, _fake()))
        await pilot.pause()
        assert "123.0 " not in text_of(panel.query_one("#host-direct"))

    run_app(body)


def test_live_off_says_so():
    async def body(app, pilot):
        panel = app.screen.query_one(HostPanel)
        assert "live measurement off" in text_of(panel.query_one("#host-shape"))
        assert not panel.latest

    run_app(body)


@needs_engine
def test_engine_measures_and_restarts_on_change():
    async def body(app, pilot):
        panel = app.screen.query_one(HostPanel)
        assert "measuring..." in text_of(panel.query_one("#host-direct")) or panel.latest
        await wait_until(pilot, lambda: "direct" in panel.latest)
        m = panel.latest["direct"]
        assert m.gflop_s > 0 and m.img_s > 0 and len(m.compute) >= 1
        assert "GFLOP/s" in text_of(panel.query_one("#host-direct"))
        assert app.screen.query_one(TileMap).worker_count == len(m.compute)
        first_generation = panel.generation
        app.screen.query_one("#ctl-channels_per_group", Stepper).focus()
        await pilot.press("left")
        assert panel.generation == first_generation + 1
        await wait_until(pilot, lambda: "direct" in panel.latest)
        assert panel.shape.layer.c // panel.shape.layer.g == app.settings.channels_per_group
        live_workers = [w for w in app.workers if w.group == "live" and w.is_running]
        assert len(live_workers) <= 1  # exclusive: the old loop was cancelled
        # another view pauses the engine; coming back measures afresh
        await pilot.press("n")
        await pilot.pause()
        assert all(w.is_cancelled or w.is_finished for w in app.workers if w.group == "live")
        await pilot.press("l")
        await pilot.pause()
        assert not panel.latest or panel.generation > first_generation + 1
        await wait_until(pilot, lambda: "direct" in panel.latest)
        # the layer changed while the view was away (network view's explore, the palette)
        await pilot.press("n")
        await pilot.pause()
        app.settings = app.settings.change("channels_per_group", 2)
        await pilot.press("l")
        await pilot.pause()
        await wait_until(pilot, lambda: "direct" in panel.latest)
        assert panel.shape.layer.c // panel.shape.layer.g == 2

    run_app(body, live=True)


def test_engine_missing_is_said_plainly(monkeypatch):
    from ipuexplore.tui import backend

    def missing():
        raise backend.Unavailable("engine not built: no compiler here")

    monkeypatch.setattr(backend, "engine", missing)

    async def body(app, pilot):
        panel = app.screen.query_one(HostPanel)
        await wait_until(pilot, lambda: "engine not built" in text_of(panel.query_one("#host-shape")))
        assert not panel.latest
        assert "GFLOP/s" not in text_of(panel.query_one("#host-direct"))

    run_app(body, live=True)


def test_training_shrinks_sooner():
    layer = Layer.conv(256, 28, 28, 256, 3, pad=1)  # dense: time, not bytes, sets the batch
    batch = 1
    while live.model_time(layer, batch * 2, False) <= live.RUN_BUDGET_S:
        batch *= 2
    assert live.live_layer(layer, batch).note == ""
    assert live.live_layer(layer, batch, train=True).note != ""


@needs_engine
def test_live_op_measures_forward_and_both_backward_passes():
    from ipuexplore import engine

    shape = live.live_layer(Layer.conv(16, 8, 8, 16, 3, pad=1, g=4), 2)
    with engine.Pool(2) as pool:
        fwd = live.LiveOp(engine, shape, pool, "direct")
        train = live.LiveOp(engine, shape, pool, "direct", train=True)
        try:
            one, three = fwd.run(), train.run()
        finally:
            fwd.close()
            train.close()
    # forward + backward data + backward weights: three times the forward's FLOPs
    assert one.total_flops > 0 and three.total_flops == 3 * one.total_flops
    assert three.total_supersteps > one.total_supersteps


@needs_engine
def test_training_mode_measures_fwd_and_bwd():
    async def body(app, pilot):
        app.settings = app.settings.change("train", True)
        app.screen.apply(app.settings)
        panel = app.screen.query_one(HostPanel)
        await wait_until(pilot, lambda: "direct" in panel.latest)
        assert panel.train
        assert "fwd+bwd" in text_of(panel.query_one("#host-shape"))

    run_app(body, live=True)


def test_live_op_times_a_run_after_an_untimed_one_that_wakes_the_pool():
    """The panel's runs come a few times a second, long after the pool's workers went to sleep:
    the measured pass must not be the one that wakes them (it read half the engine's speed)."""

    class Conv:  # records the order of calls; its stats name the call that made them
        def __init__(self):
            self.calls, self.stats = [], None

        def run(self, x, out):
            self.calls.append("forward")
            self.stats = len(self.calls)

    op = live.LiveOp.__new__(live.LiveOp)
    op.conv, op.x, op.y, op.train = Conv(), None, None, False
    assert op.run() == 2 and op.conv.calls == ["forward", "forward"]
