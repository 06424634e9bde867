"""The layer controls: one Stepper per setting, kept in sync with a LayerSettings."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from .. import settings as st
from .stepper import Stepper

KEEP_LABELS = {"off": "off", "params": "params", "flops": "FLOPs"}

# (label, LayerSettings field, Stepper options), in focus order
STEPPERS = (
    ("ch/group", "channels_per_group", dict(tooltip="input channels per group, c/g (1 = depthwise)")),
    ("groups", "groups", dict(tooltip="g; follows ch/group in keep mode")),
    ("width", "width", dict(tooltip="channels c = k (keep mode: the reference width)")),
    ("keep", "keep", dict(fmt=KEEP_LABELS.__getitem__,
                          tooltip="widen the block to keep params or FLOPs as groups shrink (ResNeXt)")),
    ("batch", "batch", {}),
    ("size", "size", dict(fmt=lambda v: f"{v}x{v}")),
    ("kernel", "kernel", dict(fmt=lambda v: f"{v}x{v}")),
    ("stride", "stride", {}),
    ("dtype", "dtype", {}),
    ("mode", "train", {}),
    ("chip A", "chip_a", {}),
    ("chip B", "chip_b", {}),
)


class LayerControls(Vertical):
    """Posts Stepper.Changed (with `.stepper.field`) for the screen to apply."""

    def __init__(self, initial: st.LayerSettings, chip_ids: list[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self._initial = initial
        self._chip_ids = chip_ids

    def compose(self) -> ComposeResult:
        state = self._state(self._initial)
        yield Static("[b]Layer[/b]  [dim]←→ step  ↑↓ move[/dim]", classes="panel-title")
        for label, field, options in STEPPERS:
            choices, value = state[field]
            yield Stepper(label, choices, value, field=field, **options)
        yield Static(id="keep-note", classes="note")

    def _state(self, s: st.LayerSettings) -> dict[str, tuple]:
        """field -> (choices, value) of each stepper for `s`."""
        return {
            "channels_per_group": (s.channels_per_group_choices(), s.channels_per_group),
            "groups": (s.group_choices(), s.groups),
            "width": (_with(st.WIDTHS, s.width), s.width),
            "keep": (st.KEEP_MODES, s.keep),
            "batch": (st.BATCHES, s.batch),
            "size": (_with(st.SIZES, s.size), s.size),
            "kernel": (_with(st.KERNELS, s.kernel), s.kernel),
            "stride": (_with(st.STRIDES, s.stride), s.stride),
            "dtype": (st.DTYPES, s.dtype),
            "train": (("inference", "training"), "training" if s.train else "inference"),
            "chip_a": (self._chip_ids, s.chip_a),
            "chip_b": (self._chip_ids, s.chip_b),
        }

    def sync(self, s: st.LayerSettings) -> None:
        """Show `s` (choices that depend on other settings are recomputed)."""
        values = self._state(s)
        for stepper in self.query(Stepper):
            choices, value = values[stepper.field]
            stepper.set_state(choices, value)
        self.query_one("#ctl-groups", Stepper).disabled = s.keep != "off"
        self.query_one("#ctl-width", Stepper).label = "width" if s.keep == "off" else "ref width"
        self.query_one("#keep-note", Static).update(s.describe_keep())


def _with(choices, value) -> list:
    """The usual choices plus a value taken from a network layer (e.g. width 240, size 15)."""
    return sorted(set(choices) | {value})
