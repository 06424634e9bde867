"""The explorer app: wiring only (styles, bindings, views, command palette)."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from . import export
from .commands import ExplorerCommands
from .screens.charts import ChartsScreen
from .screens.export import ExportScreen
from .screens.help import HelpScreen
from .screens.layer import LayerScreen, live_setting
from .screens.network import NetworkScreen
from .settings import LayerSettings


class IpuExploreApp(App[int]):
    """`ipuexplore` with no arguments. `settings` is the one layer every view looks at."""

    CSS_PATH = "app.tcss"
    TITLE = "ipuexplore"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("l", "view('layer')", "Layer", id="view.layer"),
        Binding("n", "view('network')", "Network", id="view.network"),
        Binding("c", "view('charts')", "Charts", id="view.charts"),
        Binding("question_mark,f1", "help", "Help", id="help", key_display="?"),
        Binding("e", "export", "Export", id="export"),
        Binding("s", "screenshot_svg", "SVG", id="screenshot"),
    ]
    MODES = {"layer": LayerScreen, "network": NetworkScreen, "charts": ChartsScreen}
    DEFAULT_MODE = "layer"
    COMMANDS = App.COMMANDS | {ExplorerCommands}

    def __init__(self, settings: LayerSettings | None = None, *, live: bool | None = None) -> None:
        super().__init__()
        self.settings = settings or LayerSettings()
        enabled, reason = live_setting()
        if live is not None:
            enabled, reason = live, "" if live else "turned off by the caller"
        self.live_enabled = enabled
        self.live_disabled_reason = reason
        self.pending_network: str | None = None  # set by the palette for the network view

    def action_view(self, mode: str) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)

    def action_open_network(self, name: str) -> None:
        """The network view showing `name` (the view picks it up when shown)."""
        self.pending_network = name
        if self.current_mode == "network":
            self.screen.open_pending()
        else:
            self.switch_mode("network")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_screenshot_svg(self) -> None:
        try:
            path = self.save_screenshot()
        except OSError as exc:
            self.notify(f"screenshot failed: {exc}", severity="error")
            return
        self.notify(f"saved {path}", title="Screenshot")

    def action_export(self, path: str | None = None) -> None:
        """Export the current view; without a path, ask for one."""
        screen = self.screen
        if not isinstance(screen, tuple(self.MODES.values())):  # a dialog: the views export
            self.notify("this view has nothing to export", severity="warning")
            return
        if path is not None:
            self._export_to(screen, path)
            return
        self.push_screen(
            ExportScreen(f"ipuexplore-{self.current_mode}.csv"),
            lambda chosen: chosen and self._export_to(screen, chosen),
        )

    def _export_to(self, screen, path: str) -> None:
        try:
            written = export.write(path, screen.export_data())
        except (OSError, ValueError) as exc:
            self.notify(str(exc), title="Export failed", severity="error")
            return
        self.notify(f"wrote {written.resolve()}", title="Export")


def run() -> int:
    """Entry point of `ipuexplore` with no arguments."""
    return IpuExploreApp().run() or 0
