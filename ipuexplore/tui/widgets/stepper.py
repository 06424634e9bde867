"""A one-line control that steps through a list of valid values with left/right."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.message import Message
from textual.widget import Widget


class Stepper(Widget, can_focus=True):
    """`label  ◀ value ▶`; only values in `choices` can be reached, so no invalid input."""

    BINDINGS = [
        Binding("left,minus", "step(-1)", "less", show=False),
        Binding("right,plus,equals_sign", "step(1)", "more", show=False),
        Binding("down", "move(1)", "next control", show=False),
        Binding("up", "move(-1)", "previous control", show=False),
        Binding("home", "jump(0)", "first", show=False),
        Binding("end", "jump(-1)", "last", show=False),
    ]

    @dataclass
    class Changed(Message):
        stepper: "Stepper"
        value: Any

        @property
        def control(self) -> "Stepper":
            return self.stepper

    def __init__(
        self, label: str, choices: Sequence[Any], value: Any, *, field: str,
        fmt=str, id: str | None = None, tooltip: str | None = None,
    ) -> None:
        super().__init__(id=id or f"ctl-{field}")
        self.label = label
        self.field = field
        self.fmt = fmt
        self._choices = list(choices)
        self._value = value
        if tooltip:
            self.tooltip = tooltip

    @property
    def value(self) -> Any:
        return self._value

    @property
    def choices(self) -> list[Any]:
        return list(self._choices)

    def set_state(self, choices: Sequence[Any], value: Any) -> None:
        """Replace choices and value without posting Changed (the owner set them)."""
        self._choices = list(choices)
        self._value = value
        self.refresh()

    def _index(self) -> int:
        try:
            return self._choices.index(self._value)
        except ValueError:
            return -1

    def action_step(self, delta: int) -> None:
        if self.disabled or not self._choices:
            return
        index = self._index()
        new = min(max(index + delta, 0), len(self._choices) - 1) if index >= 0 else 0
        self._select(self._choices[new])

    def action_move(self, delta: int) -> None:
        """Focus the next or previous enabled control beside this one; at the first or last
        control focus stays put (it never leaves the controls for a widget out of sight)."""
        siblings = [w for w in self.parent.query_children(Stepper) if not w.disabled] if self.parent else [self]
        if self not in siblings:
            return
        index = siblings.index(self) + delta
        if 0 <= index < len(siblings):
            siblings[index].focus()
        else:
            self.app.bell()

    def action_jump(self, index: int) -> None:
        if self._choices and not self.disabled:
            self._select(self._choices[index])

    def _select(self, value: Any) -> None:
        if value == self._value:
            self.app.bell()  # at the end of the range
            return
        self._value = value
        self.refresh()
        self.post_message(self.Changed(self, value))

    def on_click(self, event: Click) -> None:
        # left half of the value box (and ◀) steps down, right half (and ▶) steps up
        self.focus()
        label_width = self._label_width()
        if event.x < label_width:
            return
        self.action_step(-1 if event.x < label_width + 7 else 1)

    def _label_width(self) -> int:
        return max(0, self.size.width - 14)

    def render(self) -> Text:
        index = self._index()
        at_start, at_end = index <= 0, index == len(self._choices) - 1
        width = self._label_width()
        text = Text(self.label[:width].ljust(width), style="bold" if self.has_focus else "")
        dim = "dim"
        text.append("◀ " if not at_start else "  ", style="" if not at_start else dim)
        text.append(f"{self.fmt(self._value):^10}"[:10], style="reverse" if self.has_focus else "bold")
        text.append(" ▶" if not at_end else "  ", style="" if not at_end else dim)
        return text
