"""Shared helpers for the explorer's tests.

Async Pilot tests run through `run_app` with asyncio.run (decided over pytest-asyncio: no
plugin or pytest config needed, and the snapshot plugin's own tests stay synchronous).
"""

from __future__ import annotations

import asyncio
import io
import time

import pytest
from textual.widgets import Input

from ipuexplore.tui import backend
from ipuexplore.tui.app import IpuExploreApp

pytestmark = pytest.mark.tui


def engine_built() -> bool:
    try:
        backend.engine()
    except backend.Unavailable:
        return False
    return True


def run_app(body, *, size=(80, 24), live: bool = False, app: IpuExploreApp | None = None):
    """Run `await body(app, pilot)` inside App.run_test; returns the app."""
    app = app or IpuExploreApp(live=live)

    async def main():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await body(app, pilot)

    asyncio.run(main())
    return app


async def wait_for_group(app, group: str, timeout: float = 30.0) -> None:
    """Wait for the app's workers of `group` to finish, then for their messages."""
    workers = [w for w in app.workers if w.group == group]
    await asyncio.wait_for(app.workers.wait_for_complete(workers), timeout)


async def wait_until(pilot, predicate, timeout: float = 30.0) -> None:
    """Pause until predicate() is true (for loops that never complete, like the live panel)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


@pytest.fixture(autouse=True)
def _no_cursor_blink(monkeypatch):
    # deterministic screens (harlequin's trick): the input cursor never toggles
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None, raising=False)


def text_of(widget, width: int = 200) -> str:
    """Plain text of a widget's content (a Static's renderable, or what render() returns)."""
    from rich.console import Console

    content = widget.content if hasattr(widget, "content") else widget.render()
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(content)
    return console.export_text()
