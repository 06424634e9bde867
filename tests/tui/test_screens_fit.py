"""Every view at the usual terminal sizes: no chart that cannot be drawn, no number cut short.

The screen is read back as text (what the terminal would show), so a number that an
ellipsis cut ("1.77 k…", "conv 7x7/2 3…") or a chart's error message fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from ipuexplore.tui import live
from ipuexplore.tui.messages import LiveMeasured
from ipuexplore.tui.widgets.host_panel import HostPanel

from .conftest import run_app, wait_for_group

SIZES = [(80, 24), (120, 48), (140, 48), (160, 50), (200, 60)]


def screen_text(app) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def assert_fits(text: str, where: str) -> None:
    assert "cannot be drawn" not in text, f"{where}:\n{text}"
    assert "…" not in text, f"{where}: something was cut by an ellipsis:\n{text}"


def _measurement(algorithm: str) -> live.Measurement:
    share = np.full(2, 1 / 3)
    return live.Measurement(algorithm, 88.8, 12.34, 1770.0, 0.009, share, share, share)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_layer_view_fits(size):
    async def body(app, pilot):
        panel = app.screen.query_one(HostPanel)
        for size_px in (28, 224):
            app.settings = app.settings.change("size", size_px)
            panel.enabled = False  # no engine run: the results are posted by hand
            app.screen.apply(app.settings)
            panel.enabled = True  # the widest numbers the panel shows
            panel.shape = live.live_layer(app.settings.layer(), app.settings.batch)
            for algorithm in live.ALGORITHMS:
                panel.post_message(LiveMeasured(panel.generation, _measurement(algorithm)))
                await pilot.pause()
            await pilot.pause()
            text = screen_text(app)
            if size[1] >= 30:  # short terminals scroll the host panel out of sight
                assert "1.77 k img/s" in text and "wait 33%" in text, text
            assert_fits(text, f"layer view {size} at size {size_px}")

    run_app(body, size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 48), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_network_view_fits(size):
    async def body(app, pilot):
        await pilot.press("n")
        await pilot.pause()
        await wait_for_group(app, "analyse")
        await pilot.pause()
        text = screen_text(app)
        assert_fits(text, f"network view {size}")
        assert "conv1" in text  # the layers' names, not a placeholder
        for index in range(1, 6):  # the index column counts 1, 2, 3 ...
            assert any(line.lstrip().startswith(f"{index} ") for line in text.splitlines()), text
        footer = text.splitlines()[-1]
        assert "SVG" in footer and "^p" in footer, footer  # the app's last key and the palette

    run_app(body, size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 48), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_charts_view_fits(size):
    async def body(app, pilot):
        await pilot.press("c")
        await pilot.pause()
        assert_fits(screen_text(app), f"charts view {size}")

    run_app(body, size=size)


def test_the_palette_lists_screenshot_once():
    from textual.command import CommandPalette

    async def body(app, pilot):
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"screenshot")
        await pilot.pause(0.5)
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        options = palette.query_one("CommandList")
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert sum("screenshot" in label.lower() for label in labels) == 1, labels

    run_app(body)


def test_help_keys_do_not_wrap():
    async def body(app, pilot):
        await pilot.press("question_mark")
        await pilot.pause(0.5)
        text = screen_text(app)
        for keys in ("↑ ↓ tab move between", "← → - + step the", "home end first", "ctrl+p command"):
            assert keys in text, text

    run_app(body, size=(80, 40))
