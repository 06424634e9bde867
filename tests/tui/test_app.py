"""App-wide behaviour: help, export, screenshot, command palette, views."""

from __future__ import annotations

import csv
import json

from ipuexplore.tui.screens.export import ExportScreen
from ipuexplore.tui.screens.help import HelpScreen

from .conftest import run_app


def test_help_opens_and_closes():
    async def body(app, pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)

    run_app(body)


def test_export_layer_view_csv_and_json(tmp_path):
    async def body(app, pilot):
        app.action_export(str(tmp_path / "layer.csv"))
        app.action_export(str(tmp_path / "layer.json"))
        await pilot.pause()

    run_app(body)
    rows = list(csv.DictReader((tmp_path / "layer.csv").open()))
    assert [r["chip"] for r in rows] == ["ipu-mk1", "v100"]
    assert float(rows[0]["time_s"]) > 0
    assert (rows[0]["batch"], rows[0]["dtype"], rows[0]["mode"]) == ("16", "fp16", "inference")
    data = json.loads((tmp_path / "layer.json").read_text())
    assert data["view"] == "layer" and data["settings"]["cpg"] == 8
    assert data["rows"][1]["bound"] in ("compute", "memory", "exchange", "overhead")


def test_export_dialog_and_bad_extension(tmp_path):
    notes = []

    async def body(app, pilot):
        app.notify = lambda message, **kw: notes.append((message, kw.get("severity")))
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)
        field = app.screen.query_one("#export-path")
        field.value = str(tmp_path / "net.txt")
        await pilot.press("enter")
        await pilot.pause()
        assert any(sev == "error" and ".csv or .json" in msg for msg, sev in notes)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#export-path").value = str(tmp_path / "net.json")
        await pilot.press("enter")
        await pilot.pause()

    run_app(body, size=(120, 40))
    assert json.loads((tmp_path / "net.json").read_text())["view"] == "network"


def test_screenshot_saves_svg(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    async def body(app, pilot):
        await pilot.press("s")
        await pilot.pause()

    run_app(body)
    shots = list(tmp_path.glob("*.svg"))
    assert len(shots) == 1 and "<svg" in shots[0].read_text()[:200]


def test_command_palette_switches_chip_and_view():
    async def body(app, pilot):
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"B: h100")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.settings.chip_b == "h100"
        assert "H100" in str(app.screen.query_one("#chips").content.columns[2].header)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"charts")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_mode == "charts"

    run_app(body)


def test_same_chip_twice_is_an_error_in_the_network_view():
    from ipuexplore.tui.app import IpuExploreApp
    from ipuexplore.tui.settings import LayerSettings

    from .conftest import text_of, wait_for_group

    async def body(app, pilot):
        await pilot.press("n")
        await pilot.pause()
        await wait_for_group(app, "analyse")
        await pilot.pause()
        assert "two different chips" in text_of(app.screen.query_one("#net-summary"))

    run_app(body, app=IpuExploreApp(LayerSettings(chip_b="ipu-mk1"), live=False))


def test_palette_presets_and_networks():
    from textual.widgets import DataTable

    from ipuexplore import networks
    from ipuexplore.tui.commands import ExplorerCommands

    from .conftest import wait_for_group

    async def body(app, pilot):
        provider = ExplorerCommands(app.screen)
        commands = {name: command for name, command, _help in provider._commands()}
        commands["Layer: MobileNetV2 depthwise 3x3 (144 wide, 56x56)"]()
        await pilot.pause()
        s = app.settings
        assert (s.width, s.channels_per_group, s.size, s.groups) == (144, 1, 56, 144)
        assert "144->144 g144" in str(app.screen.query_one("#layer-desc").content)
        commands["Network: mobilenet_v2"]()
        await pilot.pause()
        await wait_for_group(app, "analyse")
        await pilot.pause()
        assert app.current_mode == "network"
        assert app.screen.query_one(DataTable).row_count == len(networks.build("mobilenet_v2").layers)
        commands["Network: resnet50"]()  # again, with the view already shown
        await pilot.pause()
        await wait_for_group(app, "analyse")
        await pilot.pause()
        assert app.screen.network.name == "resnet50"

    run_app(body, size=(120, 40))
