"""README's pictures of the explorer (docs/img/*.svg) are today's screens.

Made as the snapshot tests make theirs (App.run_test + export_screenshot, live engine off
so no measured number reaches a picture). A change to a view fails here until
`IPUEXPLORE_UPDATE_SCREENSHOTS=1 pytest tests/tui/test_readme_screenshots.py` rewrites them.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from ipuexplore.tui.app import IpuExploreApp

from .conftest import wait_for_group

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
README = Path(__file__).resolve().parents[2] / "README.md"
VIEWS = {"layer": "l", "network": "n", "charts": "c"}
SIZE = (140, 44)


def screenshot(view: str) -> str:
    app = IpuExploreApp(live=False)
    app.title = "ipuexplore"

    async def main() -> str:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press(VIEWS[view])
            await pilot.pause()
            if view == "network":
                await wait_for_group(app, "analyse")
                await pilot.pause()
            await pilot.pause(0.2)
            return app.export_screenshot(title=f"ipuexplore: {view} view")

    return asyncio.run(main())


@pytest.mark.parametrize("view", list(VIEWS))
def test_readme_screenshot_is_current(view):
    path = IMG / f"{view}.svg"
    svg = screenshot(view)
    if os.environ.get("IPUEXPLORE_UPDATE_SCREENSHOTS"):
        IMG.mkdir(parents=True, exist_ok=True)
        path.write_text(svg)
        return
    assert path.exists() and path.read_text() == svg, (
        f"{path} is not today's {view} view: IPUEXPLORE_UPDATE_SCREENSHOTS=1 pytest {__file__}")
    assert f"docs/img/{view}.svg" in README.read_text()
