"""Command palette entries for the explorer (views, chips, keep mode, export)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ipuexplore.networks import list_networks

from . import backend
from .screens.layer import LayerScreen
from .settings import KEEP_MODES, PRESETS


class ExplorerCommands(Provider):
    """Commands built from the app's state: what can be switched to right now."""

    def _commands(self) -> list[tuple[str, object, str]]:
        app = self.app
        cmds: list[tuple[str, object, str]] = [
            ("View: layer", partial(app.action_view, "layer"), "controls, both chips, live host"),
            ("View: network", partial(app.action_view, "network"), "per-layer table of a network"),
            ("View: charts", partial(app.action_view, "charts"), "throughput vs group size, rooflines"),
            ("Help", app.action_help, "what each number means and its source"),
            ("Export view as CSV", partial(app.action_export, f"ipuexplore-{app.current_mode}.csv"),
             "write the current view to the current directory"),
            ("Export view as JSON", partial(app.action_export, f"ipuexplore-{app.current_mode}.json"),
             "write the current view to the current directory"),
        ]
        for name in PRESETS:
            cmds.append((f"Layer: {name}", partial(self._preset, name), "explore this layer"))
        for name in list_networks():
            cmds.append((f"Network: {name}", partial(app.action_open_network, name),
                         "per-layer estimates of this network"))
        for keep in KEEP_MODES:
            cmds.append((f"Keep: {keep}", partial(self._set, "keep", keep),
                         "hold block params/FLOPs while the group size changes"))
        for chip in backend.chip_ids():
            cmds.append((f"Chip A: {chip}", partial(self._set, "chip_a", chip), "first compared chip"))
            cmds.append((f"Chip B: {chip}", partial(self._set, "chip_b", chip), "second compared chip"))
        return cmds

    def _preset(self, name: str) -> None:
        app = self.app
        app.settings = app.settings.with_preset(name)
        if app.current_mode == "layer":
            app.screen.apply(app.settings)
        else:
            app.action_view("layer")

    def _set(self, field: str, value) -> None:
        app = self.app
        try:
            app.settings = app.settings.change(field, value)
        except ValueError as exc:
            app.notify(str(exc), severity="error")
            return
        if isinstance(app.screen, LayerScreen):
            app.screen.apply(app.settings)

    async def discover(self) -> Hits:
        for name, command, help_text in self._commands():
            yield DiscoveryHit(name, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, command, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), command, help=help_text)
