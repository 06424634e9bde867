"""Model estimates for the two chips side by side, and the ratio between them."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ipuexplore.formatting import ratio

from ..results import ChipResult, rows

BOUND_STYLE = {"compute": "green", "memory": "red", "exchange": "yellow", "overhead": "magenta"}


class ChipPanel(Static):
    """A table with one column per chip; a chip without an estimate shows why."""

    def show(self, results: list[ChipResult]) -> None:
        table = Table(box=None, expand=False, padding=(0, 0, 0, 1), header_style="bold")
        table.add_column("model, batch", style="dim", no_wrap=True, min_width=13)
        for r in results:
            table.add_column(r.short, justify="right", no_wrap=True, overflow="ellipsis")
        columns = [None if r.estimate is None else dict(rows(r)) for r in results]
        metrics = next((list(c) for c in columns if c), [])
        for metric in metrics:
            cells = []
            for r, col in zip(results, columns):
                if col is None:
                    cells.append(Text("—", style="dim"))
                elif metric == "bound by":
                    bound = col[metric].split(" (")[0]
                    cells.append(Text(col[metric], style=BOUND_STYLE.get(bound, "")))
                else:
                    cells.append(Text(col[metric]))
            table.add_row(metric, *cells)
        errors = [f"{r.short}: {r.error}" for r in results if r.estimate is None]
        if not errors:
            self.update(table)
        elif not metrics:  # no chip has an estimate: only the reasons
            self.update(Text("\n".join(errors), style="bold red"))
        else:
            self.update(Group(table, Text("\n".join(errors), style="red")))


class RatioBanner(Static):
    """The headline: how many times faster chip A runs this layer than chip B."""

    def show(self, a: ChipResult, b: ChipResult, channels_per_group: int) -> None:
        if a.img_s is None or b.img_s is None:
            self.set_class(False, "-good", "-bad")
            self.update(Text("no ratio: " + (a.error or b.error or "no estimate"), style="bold"))
            return
        r = a.img_s / b.img_s
        self.set_class(r >= 1, "-good")
        self.set_class(r < 1, "-bad")
        fast, slow = (a, b) if r >= 1 else (b, a)  # always "N x faster": never "0.01x as fast"
        text = Text()
        text.append(f"{fast.short} is ", style="bold")
        text.append(f" {ratio(max(r, 1 / r))} ", style="bold reverse")
        text.append(" faster than ", style="bold")
        text.append(slow.short, style="bold")
        text.append(f"\nat {channels_per_group} ch/group: {a.estimate.bound}- vs {b.estimate.bound}-bound")
        self.update(text)
