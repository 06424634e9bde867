"""The layer controls: one Stepper per setting, kept in sync with a LayerSettings."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from .. import settings as st
from .stepper import Stepper

KEEP_LABELS = {"off": "off", "params": "params", "flops": "FLOPs"}


class LayerControls(Vertical):
    """Posts Stepper.Changed (with `.stepper.field`) for the screen to apply."""

    def __init__(self, initial: st.LayerSettings, chip_ids: list[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self._initial = initial
        self._chip_ids = chip_ids

    def compose(self) -> ComposeResult:
        s = self._initial
        yield Static("[b]Layer[/b]  [dim]←→ step  ↑↓ move[/dim]", classes="panel-title")
        yield Stepper("ch/group", s.cpg_choices(), s.cpg, field="cpg",
                      tooltip="input channels per group, c/g (1 = depthwise)")
        yield Stepper("groups", s.group_choices(), s.groups, field="groups",
                      tooltip="g; follows ch/group in keep mode")
        yield Stepper("width", st.WIDTHS, s.width, field="width",
                      tooltip="channels c = k (keep mode: the reference width)")
        yield Stepper("keep", st.KEEP_MODES, s.keep, field="keep", fmt=lambda v: KEEP_LABELS[v],
                      tooltip="widen the block to keep params or FLOPs as groups shrink (ResNeXt)")
        yield Stepper("batch", st.BATCHES, s.batch, field="batch")
        yield Stepper("size", st.SIZES, s.size, field="size", fmt=lambda v: f"{v}x{v}")
        yield Stepper("kernel", st.KERNELS, s.kernel, field="kernel", fmt=lambda v: f"{v}x{v}")
        yield Stepper("stride", st.STRIDES, s.stride, field="stride")
        yield Stepper("dtype", st.DTYPES, s.dtype, field="dtype")
        yield Stepper("mode", ("inference", "training"), "training" if s.train else "inference",
                      field="train")
        yield Stepper("chip A", self._chip_ids, s.chip_a, field="chip_a")
        yield Stepper("chip B", self._chip_ids, s.chip_b, field="chip_b")
        yield Static(id="keep-note", classes="note")

    def sync(self, s: st.LayerSettings) -> None:
        """Show `s` (choices that depend on other settings are recomputed)."""
        values = {
            "cpg": (s.cpg_choices(), s.cpg),
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
        for stepper in self.query(Stepper):
            choices, value = values[stepper.field]
            stepper.set_state(choices, value)
        self.query_one("#ctl-groups", Stepper).disabled = s.keep != "off"
        self.query_one("#ctl-width", Stepper).label = "width" if s.keep == "off" else "ref width"
        self.query_one("#keep-note", Static).update(s.describe_keep())


def _with(choices, value) -> list:
    """The usual choices plus a value taken from a network layer (e.g. width 240, size 15)."""
    return sorted(set(choices) | {value})
