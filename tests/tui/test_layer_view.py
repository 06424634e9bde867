"""Pilot tests of the layer view: every control, keep mode, estimates update at once."""

from __future__ import annotations

from ipuexplore.tui.settings import LayerSettings
from ipuexplore.tui.widgets.chip_panel import ChipPanel, RatioBanner
from ipuexplore.tui.widgets.stepper import Stepper

from .conftest import run_app, text_of as _text


def test_opens_with_the_articles_pair_and_a_ratio():
    async def body(app, pilot):
        assert app.settings.chip_a == "ipu-mk1" and app.settings.chip_b == "v100"
        panel = _text(app.screen.query_one(ChipPanel))
        assert "IPU Mk1" in panel and "V100" in panel
        for metric in ("FLOPs (2xMAC)", "bytes moved", "intensity", "time", "images/s", "TFLOP/s",
                       "bandwidth", "utilisation", "bound by"):
            assert metric in panel
        banner = _text(app.screen.query_one(RatioBanner))
        assert "faster than" in banner or "as fast as" in banner
        assert app.screen.query_one("#ctl-channels_per_group").has_focus

    run_app(body)


# each step must change the settings field and the estimates ("keep" last: it disables groups)
CONTROLS = ["channels_per_group", "groups", "width", "batch", "size", "kernel", "stride", "dtype", "train",
            "chip_a", "chip_b", "keep"]


def test_every_control_steps_and_updates_at_once():
    """One app for all controls (an app start costs more than the steps)."""

    async def body(app, pilot):
        for field in CONTROLS:
            stepper = app.screen.query_one(f"#ctl-{field}", Stepper)
            stepper.focus()
            before_settings = app.settings
            before_panel = _text(app.screen.query_one(ChipPanel))
            at_end = stepper.choices.index(stepper.value) == len(stepper.choices) - 1
            await pilot.press("left" if at_end else "right")
            await pilot.pause()
            assert app.settings != before_settings, field
            old = before_settings.train if field == "train" else getattr(before_settings, field)
            assert stepper.value != old, field
            if field != "keep":  # keep mode alone changes nothing until the group size moves
                assert _text(app.screen.query_one(ChipPanel)) != before_panel, field

    run_app(body)


def test_channels_per_group_steps_only_through_valid_values():
    async def body(app, pilot):
        stepper = app.screen.query_one("#ctl-channels_per_group", Stepper)
        stepper.focus()
        await pilot.press("home")
        seen = []
        for _ in range(len(stepper.choices) + 2):  # two extra presses at the end: no change
            seen.append(app.settings.channels_per_group)
            s = app.settings
            assert s.width % s.channels_per_group == 0 and s.groups * s.channels_per_group == s.width
            assert app.screen.query_one("#ctl-groups", Stepper).value == s.groups
            await pilot.press("right")
        assert seen[0] == 1 and seen[-1] == app.settings.width
        assert sorted(set(seen)) == [d for d in range(1, 257) if 256 % d == 0]

    run_app(body)


def test_groups_control_sets_channels_per_group():
    async def body(app, pilot):
        app.screen.query_one("#ctl-groups", Stepper).focus()
        await pilot.press("end")
        assert app.settings.groups == app.settings.width and app.settings.channels_per_group == 1  # depthwise

    run_app(body)


def test_keep_params_widens_like_resnext():
    """Dense 64 wide -> 4 channels per group keeping the block's params: d = 128 (32x4d)."""
    start = LayerSettings(width=64, channels_per_group=64, ref_channels_per_group=64)

    async def body(app, pilot):
        app.screen.query_one("#ctl-keep", Stepper).focus()
        await pilot.press("right")  # off -> params
        assert app.settings.keep == "params"
        assert app.screen.query_one("#ctl-groups", Stepper).disabled
        channels_per_group = app.screen.query_one("#ctl-channels_per_group", Stepper)
        channels_per_group.focus()
        while app.settings.channels_per_group != 4:
            await pilot.press("left")
        assert app.settings.effective_width == 128 and app.settings.groups == 32
        assert "1x1 256->128" in _text(app.screen.query_one("#keep-note"))
        assert "128->128 g32" in _text(app.screen.query_one("#layer-desc"))

    from ipuexplore.tui.app import IpuExploreApp

    run_app(body, app=IpuExploreApp(start, live=False))


