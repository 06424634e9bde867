"""Legends and label-value lists that wrap between their items, never inside one.

Rich and Textual break a line at any space, a no-break space included, so a chart legend at
80 columns split "V100 SXM2 (model)" over two lines and the network totals split "overhead
3%". `Keys` is a Rich renderable that lays its items out left to right at the width it is
given and starts a new line only between two items (one wider than the line folds).
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text


class Keys:
    """Items (each a Text, or a str) ``gap`` cells apart, wrapped between items; ``tail``
    (a Text, e.g. an error) on the lines below them."""

    def __init__(self, items=(), *, gap: int = 2) -> None:
        self.items: list[Text] = [Text(i) if isinstance(i, str) else i for i in items]
        self.gap = gap
        self.tail = Text()

    def add(self, item: Text | str) -> None:
        self.items.append(Text(item) if isinstance(item, str) else item)

    @property
    def plain(self) -> str:
        return (" " * self.gap).join(i.plain for i in self.items) + self.tail.plain

    def lay_out(self, width: int) -> Text:
        """The items in lines of at most ``width`` cells (an item wider than that: alone)."""
        out, used = Text(), 0
        for item in self.items:
            if used and used + self.gap + item.cell_len > width:
                out.append("\n")
                used = 0
            elif used:
                out.append(" " * self.gap)
                used += self.gap
            out.append_text(item)
            used += item.cell_len
        return out.append_text(self.tail)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.lay_out(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widths = [i.cell_len for i in self.items]
        one_line = sum(widths) + self.gap * max(len(widths) - 1, 0)
        return Measurement(max(widths, default=0), one_line).with_maximum(options.max_width)
