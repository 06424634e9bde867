"""The network view: per-layer table for both chips, sorting, override, ONNX errors, host run."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, ProgressBar, Select

from ipuexplore import networks
from ipuexplore.layers import Layer
from ipuexplore.tui import netview
from ipuexplore.tui.screens.network import NetworkScreen
from ipuexplore.tui.settings import LayerSettings

from .conftest import engine_built, run_app, text_of, wait_for_group, wait_until


async def _open(app, pilot) -> NetworkScreen:
    await pilot.press("n")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, NetworkScreen)
    await wait_for_group(app, "analyse")
    await pilot.pause()
    return screen


async def _open_onnx(app, pilot, path) -> NetworkScreen:
    """The network view with `path` typed into the ONNX field and analysed."""
    screen = await _open(app, pilot)
    field = screen.query_one("#net-onnx", Input)
    field.focus()
    field.value = str(path)
    await pilot.press("enter")
    await _analysed(app, pilot)
    return screen


async def _analysed(app, pilot, delay: float | None = None) -> None:
    """Let a change reach the view (pausing `delay` s), then wait for its analysis to show."""
    await pilot.pause(delay)
    await wait_for_group(app, "analyse")
    await pilot.pause()


def test_table_has_every_layer_and_totals_for_both_chips():
    async def body(app, pilot):
        screen = await _open(app, pilot)
        net = networks.build("resnext50_32x4d")
        table = screen.query_one(DataTable)
        assert table.row_count == len(net.layers)
        totals = text_of(screen.query_one("#net-totals"))
        assert "IPU Mk1" in totals and "V100" in totals
        heavy = [r for r in screen._rows if r.heavy_a or r.heavy_b]
        assert netview.HEAVY <= len(heavy) <= 2 * netview.HEAVY

    run_app(body, size=(120, 40))


def test_sort_cycles_and_heaviest_comes_first():
    async def body(app, pilot):
        screen = await _open(app, pilot)
        await pilot.press("o")
        assert screen.sort_key == "time_a"
        table = screen.query_one(DataTable)
        first = int(table.coordinate_to_cell_key((0, 0)).row_key.value)
        assert screen._rows[first].time_a == max(r.time_a for r in screen._rows)
        for _ in netview.SORT_KEYS[2:]:
            await pilot.press("o")
        await pilot.press("o")
        assert screen.sort_key == "index"

    run_app(body, size=(120, 40))


def test_group_override_changes_the_totals():
    async def body(app, pilot):
        screen = await _open(app, pilot)
        before = screen.analysis.totals["v100"].time_s
        screen.query_one("#net-groups", Select).value = 1  # depthwise everywhere
        await _analysed(app, pilot)
        assert screen.source.group_size == 1
        assert "[g1]" in screen.network.name
        assert screen.analysis.totals["v100"].time_s != before

    run_app(body, size=(120, 40))


def test_picking_another_network():
    async def body(app, pilot):
        screen = await _open(app, pilot)
        screen.query_one("#net-name", Select).value = "mobilenet_v2"
        await _analysed(app, pilot)
        assert screen.query_one(DataTable).row_count == len(networks.build("mobilenet_v2").layers)

    run_app(body, size=(120, 40))


def test_bad_onnx_path_is_an_error_in_the_ui(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not an onnx file")

    async def body(app, pilot):
        screen = await _open_onnx(app, pilot, bad)
        summary = text_of(screen.query_one("#net-summary"))
        assert "broken.onnx" in summary and screen.analysis is None
        assert screen.query_one(DataTable).row_count == 0

    run_app(body, size=(120, 40))


@pytest.mark.skipif(not engine_built(), reason="engine not built")
def test_host_run_with_progress():
    async def body(app, pilot):
        screen = await _open(app, pilot)
        screen.query_one("#net-name", Select).value = "mobilenet_v2"
        await _analysed(app, pilot)
        screen.query_one(DataTable).focus()
        await pilot.press("r")
        await wait_for_group(app, "host_run", timeout=60)
        await wait_until(pilot, lambda: screen.host_run is not None)
        bar = screen.query_one(ProgressBar)
        assert bar.progress == bar.total == 2 * len(screen.network.layers)  # warm-up pass + timed pass
        assert "img/s" in text_of(screen.query_one("#net-host"))
        assert "host" in text_of(screen.query_one("#net-totals"))
        # then the fused session, the engine's own runtime: faster than layer by layer
        assert "fused session" in text_of(screen.query_one("#net-host"))
        assert "host fused" in text_of(screen.query_one("#net-totals"))
        fused = screen.export_data()["host_session"]
        assert fused["images_per_s"] > screen.host_run.images_per_s and fused["batch"] == screen.host_run.batch
        # what the workers did: copying into their tiles, computing (the session's phases)
        assert fused["bytes_in"] > 0 and fused["compute_s"] > fused["exchange_s"] > 0
        assert "copying into their tiles" in text_of(screen.query_one("#net-totals"))
        assert screen.export_data()["rows"][0]["host_time_s"] > 0
        # the view's batch (mobilenet_v2: 0.6 GFLOP/image, far under the cap)
        assert screen.host_run.batch == app.settings.batch

    run_app(body, size=(120, 40))


def test_host_batch_follows_the_view_within_a_budget():
    from ipuexplore.tui.screens.network import HOST_FLOP_BUDGET, host_batch

    assert host_batch(8, 0.6e9) == 8
    assert host_batch(64, 8.2e9) == int(HOST_FLOP_BUDGET // 8.2e9) < 64
    assert host_batch(4, 1e12) == 1  # never below one image


def test_host_run_without_engine_says_so(monkeypatch):
    from ipuexplore.tui import backend

    def missing():
        raise backend.Unavailable("engine not built: no compiler here")

    monkeypatch.setattr(backend, "engine", missing)

    async def body(app, pilot):
        screen = await _open(app, pilot)
        screen.query_one(DataTable).focus()
        await pilot.press("r")
        await wait_for_group(app, "host_run")
        await wait_until(pilot, lambda: "engine not built" in text_of(screen.query_one("#net-host")))
        assert screen.host_run is None

    run_app(body, size=(120, 40))


def test_open_an_onnx_file(tmp_path):
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 28, 28])
    w = numpy_helper.from_array(np.ones((32, 4, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="g8", group=8, pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["y", "w"], ["z"], name="g8b", group=8, pads=[1, 1, 1, 1]),
             helper.make_node("Softmax", ["z"], ["p"], name="sm")]
    graph = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info("p", TensorProto.FLOAT, None)], [w])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))

    async def body(app, pilot):
        screen = await _open_onnx(app, pilot, path)
        assert screen.query_one(DataTable).row_count == 2
        summary = text_of(screen.query_one("#net-summary"))
        assert "Softmax x1" in summary  # unsupported ops are listed, never dropped silently

    run_app(body, size=(120, 40))


def test_explore_a_grouped_layer_in_the_layer_view():
    notes = []

    async def body(app, pilot):
        screen = await _open(app, pilot)
        app.notify = lambda message, **kw: notes.append(message)
        table = screen.query_one(DataTable)
        table.focus()
        table.move_cursor(row=1)  # bn1: not a conv
        await pilot.press("x")
        assert app.current_mode == "network" and any("not a convolution" in n for n in notes)
        layer = next(i for i, lyr in enumerate(screen.network.layers) if lyr.g > 1)
        table.move_cursor(row=layer)
        await pilot.press("enter")
        await pilot.pause()
        grouped = screen.network.layers[layer]
        assert app.current_mode == "layer"
        s = app.settings
        assert (s.width, s.channels_per_group, s.size, s.kernel) == (grouped.c, grouped.c // grouped.g, grouped.h, grouped.r)
        assert s.layer().describe() == grouped.describe()
        assert "g32" in text_of(app.screen.query_one("#layer-desc"))

    run_app(body, size=(120, 40))


@pytest.mark.parametrize("name", ["resnext50_32x4d", "mobilenet_v2", "efficientnet_b0_g16"])
def test_an_explored_layer_is_the_networks_layer(name):
    accepted = 0
    for layer in networks.build(name).layers:
        try:
            shown = LayerSettings.from_layer(layer, LayerSettings()).layer()
        except ValueError:
            continue
        accepted += 1
        assert shown.with_(name=layer.name, bias=layer.bias) == layer
    assert accepted > 0


@pytest.mark.parametrize("layer", [
    Layer.conv(32, 14, 14, 32, 3, pad=2, dilation=2, g=32, name="dilated"),
    Layer.conv(32, 14, 14, 32, 3, pad=0, g=32, name="unpadded"),
    Layer.conv(32, 14, 14, 32, 3, pad=(0, 1, 0, 1), stride=2, g=32, name="asymmetric"),
])
def test_explore_refuses_a_layer_the_layer_view_would_change(layer):
    # the layer view pads 'same' and does not dilate: it would show another layer
    with pytest.raises(ValueError, match=layer.name):
        LayerSettings.from_layer(layer, LayerSettings())


def test_opening_the_view_analyses_the_network_once(monkeypatch):
    loaded = []
    load = netview.load
    monkeypatch.setattr(netview, "load", lambda source: loaded.append(source.name) or load(source))

    async def by_key(app, pilot):
        await _open(app, pilot)
        await _analysed(app, pilot, 0.2)
        assert loaded == ["resnext50_32x4d"]

    async def by_palette(app, pilot):
        app.action_open_network("mobilenet_v2")  # first open, from the layer view
        await _analysed(app, pilot, 0.2)
        assert loaded == ["mobilenet_v2"] and app.screen.network.name == "mobilenet_v2"
        await pilot.press("l")
        await pilot.pause()
        loaded.clear()
        app.action_open_network("resnet50")  # the view exists already
        await _analysed(app, pilot, 0.2)
        assert loaded == ["resnet50"] and app.screen.network.name == "resnet50"

    run_app(by_key, size=(120, 40))
    loaded.clear()
    run_app(by_palette, size=(120, 40))
