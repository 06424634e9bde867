"""Network view (placeholder while being written)."""
from textual.screen import Screen
from textual.widgets import Footer, Static


class NetworkScreen(Screen):
    def compose(self):
        yield Static("network")
        yield Footer()
