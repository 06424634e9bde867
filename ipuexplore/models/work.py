"""A layer turned into the passes a chip executes, in family-independent terms.

Each convolution pass is a grouped matrix product: per group, ``rows`` x ``cols`` with
a reduction of length ``reduction``; ``in_ch`` is the channel count the compute unit reduces over
and ``out_ch`` the one it produces (the two numbers tensor cores and the IPU's AMP care
about). Training passes follow the usual lowering:

- forward: rows = batch x P x Q positions, cols = k/g, reduce over (c/g) x r x s;
- backward_data: a convolution of the output gradient with the transposed weights:
  rows = batch x H x W, cols = c/g, reduce over (k/g) x r x s;
- backward_weights: rows = (c/g) x r x s, cols = k/g, reduce over batch x P x Q positions.

Bytes are compulsory traffic (each operand read once, the result written once); family
models add what their mechanisms move on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ipuexplore.layers import Layer, LayerKind, dtype_bytes

PHASES = ("forward", "backward_data", "backward_weights")


@dataclass(frozen=True)
class Work:
    phase: str
    matmul: bool  # False: element-wise/vector work only
    macs: int
    vector_ops: int
    groups: int
    rows: int  # rows per group (output positions; weight rows for the weight gradient)
    cols: int  # columns (outputs) per group
    reduction: int  # reduction length per group
    in_ch: int  # channels per group the compute unit reduces over
    out_ch: int  # channels per group it produces
    kernel_w: int  # kernel width (the IPU's SLIC slides along it)
    a_bytes: int  # activation-like operand read
    b_bytes: int  # weight-like operand read
    c_bytes: int  # result written
    depthwise: bool
    launches: int = 1  # separate kernels a GPU library launches for this pass
    taps: int = 1  # kernel positions the IPU's AMP runs as separate passes (r x s; 1 for weight grads)
    row: int = 1  # length of the rows it writes (output width; input width for backward_data)
    unit_stride: bool = True  # stride 1 and dilation 1 (the host engine's 3x3 depthwise path needs both)
    kind: str = ""  # the layer kind of a vector pass ("se", "norm", ...): a framework's own kernels differ by it
    op: str = ""  # a vector layer's operation ("silu", "relu", ...)
    train: bool = False  # the pass belongs to a training step (autograd records the forward)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def min_bytes(self) -> int:
        return self.a_bytes + self.b_bytes + self.c_bytes


def conv_passes(layer: Layer, batch: int, dtype: str, train: bool) -> list[Work]:
    """The passes of a conv or linear layer (linear = 1x1 conv on a 1x1 map)."""
    b = dtype_bytes(dtype)
    cg, kg, g = layer.c // layer.g, layer.k // layer.g, layer.g
    rs = layer.r * layer.s
    in_b, w_b, out_b = layer.input_bytes(dtype, batch), layer.weight_bytes(dtype), layer.output_bytes(dtype, batch)
    macs = batch * layer.macs
    bias_ops = batch * layer.vector_ops  # bias add, one per output element
    depthwise = cg == 1 and kg == 1
    unit = layer.stride == (1, 1) and layer.dilation == (1, 1)
    fwd = Work(
        "forward", True, macs, bias_ops, g,
        rows=batch * layer.p * layer.q, cols=kg, reduction=cg * rs, in_ch=cg, out_ch=kg, kernel_w=layer.s,
        a_bytes=in_b, b_bytes=w_b, c_bytes=out_b, depthwise=depthwise, taps=rs, row=layer.q, unit_stride=unit,
    )
    if not train:
        return [fwd]
    bwd_data = Work(
        "backward_data", True, macs, 0, g,
        rows=batch * layer.h * layer.w, cols=cg, reduction=kg * rs, in_ch=kg, out_ch=cg, kernel_w=layer.s,
        a_bytes=out_b, b_bytes=w_b, c_bytes=in_b, depthwise=depthwise, taps=rs, row=layer.w, unit_stride=unit,
    )
    grad_w = layer.params * b
    bwd_weights = Work(
        "backward_weights", True, macs, bias_ops, g,
        rows=cg * rs, cols=kg, reduction=batch * layer.p * layer.q, in_ch=batch * layer.p * layer.q, out_ch=cg,
        kernel_w=layer.s, a_bytes=in_b, b_bytes=out_b, c_bytes=grad_w, depthwise=depthwise, row=layer.q, unit_stride=unit,
    )
    return [fwd, bwd_data, bwd_weights]


def vector_passes(layer: Layer, batch: int, dtype: str, train: bool) -> list[Work]:
    """Pooling, normalisation, activation, addition and squeeze-excite.

    Training: backward_data reads the output gradient and the saved input and writes the
    input gradient (~2x the forward's element work, a stated approximation); only layers
    with parameters (norm, se) have a backward_weights pass, costed as a reduction over the
    batch. Batch norm in training also computes the batch statistics (one extra read).
    """
    in_b, out_b, w_b = layer.input_bytes(dtype, batch), layer.output_bytes(dtype, batch), layer.weight_bytes(dtype)
    ops = batch * layer.vector_ops
    macs = batch * layer.macs  # squeeze-excite's two small FCs
    launches = {LayerKind.SE: 4, LayerKind.NORM: 2 if train else 1}.get(layer.kind, 1)
    a_extra = in_b if (train and layer.kind is LayerKind.NORM) else 0  # statistics pass
    fwd = Work(
        "forward", False, macs, ops, 1, rows=batch, cols=max(layer.se_c, 1), reduction=layer.c,
        in_ch=layer.c, out_ch=layer.k, kernel_w=layer.s,
        a_bytes=in_b + a_extra, b_bytes=w_b, c_bytes=out_b, depthwise=False, launches=launches, kind=layer.kind.value,
        op=layer.op, train=train,
    )
    if not train:
        return [fwd]
    passes = [
        fwd,
        Work(
            "backward_data", False, macs, 2 * ops, 1, rows=batch, cols=max(layer.se_c, 1), reduction=layer.c,
            in_ch=layer.c, out_ch=layer.k, kernel_w=layer.s,
            a_bytes=out_b + in_b, b_bytes=w_b, c_bytes=in_b, depthwise=False, launches=launches, kind=layer.kind.value,
            op=layer.op, train=True,
        ),
    ]
    if layer.params:
        passes.append(
            Work(
                "backward_weights", False, macs, ops, 1, rows=batch, cols=max(layer.se_c, 1), reduction=layer.c,
                in_ch=layer.c, out_ch=layer.k, kernel_w=layer.s,
                a_bytes=out_b + in_b, b_bytes=0, c_bytes=w_b, depthwise=False, launches=1, kind=layer.kind.value,
                op=layer.op, train=True,
            )
        )
    return passes


def passes(layer: Layer, batch: int, dtype: str, train: bool) -> list[Work]:
    if layer.kind in (LayerKind.CONV, LayerKind.LINEAR):
        return conv_passes(layer, batch, dtype, train)
    return vector_passes(layer, batch, dtype, train)


def activation_bytes_kept(layer: Layer, batch: int, dtype: str) -> int:
    """Bytes kept from the forward pass for the backward pass: the layer's input (the
    weight gradient of a conv/linear and the derivative of an activation/norm need it)."""
    if layer.kind is LayerKind.ADD:
        return 0  # an addition's gradient needs no saved tensor
    return layer.input_bytes(dtype, batch) // (2 if layer.kind is LayerKind.SE else 1)


def input_gradient_skipped(layers: Sequence[Layer]) -> list[int]:
    """Indices of the layers whose backward-data pass a framework never runs in a network's
    training step: those reading only the network's input (the images need no gradient).
    PyTorch: derivatives.yaml convolution, convolution_backward(..., grad_input_mask), the mask
    false where the input does not require grad. On the IPU, TensorFlow differentiates only
    towards the variables (its gradient of a dataset/placeholder input is never requested) and
    PopART/PopTorch build a backward op only for tensors that need a gradient. A stand-alone
    layer keeps the pass: its input may be an activation."""
    made = {l.name for l in layers}
    return [i for i, l in enumerate(layers) if l.inputs and not any(name in made for name in l.inputs)]
