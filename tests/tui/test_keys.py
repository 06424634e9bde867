"""Keys: legends and label-value lists wrap between their items, never inside one."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ipuexplore.tui.widgets.keys import Keys


def _render(renderable, width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return [line.rstrip() for line in console.export_text().splitlines()]


def test_items_wrap_between_items_never_inside_one():
    keys = Keys(["━━ IPU Mk1 (model)", "━━ V100 SXM2 (model)", "━━ host (measured)"])
    assert _render(keys, 80) == ["━━ IPU Mk1 (model)  ━━ V100 SXM2 (model)  ━━ host (measured)"]
    # Rich alone breaks inside "V100 SXM2 (model)" at 30 columns; Keys moves the item down whole
    assert _render(keys, 30) == ["━━ IPU Mk1 (model)", "━━ V100 SXM2 (model)", "━━ host (measured)"]
    assert _render(keys, 40) == ["━━ IPU Mk1 (model)  ━━ V100 SXM2 (model)", "━━ host (measured)"]


def test_an_item_wider_than_the_line_folds_and_the_tail_follows():
    keys = Keys(["a" * 12, "b"], gap=1)
    keys.tail = Text("\nno data")
    assert _render(keys, 8) == ["aaaaaaaa", "aaaa", "b", "no data"]
    assert keys.plain == "a" * 12 + " b\nno data"


def test_in_a_table_cell_label_and_value_stay_together():
    """The network view's totals: a narrow "time by bound" column wraps between bounds."""
    table = Table(box=None, padding=(0, 1), show_header=False)
    table.add_column("chip", no_wrap=True, min_width=20)
    table.add_column("bounds", overflow="fold")
    table.add_row("IPU Mk1", Keys(["compute 73%", "exchange 24%", "overhead 3%"], gap=1))
    lines = [line.strip() for line in _render(table, 50)]
    assert lines[0].endswith("compute 73% exchange 24%") and lines[1] == "overhead 3%"
