"""The help screen: what each number means and where it comes from."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer

HELP = """\
# ipuexplore: why small groups hurt a GPU and not an IPU

A grouped convolution splits its channels into **g groups**; each output only sees the
**c/g channels per group** of its own group (1 = depthwise). Fewer channels per group means
fewer FLOPs and weights, but nearly the same activations to move: the **arithmetic
intensity** (FLOPs per byte) falls, and a chip that keeps its activations in off-chip DRAM
(a GPU) becomes memory-bound, while one that keeps them in on-chip SRAM (an IPU) does not.
Small dot products (c/g x kernel) also leave a GPU's tensor cores half empty.

## Keys
- `↑ ↓ tab` move between controls
- `← → - +` step the focused control through its valid values (click the arrows too)
- `home end` first / last value
- `l n c` layer view / network view / charts
- `? f1` this help
- `w` charts view: a whole network's layers on the rooflines (again: the layer's point)
- `e` export the current view (.csv or .json)
- `s` save an SVG screenshot in the current directory
- `ctrl+p` command palette: layers from ResNet/ResNeXt/MobileNet/EfficientNet(-G16), networks, chips, keep mode, export
- `q` quit

## Layer view, per chip (the **model**, `ipuexplore.models.estimate`)
All counts are for the whole batch. **FLOPs** are 2 x multiply-accumulates (MACs).
Training = forward + backward-data + backward-weights.
- **bytes moved**: traffic to the memory level the data lives in (GPU: HBM, with L2 reuse
  where it fits; IPU: tile SRAM when the layer fits).
- **intensity**: FLOPs / bytes moved. Below the chip's ridge point it is memory-bound.
- **time**: estimated time for the batch; **images/s** = batch / time.
- **TFLOP/s**: FLOPs / time (achieved, not peak); **bandwidth** = bytes / time.
- **utilisation**: achieved / peak FLOP/s of the chip for this dtype.
- **runs on**: the compute unit the model picks: on a GPU, tensor cores need channels per
  group in multiples of 8 (fp16), else CUDA cores; on an IPU, the AMP unit takes 16 input
  channels per pass (fp16), small groups fall back to HMAC / vector vertices.
- **bound by**: the term that dominates the time: compute, memory (with the level the data
  streams from: hbm, l2, sram, streaming), exchange (IPU tile-to-tile) or overhead (kernel
  launch, sync).
- The **ratio** banner: how many times more images/s the faster chip reaches (green when
  chip A is the faster one).

Chip figures come from the spec files in `ipuexplore/hardware/` (each with its source);
the IPU Mk1 vs V100 default is the pair of the source article (Graphcore, "Delving deep
into modern computer vision models", 2020).

## keep: params / FLOPs (ResNeXt, EfficientNet-G16)
With keep on, the conv sits in a bottleneck block `1x1 io->d, kxk grouped d->d, 1x1 d->io`
(io = 4 x the reference width, ResNeXt's ratio). Shrinking the channels per group widens d
until the block has the reference's params (or FLOPs) again: from dense 64 wide, 4 per
group gives d = 128, ResNeXt-50's 32x4d.

## Host panel (**measured**, this CPU)
The C engine (`ipuexplore.engine`) runs the same layer over and over in a background
thread, fp32, with one worker per core, IPU style: each worker copies its inputs into its
own "tile memory", computes, then waits at a barrier. In training mode a run is the forward
pass and both backward passes (the title says fwd+bwd).
- **direct**: the grouped direct kernels; **gemm**: lowered to matrix multiplies (im2col),
  as GPU libraries do; small groups make the matrices thin.
- **GFLOP/s, GB/s**: the engine's own counts for the run divided by its wall time;
  **img/s** = live batch / wall time. Large layers are shrunk for the live run (batch,
  then size, then whole groups) and the panel says so.
- **history**: direct GFLOP/s of the recent runs of this layer.
- **tile map**: one cell per worker, coloured by its share of the run spent computing
  (green), exchanging (copying into tile memory, yellow) and waiting at barriers (red).
"measuring..." means no run of the current layer has finished yet: numbers from an
earlier layer are never shown.

## Charts (c)
Throughput (achieved TFLOP/s) against channels per group for both chips (model) and the
host (measured, direct); and a roofline per chip: peak FLOP/s, the bandwidth slope, and
the current layer's point.

## Network view (n)
Per-layer estimates of a whole network for both chips (sort with o, heaviest layers
highlighted), totals, an optional group-size override for its grouped convs, and a host
run through the engine at the view's batch, capped to keep a run to seconds (r, with a
progress bar; escape cancels). Enter or x on a grouped
or depthwise conv opens it in the layer view.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        # imported here: the Markdown widget (markdown-it) is ~50 ms of the app's start-up
        from textual.widgets import Markdown

        with VerticalScroll(id="help-body"):
            yield Markdown(HELP)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()  # arrows / page keys scroll at once

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
