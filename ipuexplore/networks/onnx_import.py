"""Read an ONNX model into the shared layer list (needs the optional ``onnx`` extra).

Mapped: Conv (groups, strides, pads, dilations, auto_pad), Gemm / MatMul with a constant
weight (a following constant Add becomes its bias), MaxPool / AveragePool / GlobalAveragePool
/ GlobalMaxPool, BatchNormalization / InstanceNormalization / GroupNormalization, Relu, Clip
(ReLU6), Sigmoid, HardSigmoid, HardSwish, Gelu, Tanh, Add of two activations, ``x * sigmoid(x)``
(SiLU, as PyTorch exports it) and the squeeze-excite pattern ``x * sigmoid(conv(act(conv(
global_avg_pool(x)))))``. Layout ops (Flatten, Reshape, Squeeze, Unsqueeze, Dropout, Identity)
cost nothing and pass their input through. Every other operator is counted in
``Network.unsupported`` and passes its first input through, so it is listed, never dropped
silently. Shapes come from ``onnx.shape_inference`` and are checked against the layers'.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..layers import Layer, LayerKind
from .graph import INPUT, Network

LAYOUT_OPS = {"Flatten", "Reshape", "Squeeze", "Unsqueeze", "Dropout", "Identity"}
# Constant-producing nodes feed shapes and weights, not activations.
CONSTANT_OPS = {"Constant", "ConstantOfShape"}
# protobuf cannot parse one message over 2 GiB: refuse bigger files before reading them in.
MAX_FILE_BYTES = 2**31 - 1
MAX_DIM = 1 << 30  # the engine's IPX_MAX_DIM: no real image or channel count comes near it
_ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid", "HardSwish": "hardswish", "Gelu": "gelu",
                "Tanh": "tanh", "HardSigmoid": "sigmoid"}


@dataclass(frozen=True)
class OnnxGraph:
    """An ONNX model read with its weights: the `Network`, each layer's parameters as numpy
    arrays (``params[layer_name]``, the keys per kind are listed in `read_onnx`), the nodes
    that no layer kind covers as (op_type, node name), and the graph output's shape per image
    (None when shape inference does not say)."""

    network: Network
    params: dict[str, dict[str, Any]] = field(repr=False)
    unsupported_nodes: tuple[tuple[str, str], ...]
    output_shape: tuple[int, ...] | None
    batch: int | None  # the input's static batch size (None when symbolic)


def load_onnx(path: str | os.PathLike) -> Network:
    """The model at ``path`` as a `Network` named after the file; raises ValueError in one line."""
    return read_onnx(path).network


def read_onnx(path: str | os.PathLike) -> OnnxGraph:
    """The model at ``path`` with its weights (initializers and Constants).

    ``params[name]`` per layer kind: conv ``weight`` [k, c/g, r, s], ``bias`` [k] or None;
    linear ``weight`` [k, c] (Gemm's alpha and transB applied), ``bias`` [k] or None (beta
    applied); batch norm ``scale``, ``shift``, ``mean``, ``var``, ``epsilon``; activations
    ``onnx_op`` (and HardSigmoid's ``alpha``, ``beta``); pools ``count_include_pad``;
    squeeze-excite ``w1``, ``b1``, ``w2``, ``b2`` (1x1 conv weights) and the gate's ``onnx_op``.
    Raises ValueError in one line, as `load_onnx`.
    """
    try:
        import onnx
        from onnx import numpy_helper, shape_inference
    except ImportError:
        raise ValueError("reading ONNX models needs the optional 'onnx' package: pip install 'ipuexplore[onnx]'") from None
    path = os.fspath(path)
    if not os.path.isfile(path):  # also refuses devices and pipes: /dev/zero never ends
        raise ValueError(f"path {path!r}: " + ("not a regular file" if os.path.exists(path) else "no such ONNX file"))
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise ValueError(f"path {path!r}: file is {size} bytes, over the 2 GiB an ONNX protobuf can hold")
    try:
        model = onnx.load(path)
        model = shape_inference.infer_shapes(model)
    except Exception as exc:  # protobuf decode errors, truncated files, bad graphs
        raise ValueError(f"path {path!r}: not a readable ONNX model ({_first_line(exc)})") from None
    if not model.graph.node:
        raise ValueError(f"path {path!r}: the ONNX graph has no nodes")
    name = os.path.splitext(os.path.basename(path))[0]
    importer = _Importer(model.graph, numpy_helper, path)
    network = importer.network(name)
    return OnnxGraph(network, importer.params, tuple(importer.unsupported_nodes), importer.output_shape(),
                     importer.batch)


def _to_array(numpy_helper, tensor, path: str, what: str):
    """An initializer or Constant as numpy; a corrupt one (short data, unknown type) is a one-line error."""
    try:
        return numpy_helper.to_array(tensor)
    except Exception as exc:  # noqa: BLE001 - ValueError, KeyError (unknown data type), ...
        raise ValueError(f"path {path!r}: {what} {tensor.name!r} cannot be read "
                         f"({type(exc).__name__}: {_first_line(exc)})") from None


def _first_line(exc: Exception) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _float_types() -> frozenset:
    from onnx import TensorProto

    return frozenset((TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE))


def _dims(value_info) -> tuple | None:
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)


class _Importer:
    def __init__(self, graph, numpy_helper, path: str):
        self.graph = graph
        self.path = path
        self.constants = {init.name: _to_array(numpy_helper, init, path, "initializer") for init in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value" and node.output:  # no output: visit() reports it
                        self.constants[node.output[0]] = _to_array(numpy_helper, attr.t, path, "constant")
        self.inferred = {}
        for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
            dims = _dims(vi)
            if dims is not None:
                self.inferred[vi.name] = dims
        self.consumers = Counter(name for node in graph.node for name in node.input if name)
        self.layers: list[Layer] = []
        self.by_name: dict[str, Layer] = {}
        self.source: dict[str, str] = {}  # ONNX tensor -> layer name holding it (or INPUT)
        self.tensor_of: dict[str, str] = {}  # layer name -> the ONNX tensor it produced
        self.shape: dict[str, tuple[int, int, int]] = {}  # layer name -> per-image [c, h, w]
        self.unsupported: Counter = Counter()
        self.unsupported_nodes: list[tuple[str, str]] = []
        self.batch: int | None = None
        self.params: dict[str, dict[str, Any]] = {}  # layer name -> its weights (see read_onnx)
        self.producer_node = {out: node for node in graph.node for out in node.output}

    # ---- helpers ------------------------------------------------------------------------
    def fail(self, node, message: str):
        raise ValueError(f"path {self.path!r}: node {node.name or node.op_type!r} ({node.op_type}): {message}")

    def attrs(self, node) -> dict:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def unique(self, node, index: int) -> str:
        base = node.name or f"{node.op_type.lower()}_{index}"
        name, n = base, 1
        while name in self.by_name or name == INPUT:
            n += 1
            name = f"{base}_{n}"
        return name

    def data_inputs(self, node) -> list[str]:
        return [name for name in node.input if name and name not in self.constants]

    def emit(self, layer: Layer, node) -> None:
        self.layers.append(layer)
        self.by_name[layer.name] = layer
        self.shape[layer.name] = layer.out_shape
        out = node.output[0]
        self.source[out] = layer.name
        self.tensor_of[layer.name] = out
        expected = self.inferred.get(out)
        if expected and None not in expected[1:] and len(expected) == 4:
            if tuple(expected[1:]) != layer.out_shape:
                self.fail(node, f"shape inference gives {list(expected[1:])}, the layer computes {list(layer.out_shape)}")

    def remove(self, layer_name: str) -> None:
        layer = self.by_name.pop(layer_name)
        self.layers.remove(layer)

    def constant(self, node, index: int):
        """The constant at input ``index`` (None when absent or computed at run time)."""
        return self.constants.get(node.input[index]) if len(node.input) > index and node.input[index] else None

    def output_shape(self) -> tuple[int, ...] | None:
        """The first graph output's shape without the batch dimension."""
        dims = _dims(self.graph.output[0]) if self.graph.output else None
        return None if not dims or None in dims[1:] else tuple(dims[1:])

    def weight(self, node, index: int, ndim: int):
        """The constant weight at input `index` (None when computed at run time), checked."""
        weight = self.constants.get(node.input[index]) if len(node.input) > index else None
        if weight is None:
            return None
        if weight.dtype.kind != "f":
            self.fail(node, f"weight {node.input[index]!r} has element type {weight.dtype}, expected floating point")
        if weight.ndim != ndim:
            self.fail(node, f"weight {node.input[index]!r} must be {ndim}-D, got shape {list(weight.shape)}")
        return weight

    def input_of(self, node, tensor: str) -> tuple[str, tuple[int, int, int]]:
        try:
            src = self.source[tensor]
        except KeyError:
            self.fail(node, f"input {tensor!r} is not produced by any earlier node")
        return src, self.shape[src]

    # ---- the walk -----------------------------------------------------------------------
    def network(self, name: str) -> Network:
        graph_inputs = [vi for vi in self.graph.input if vi.name not in self.constants]
        if len(graph_inputs) != 1:
            raise ValueError(f"path {self.path!r}: expected one image input, found {len(graph_inputs)}")
        dims = _dims(graph_inputs[0])
        if dims is None or len(dims) != 4 or None in dims[1:]:
            raise ValueError(f"path {self.path!r}: the input must have a known shape [N, C, H, W], got {dims}")
        for letter, size in zip("CHW", dims[1:]):
            if not 1 <= size <= MAX_DIM:
                raise ValueError(f"path {self.path!r}: input {graph_inputs[0].name!r} has {letter}={size}, "
                                 f"outside 1..{MAX_DIM}")
        elem = graph_inputs[0].type.tensor_type.elem_type
        if elem not in _float_types():
            from onnx import TensorProto

            try:
                name = TensorProto.DataType.Name(elem)
            except ValueError:  # a number no ONNX type has
                name = str(elem)
            raise ValueError(f"path {self.path!r}: input {graph_inputs[0].name!r} has element type {name}, "
                             "expected an image of floats")
        self.source[graph_inputs[0].name] = INPUT
        self.batch = dims[0] if dims[0] else None  # 0: a symbolic dimension without a value
        self.shape[INPUT] = tuple(dims[1:])
        for index, node in enumerate(self.graph.node):
            self.visit(node, index)
        if not self.layers:
            raise ValueError(f"path {self.path!r}: no supported layers (unsupported: {dict(self.unsupported)})")
        return Network(name, self.shape[INPUT][1], tuple(self.layers), self.shape[INPUT],
                       tuple(sorted(self.unsupported.items())))

    def visit(self, node, index: int) -> None:
        try:
            self._visit(node, index)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            # A malformed node (bad attribute, impossible layer): name the file and node.
            if str(exc).startswith(f"path {self.path!r}"):
                raise
            reason = str(exc) if isinstance(exc, (ValueError, TypeError)) else f"{type(exc).__name__}: {exc}"
            self.fail(node, reason)

    def _visit(self, node, index: int) -> None:
        op = node.op_type
        # proto2 strings are not checked for UTF-8: a corrupt name can arrive as bytes.
        for text in (op, node.name, *node.input, *node.output):
            if not isinstance(text, str):
                self.fail(node, f"name {text!r} is not UTF-8 text")
        if not node.output:
            self.fail(node, "the node has no outputs")
        if op in CONSTANT_OPS:
            return
        inputs = self.data_inputs(node)
        if not inputs:  # computes only on constants (shape arithmetic)
            for out in node.output:
                self.constants.setdefault(out, None)
            return
        if op in LAYOUT_OPS:
            self.source[node.output[0]] = self.input_of(node, inputs[0])[0]
            return
        if op in _ACTIVATIONS:
            return self._act(node, index, _ACTIVATIONS[op])
        handler = getattr(self, f"op_{op}", None)
        if handler is None or handler(node, index, inputs) is False:
            self.unsupported[op] += 1
            self.unsupported_nodes.append((op, node.name or f"{op.lower()}_{index}"))
            self.source[node.output[0]] = self.input_of(node, inputs[0])[0]

    def op_Conv(self, node, index, inputs):
        a = self.attrs(node)
        src, (c, h, w) = self.input_of(node, inputs[0])
        weight = self.weight(node, 1, 4)
        if weight is None:
            return False  # weights computed at run time: not a layer we can describe
        k, cpg, r, s = weight.shape
        g = int(a.get("group", 1))
        if cpg * g != c:
            self.fail(node, f"weight has {cpg} channels per group x {g} groups, input has {c}")
        stride = tuple(a.get("strides", (1, 1)))
        dilation = tuple(a.get("dilations", (1, 1)))
        pad = _pads(a, (h, w), (r, s), stride, dilation)
        bias = len(node.input) > 2 and bool(node.input[2])
        name = self.unique(node, index)
        self.emit(Layer.conv(c, h, w, k, (r, s), stride=stride, pad=pad, dilation=dilation, g=g, bias=bias,
                             name=name, inputs=(src,)), node)
        self.params[name] = {"weight": weight, "bias": self.constant(node, 2)}

    def _linear(self, node, index, src, c, weight_kc, bias):
        """weight_kc: the weight as [k outputs, c inputs]; bias: [k] (or broadcastable), or None."""
        k, k_in = weight_kc.shape
        if k_in != c:
            self.fail(node, f"weight expects {k_in} inputs, the input has {c}")
        name = self.unique(node, index)
        self.emit(Layer.linear(c, k, bias=bias is not None, name=name, inputs=(src,)), node)
        self.params[name] = {"weight": weight_kc, "bias": None if bias is None else _bias(bias, k, node, self)}

    def op_Gemm(self, node, index, inputs):
        a = self.attrs(node)
        weight = self.weight(node, 1, 2)
        if weight is None or a.get("transA", 0):
            return False
        src, (c, h, w) = self.input_of(node, inputs[0])
        weight_kc = (weight if a.get("transB", 0) else weight.T) * a.get("alpha", 1.0)
        bias = self.constant(node, 2)
        if len(node.input) > 2 and node.input[2] and bias is None:
            return False  # a bias computed at run time
        self._linear(node, index, src, c * h * w, weight_kc, None if bias is None else bias * a.get("beta", 1.0))

    def op_MatMul(self, node, index, inputs):
        weight = self.constants.get(node.input[1])
        if weight is None or weight.ndim != 2:
            return False
        weight = self.weight(node, 1, 2)
        src, (c, h, w) = self.input_of(node, inputs[0])
        self._linear(node, index, src, c * h * w, weight.T, None)

    def _pool(self, node, index, op, kernel=None, global_=False):
        src, (c, h, w) = self.input_of(node, self.data_inputs(node)[0])
        if global_:
            layer = Layer.pool(c, h, w, "global_avg" if op == "avg" else "max", kernel=(h, w),
                               name=self.unique(node, index), inputs=(src,))
        else:
            a = self.attrs(node)
            if a.get("ceil_mode", 0):
                return False
            if "kernel_shape" not in a:
                self.fail(node, "missing attribute kernel_shape")
            kernel = tuple(a["kernel_shape"])
            stride = tuple(a.get("strides", (1, 1)))
            pad = _pads(a, (h, w), kernel, stride, (1, 1))
            layer = Layer.pool(c, h, w, op, kernel, stride=stride, pad=pad, name=self.unique(node, index), inputs=(src,))
            self.params[layer.name] = {"count_include_pad": bool(a.get("count_include_pad", 0))}
        self.emit(layer, node)

    def op_MaxPool(self, node, index, inputs):
        return self._pool(node, index, "max")

    def op_AveragePool(self, node, index, inputs):
        return self._pool(node, index, "avg")

    def op_GlobalAveragePool(self, node, index, inputs):
        return self._pool(node, index, "avg", global_=True)

    def op_GlobalMaxPool(self, node, index, inputs):
        return self._pool(node, index, "max", global_=True)

    def _norm(self, node, index, op):
        src, shape = self.input_of(node, self.data_inputs(node)[0])
        name = self.unique(node, index)
        self.emit(Layer.norm(*shape, op=op, name=name, inputs=(src,)), node)
        self.params[name] = {"onnx_op": node.op_type}
        return name

    def op_BatchNormalization(self, node, index, inputs):
        name = self._norm(node, index, "batch")
        stats = [self.constant(node, i) for i in range(1, 5)]
        if all(v is not None for v in stats):  # else: statistics computed at run time
            self.params[name].update(zip(("scale", "shift", "mean", "var"), stats),
                                     epsilon=float(self.attrs(node).get("epsilon", 1e-5)))

    def op_InstanceNormalization(self, node, index, inputs):
        return self._norm(node, index, "group")

    def op_GroupNormalization(self, node, index, inputs):
        return self._norm(node, index, "group")

    def _act(self, node, index, op, src=None):
        if src is None:
            src = self.input_of(node, self.data_inputs(node)[0])[0]
        name = self.unique(node, index)
        self.emit(Layer.act(*self.shape[src], op=op, name=name, inputs=(src,)), node)
        params = {"onnx_op": node.op_type if op != "silu" else "Silu"}
        if node.op_type == "HardSigmoid":
            a = self.attrs(node)
            params.update(alpha=float(a.get("alpha", 0.2)), beta=float(a.get("beta", 0.5)))
        self.params[name] = params

    def op_Clip(self, node, index, inputs):
        a = self.attrs(node)
        low = a.get("min", _scalar(self.constants.get(node.input[1]) if len(node.input) > 1 and node.input[1] else None))
        high = a.get("max", _scalar(self.constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None))
        if low == 0 and high == 6:
            return self._act(node, index, "relu6")
        return False

    def op_Add(self, node, index, inputs):
        if len(inputs) == 2:
            (a, shape_a), (b, shape_b) = (self.input_of(node, t) for t in inputs)
            if shape_a != shape_b:
                return False  # broadcasting adds are not residuals
            self.emit(Layer.add(*shape_a, name=self.unique(node, index), inputs=(a, b)), node)
            return None
        # x + constant: the bias of a preceding MatMul, folded in
        src, _ = self.input_of(node, inputs[0])
        layer = self.by_name.get(src)
        if layer is None or layer.kind is not LayerKind.LINEAR or layer.bias or self.consumers[inputs[0]] != 1:
            return False
        bias = self.constant(node, 1 if node.input[0] == inputs[0] else 0)
        if bias is None:
            return False
        self.remove(src)
        self.emit(layer.with_(bias=True), node)
        self.params[layer.name]["bias"] = _bias(bias, layer.k, node, self)
        return None

    def op_Mul(self, node, index, inputs):
        if len(inputs) != 2:
            return False
        nodes = [self.producer_node.get(t) for t in inputs]
        for i in (0, 1):  # x * sigmoid(x): SiLU as torch.onnx exports it
            gate, other = nodes[i], inputs[1 - i]
            if gate is not None and gate.op_type == "Sigmoid" and gate.input[0] == other and self.consumers[inputs[i]] == 1:
                self.remove(self.source[inputs[i]])
                self.consumers[other] -= 1  # x feeds the fused SiLU once, not twice
                return self._act(node, index, "silu", src=self.source[other])
        for i in (0, 1):
            se = self._squeeze_excite(inputs[i], inputs[1 - i])
            if se is not None:
                src, se_c, act, folded = se
                gate, fc2, _, fc1, _ = (self.params.get(layer_name, {}) for layer_name in folded)
                for layer_name in folded:
                    self.remove(layer_name)
                c, h, w = self.shape[src]
                name = self.unique(node, index)
                self.emit(Layer.se(c, h, w, se_c, op=act, name=name, inputs=(src,)), node)
                self.params[name] = {"w1": fc1["weight"], "b1": fc1["bias"], "w2": fc2["weight"],
                                     "b2": fc2["bias"], "gate": gate}
                return None
        return False

    def _squeeze_excite(self, gate: str, x: str):
        """Match gate = sigmoid(conv(act(conv(global_avg_pool(x))))); return what to fold."""
        pattern = ((LayerKind.ACT, "sigmoid"), (LayerKind.CONV, None), (LayerKind.ACT, None),
                   (LayerKind.CONV, None), (LayerKind.POOL, "global_avg"))
        chain = []
        name = self.source.get(gate)
        for kind, op in pattern:
            layer = self.by_name.get(name)
            if layer is None or layer.kind is not kind or (op and layer.op != op):
                return None
            if self.consumers[self.tensor_of[name]] != 1:  # used elsewhere: not a private SE branch
                return None
            chain.append(layer)
            name = layer.inputs[0]
        if name != self.source.get(x):
            return None
        _, fc2, act, fc1, _ = chain
        c = self.shape[name][0]
        if fc1.r != 1 or fc2.r != 1 or fc1.c != c or fc2.k != c or not (fc1.bias and fc2.bias):
            return None
        return name, fc1.k, act.op, [layer.name for layer in chain]


def _bias(value, k: int, node, importer):
    """A bias constant as a [k] vector (ONNX broadcasts [1, k] or a scalar)."""
    import numpy as np

    if value is None:
        return None
    if value.size not in (1, k):
        importer.fail(node, f"bias has {value.size} values, expected {k}")
    return np.broadcast_to(value.reshape(-1), (k,)).copy()


def _scalar(value):
    if value is None:
        return None
    return float(value.reshape(-1)[0]) if value.size else None


def _pads(attrs: dict, size: tuple[int, int], kernel, stride, dilation) -> tuple[int, int, int, int]:
    """ONNX pads (top, left, bottom, right) or auto_pad -> the Layer's (top, bottom, left, right)."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for n, k, st, d in zip(size, kernel, stride, dilation):
            out = -(-n // st)
            total = max(0, (out - 1) * st + (k - 1) * d + 1 - n)
            small, big = total // 2, total - total // 2
            pads.append((small, big) if auto == "SAME_UPPER" else (big, small))
        return (pads[0][0], pads[0][1], pads[1][0], pads[1][1])
    if auto == "VALID":
        return (0, 0, 0, 0)
    if auto != "NOTSET":
        raise ValueError(f"auto_pad {auto!r} is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
    pads = tuple(attrs.get("pads", (0, 0, 0, 0)))
    if len(pads) != 4:
        raise ValueError(f"pads must have 4 values (top, left, bottom, right) for a 2-D op, got {list(pads)}")
    top, left, bottom, right = pads
    return (top, bottom, left, right)
