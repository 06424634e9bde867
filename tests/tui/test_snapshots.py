"""Snapshots of the main screens (pytest-textual-snapshot).

Deterministic: the live engine panel is off (live=False; IPUEXPLORE_NO_LIVE=1 does the same
for `ipuexplore` itself), so no measured number reaches a snapshot; everything else on these
screens comes from the models and the chip files. After a deliberate change, check the
report and run `pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from ipuexplore.tui.app import IpuExploreApp

from .conftest import wait_for_group


def _app():
    return IpuExploreApp(live=False)


def test_layer_view_80x24(snap_compare):
    assert snap_compare(_app(), terminal_size=(80, 24))


def test_layer_view_200x60(snap_compare):
    assert snap_compare(_app(), terminal_size=(200, 60))


def test_layer_view_keep_params_depthwise(snap_compare):
    async def setup(pilot):
        await pilot.press("down", "down", "down", "right")  # keep: params
        await pilot.press("up", "up", "home")  # groups is disabled in keep mode: 1 channel per group
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=(100, 30), run_before=setup)


def test_network_view(snap_compare):
    async def setup(pilot):
        await pilot.press("n")
        await pilot.pause()
        await wait_for_group(pilot.app, "analyse")
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=(120, 40), run_before=setup)


def test_charts_view(snap_compare):
    async def setup(pilot):
        await pilot.press("c")
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=(100, 40), run_before=setup)


def test_help(snap_compare):
    assert snap_compare(_app(), terminal_size=(80, 24), press=["question_mark"])