def test_click_on_the_arrows_steps():
    async def body(app, pilot):
        before = app.settings.batch
        stepper = app.screen.query_one("#ctl-batch", Stepper)
        await pilot.click(stepper, offset=(stepper.size.width - 1, 0))
        assert app.settings.batch > before
        await pilot.click(stepper, offset=(stepper.size.width - 13, 0))
        assert app.settings.batch == before

    run_app(body)


def test_wide_terminal_and_resize():
    async def body(app, pilot):
        assert app.screen.has_class("-narrow")
        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        assert app.screen.has_class("-wide")
        chips, host = app.screen.query_one("#chips"), app.screen.query_one("#host")
        assert host.region.x > chips.region.x  # side by side
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.screen.has_class("-narrow")

    run_app(body)


def test_q_quits():
    async def body(app, pilot):
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0 or not app.is_running

    run_app(body)


def test_up_and_down_move_between_controls():
    async def body(app, pilot):
        await pilot.press("down")
        assert app.focused.id == "ctl-groups"
        await pilot.press("down", "down")
        assert app.focused.id == "ctl-keep"
        await pilot.press("up")
        assert app.focused.id == "ctl-width"

    run_app(body)


def test_up_on_the_first_control_keeps_focus_and_down_brings_it_back():
    async def body(app, pilot):
        assert app.focused.id == "ctl-channels_per_group"
        await pilot.press("up")
        assert app.focused is not None and app.focused.id == "ctl-channels_per_group"
        app.screen.set_focus(None)  # e.g. a click on a panel
        await pilot.pause()
        await pilot.press("down")
        assert app.focused is not None and app.focused.id == "ctl-channels_per_group"
        app.screen.query_one("#ctl-chip_b", Stepper).focus()
        await pilot.press("down")
        assert app.focused.id == "ctl-chip_b"

    run_app(body)


def test_no_live_env_turns_the_engine_panel_off(monkeypatch):
    from ipuexplore.tui.app import IpuExploreApp

    monkeypatch.setenv("IPUEXPLORE_NO_LIVE", "1")
    app = IpuExploreApp()
    assert not app.live_enabled and "IPUEXPLORE_NO_LIVE" in app.live_disabled_reason


def test_a_rejected_layer_is_said_never_faked(monkeypatch):
    from ipuexplore.tui import backend

    real = backend.estimate

    def estimate(chip_id, layer, **kw):
        if chip_id == "v100":
            raise ValueError("v100 model: layer too large")
        return real(chip_id, layer, **kw)

    monkeypatch.setattr(backend, "estimate", estimate)

    async def body(app, pilot):
        panel = _text(app.screen.query_one(ChipPanel))
        assert "V100 SXM2: model rejected the layer: v100 model: layer too large" in panel
        assert "—" in panel  # the V100 column has no numbers
        assert "no ratio" in _text(app.screen.query_one(RatioBanner))

    run_app(body)


def test_ratio_names_the_faster_chip_first():
    from ipuexplore.tui.app import IpuExploreApp

    async def body(app, pilot):
        banner = _text(app.screen.query_one(RatioBanner))
        assert banner.startswith("IPU Mk1 is") and "faster than Host CPU" in banner
        assert "0.0" not in banner  # never "0.00x as fast"
        assert app.screen.query_one(RatioBanner).has_class("-bad")  # chip A is the slower

    run_app(body, app=IpuExploreApp(LayerSettings(chip_a="host", chip_b="ipu-mk1"), live=False))
