"""One cell per engine worker ("tile"), coloured by how it spent the last run."""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

# RGB of a worker that only computed / only exchanged / only waited; shares blend them
COMPUTE = np.array((40, 180, 70))
EXCHANGE = np.array((230, 190, 40))
WAIT = np.array((200, 50, 50))
CELL_MIN, CELL_MAX = 2, 8  # cell width: wide cells (with the worker's index) when few workers


class TileMap(Widget):
    """Per-worker compute/exchange/wait shares from the engine's RunStats."""

    DEFAULT_CSS = "TileMap { height: auto; min-height: 2; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._shares: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._message = "no measurement yet"

    def show(self, compute: np.ndarray, exchange: np.ndarray, wait: np.ndarray) -> None:
        self._shares = (np.asarray(compute), np.asarray(exchange), np.asarray(wait))
        self.tooltip = "\n".join(
            f"worker {i}: compute {100 * c:.0f}%, exchange {100 * x:.0f}%, wait {100 * w:.0f}%"
            for i, (c, x, w) in enumerate(zip(*self._shares)))
        self.refresh(layout=True)

    def clear(self, message: str) -> None:
        self._shares = None
        self._message = message
        self.tooltip = None
        self.refresh(layout=True)

    @property
    def worker_count(self) -> int:
        return 0 if self._shares is None else len(self._shares[0])

    def _layout(self, width: int) -> tuple[int, int]:
        """(cell width, cells per row) for `width` columns."""
        n = max(1, self.worker_count)
        cell = max(CELL_MIN, min(CELL_MAX, width // n - 1))
        return cell, max(1, width // (cell + 1))

    def get_content_height(self, container, viewport, width: int) -> int:
        if self._shares is None:
            return 1
        _cell, per_row = self._layout(width)
        return -(-self.worker_count // per_row) + 1  # cells + legend

    def render(self) -> Text:
        if self._shares is None:
            return Text(self._message, style="dim")
        compute, exchange, wait = self._shares
        text = Text()
        cell, per_row = self._layout(self.size.width or 40)
        for i, (c, x, w) in enumerate(zip(compute, exchange, wait)):
            rgb = np.clip(c * COMPUTE + x * EXCHANGE + w * WAIT, 0, 255).astype(int)
            label = str(i) if len(str(i)) <= cell else ""
            text.append(label.center(cell), Style(bgcolor=Color.from_rgb(*rgb), color="black"))
            text.append("\n" if (i + 1) % per_row == 0 and i + 1 < len(compute) else " ")
        text.append("\n")
        text.append("■", Style(color=Color.from_rgb(*COMPUTE)))
        text.append(f" compute {100 * compute.mean():.0f}% ")
        text.append("■", Style(color=Color.from_rgb(*EXCHANGE)))
        text.append(f" exchange {100 * exchange.mean():.0f}% ")
        text.append("■", Style(color=Color.from_rgb(*WAIT)))
        text.append(f" wait {100 * wait.mean():.0f}%")
        return text
