"""Charts (placeholder while being written)."""
from textual.screen import Screen
from textual.widgets import Footer, Static


class ChartsScreen(Screen):
    def compose(self):
        yield Static("charts")
        yield Footer()
