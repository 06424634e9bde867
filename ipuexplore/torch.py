"""PyTorch integration: the engine as a torch operator, and models converted to use it.

    >>> import torch, ipuexplore.torch as ipt
    >>> y = torch.ops.ipuexplore.conv2d(x, w, None, (1, 1), (1, 1), (1, 1), 32)
    >>> model = ipt.convert(model, groups_only=True)   # its grouped/depthwise convs autotuned
    >>> ipt.choices(model)                              # engine or PyTorch, per layer and input

``torch.ops.ipuexplore.conv2d(input, weight, bias, stride, padding, dilation, groups)`` has
``torch.nn.functional.conv2d``'s semantics on CPU float32 tensors, NCHW or channels_last
(the output keeps the input's memory format); ``padding`` is ``(ph, pw)`` or ``(top, bottom,
left, right)``. It has a fake kernel (shapes only), so it traces under ``torch.compile`` and
``torch.export``, and an autograd formula whose backward runs the engine's backward-data and
backward-weights passes (``torch.ops.ipuexplore.conv2d_backward``).

``convert`` makes each converted layer choose, per input signature, between the engine and
PyTorch's own kernel by timing both on its first call (as ``torch.backends.cudnn.benchmark``
chooses among cuDNN's algorithms), so converting a model keeps every layer where it was fastest
here; ``convert(autotune=False)`` runs the engine in every converted layer.

Importing this module imports torch; ``import ipuexplore`` alone never does.

Threads. PyTorch's OpenMP workers spin for a while after each of its ops (libgomp reads its
spin bound once, at load), and in a converted model every engine call comes right after one
(batch norm, activation, a 1x1 conv). Engine workers beyond the calling thread would then
share cores with those spinning threads and wait for each other at every superstep barrier;
the calling thread's own core is the one core surely free. So by default the ops run the
engine on the calling thread alone (1 worker, no pool threads to spin afterwards either),
and PyTorch keeps the other cores. ``set_workers(n)`` gives the engine n workers, for a
machine with cores that PyTorch does not use. scripts/bench_torch_convert.py measures both.
"""

# No `from __future__ import annotations` here: torch.library reads the op's schema from
# the annotations, and releases before 2.5 could not read them as strings.
import statistics
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Optional, Sequence, Tuple  # the typing forms every torch.library release reads

import torch
from torch import nn

from ipuexplore import engine, errors

__all__ = ["conv2d", "conv2d_backward", "Conv2d", "Choice", "convert", "choices", "set_workers",
           "get_workers"]

_workers: int | None = None


def set_workers(workers: int | None) -> None:
    """Engine workers for the ops (None: the default, 1: the calling thread only)."""
    global _workers
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive int or None, got {workers!r}")
    _workers = workers


def get_workers() -> int:
    return _workers if _workers is not None else 1


def _channels_last(t: torch.Tensor) -> bool:
    """The tensor is laid out NHWC (and not also NCHW, as a 1-channel or 1x1 one is)."""
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def _like(t: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if channels_last else t


def _check(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    for name, t in (("input", input), ("weight", weight), ("bias", bias)):
        if t is None:
            continue
        if t.device.type != "cpu":
            raise ValueError(f"ipuexplore.conv2d: {name} is on {t.device}; the engine runs on the CPU")
        if t.dtype != torch.float32:
            raise TypeError(f"ipuexplore.conv2d: {name} has dtype {t.dtype}; the engine takes torch.float32")
    if input.dim() != 4:
        raise ValueError(f"ipuexplore.conv2d: input must be 4-D [n, c, h, w], got shape {tuple(input.shape)}")


def _numpy(t: torch.Tensor):
    """A C-contiguous float32 numpy view of t (a copy only when t is not NCHW-contiguous)."""
    return t.detach().contiguous().numpy()


def _padding4(padding: Sequence[int]) -> tuple[int, int, int, int]:
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    if len(padding) == 4:
        return tuple(padding)
    raise ValueError(f"ipuexplore.conv2d: padding must have 2 (ph, pw) or 4 (top, bottom, left, right) "
                     f"values, got {list(padding)}")


def _output_shape(input, weight, stride, padding, dilation):
    top, bottom, left, right = _padding4(padding)
    n, _, h, w = input.shape
    k, _, r, s = weight.shape
    p = (h + top + bottom - dilation[0] * (r - 1) - 1) // stride[0] + 1
    q = (w + left + right - dilation[1] * (s - 1) - 1) // stride[1] + 1
    return (n, k, p, q)


_pools: dict[int, engine.Pool] = {}
# Packed convolutions, newest last: (weight, bias, shape and geometry key) -> engine.Conv2d.
# An entry holds its tensors, so their memory cannot be reused by others while it lives;
# a tensor's _version changes with every in-place write (an optimizer step), which misses.
_handles: OrderedDict = OrderedDict()
_MAX_HANDLES = 256
_cache_lock = threading.Lock()


def _pool() -> engine.Pool:
    workers = get_workers()
    with _cache_lock:
        pool = _pools.get(workers)
        if pool is None or pool.closed:
            pool = _pools[workers] = engine.Pool(workers)
        return pool


def _handle(input, weight, bias, stride, padding, dilation, groups) -> engine.Conv2d:
    """The engine convolution for these weights and this input shape, packed once."""
    try:
        key = (tuple(input.shape), weight.data_ptr(), weight._version, tuple(weight.shape),
               None if bias is None else (bias.data_ptr(), bias._version),
               tuple(stride), tuple(padding), tuple(dilation), groups, get_workers())
    except RuntimeError:  # tensors made under torch.inference_mode() have no version counter
        key = None
    with _cache_lock:
        entry = _handles.get(key)
        if entry is not None:
            _handles.move_to_end(key)
            return entry[2]
    conv = engine.Conv2d(_numpy(weight), None if bias is None else _numpy(bias), tuple(input.shape),
                         tuple(stride), _padding4(padding), tuple(dilation), groups, pool=_pool())
    if key is not None:  # the entry holds the weight it was packed from, so the key stays valid
        with _cache_lock:
            _handles[key] = (weight, bias, conv)
            while len(_handles) > _MAX_HANDLES:
                _handles.popitem(last=False)
    return conv


@torch.library.custom_op("ipuexplore::conv2d", mutates_args=())
def conv2d(input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], stride: Sequence[int],
           padding: Sequence[int], dilation: Sequence[int], groups: int) -> torch.Tensor:
    """torch.nn.functional.conv2d on the ipuexplore engine (CPU float32)."""
    _check(input, weight, bias)
    _padding4(padding)
    out = torch.empty(_output_shape(input, weight, stride, padding, dilation), dtype=torch.float32)
    x = _numpy(input)
    try:
        _handle(input, weight, bias, stride, padding, dilation, groups).run(x, out=out.numpy())
    except (errors.Busy, errors.TileTooSmall):  # taken by another thread, or tiles too small:
        # the functional form runs on a pool of its own
        engine.conv2d(x, _numpy(weight), None if bias is None else _numpy(bias), tuple(stride),
                      _padding4(padding), tuple(dilation), groups, workers=get_workers(), out=out.numpy())
    return _like(out, _channels_last(input))


@conv2d.register_fake
def _conv2d_fake(input, weight, bias, stride, padding, dilation, groups):
    out = input.new_empty(_output_shape(input, weight, stride, padding, dilation))
    return _like(out, _channels_last(input))


@torch.library.custom_op("ipuexplore::conv2d_backward", mutates_args=())
def conv2d_backward(grad_output: torch.Tensor, input: torch.Tensor, weight: torch.Tensor,
                    stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
                    groups: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(grad_input, grad_weight, grad_bias) of ``conv2d`` from the engine's backward passes."""
    _check(input, weight, None)
    grad_input = torch.empty(input.shape, dtype=torch.float32)
    grad_weight = torch.empty(weight.shape, dtype=torch.float32)
    grad_bias = torch.empty(weight.shape[0], dtype=torch.float32)
    args = (_numpy(grad_output), _numpy(input), _numpy(weight), tuple(stride), _padding4(padding),
            tuple(dilation), groups)
    out = (grad_input.numpy(), grad_weight.numpy(), grad_bias.numpy())
    try:
        engine.conv2d_backward(*args, pool=_pool(), out=out)
    except (errors.Busy, errors.TileTooSmall):
        engine.conv2d_backward(*args, workers=get_workers(), out=out)
    return _like(grad_input, _channels_last(input)), grad_weight, grad_bias


@conv2d_backward.register_fake
def _conv2d_backward_fake(grad_output, input, weight, stride, padding, dilation, groups):
    grad_input = _like(input.new_empty(input.shape), _channels_last(input))
    return grad_input, weight.new_empty(weight.shape), weight.new_empty(weight.shape[0])


def _setup_context(ctx, inputs, output):
    input, weight, bias, stride, padding, dilation, groups = inputs
    ctx.save_for_backward(input, weight)
    ctx.geometry = (stride, padding, dilation, groups)
    ctx.has_bias = bias is not None


def _backward(ctx, grad_output):
    input, weight = ctx.saved_tensors
    grad_input, grad_weight, grad_bias = conv2d_backward(grad_output, input, weight, *ctx.geometry)
    return (grad_input if ctx.needs_input_grad[0] else None,
            grad_weight if ctx.needs_input_grad[1] else None,
            grad_bias if ctx.has_bias and ctx.needs_input_grad[2] else None,
            None, None, None, None)


conv2d.register_autograd(_backward, setup_context=_setup_context)


# Autotuning: how many timed repetitions of each path, after one untimed warm-up of each
# (packing, first-touch of buffers). The paths alternate, and the engine must win three of
# every four paired rounds (engine against PyTorch in the same round), so a burst of load from
# other jobs hits both sides of a pair alike and one slow round decides nothing.
_TUNE_REPEATS = 7


@dataclass
class Choice:
    """What a converted layer runs for one input signature, and the measurements behind it.

    ``signature`` is (shape, strides, dtype, grad): the input's shape and strides (so its
    memory format), its dtype, and whether the call records gradients (then each timing is
    forward plus backward). ``path`` is "engine" or "torch". ``engine_s`` and ``torch_s`` are
    the timed repetitions in seconds (empty when ``autotuned`` is False: convert(autotune=False)
    forces the engine)."""

    signature: tuple
    path: str
    autotuned: bool
    engine_s: list = field(default_factory=list)
    torch_s: list = field(default_factory=list)

    @property
    def engine_median_s(self) -> Optional[float]:
        return statistics.median(self.engine_s) if self.engine_s else None

    @property
    def torch_median_s(self) -> Optional[float]:
        return statistics.median(self.torch_s) if self.torch_s else None

    @property
    def engine_over_torch(self) -> Optional[float]:
        """Median over the paired rounds of engine time / PyTorch time (below 1: engine)."""
        if not self.engine_s:
            return None
        return statistics.median(e / t for e, t in zip(self.engine_s, self.torch_s))

    @property
    def engine_wins_clearly(self) -> bool:
        """The engine was faster in at least three of every four paired rounds. A near tie
        keeps PyTorch's kernel: choosing the engine wrongly would slow the model down."""
        wins = sum(e < t for e, t in zip(self.engine_s, self.torch_s))
        return bool(self.engine_s) and 4 * wins >= 3 * len(self.engine_s)


def _signature(input, weight, bias) -> tuple:
    grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (input, weight, bias))
    return (tuple(input.shape), tuple(input.stride()), input.dtype, grad)


def _tracing(input: torch.Tensor) -> bool:
    """Under torch.compile or torch.export, or on fake tensors: nothing real to time."""
    exporting = getattr(torch.compiler, "is_exporting", lambda: False)
    return torch.compiler.is_compiling() or exporting() or type(input) is not torch.Tensor


def _measure(paths, input, weight, bias, grad: bool, repeats: int) -> list[list[float]]:
    """Seconds per round of each path on these tensors: one warm-up each, then ``repeats``
    rounds, the paths interleaved. The last path is PyTorch's own; its forward also stands in
    for the PyTorch ops around the layer in a model: each round runs it untimed first (so
    PyTorch's threads are awake, as after a batch norm) and timed after the path, since the
    engine leaves PyTorch's workers to fall asleep and the next PyTorch op pays to wake them
    (on a loaded machine, a scheduler wait). With ``grad``, each call is forward plus backward
    on detached copies of the leaves, so the model's own autograd graph is left alone."""
    neighbour = paths[-1]

    def leaves():
        return [None if t is None else t.detach().requires_grad_(t.requires_grad) for t in (input, weight, bias)]

    def call(path):
        if grad:
            with torch.enable_grad():
                y = path(*leaves())
                y.backward(torch.ones_like(y))
        else:
            path(input, weight, bias)

    times = [[] for _ in paths]
    with torch.no_grad():
        for path in paths:
            call(path)
        for _ in range(repeats):
            for path, spent in zip(paths, times):
                neighbour(input, weight, bias)
                start = time.perf_counter()
                call(path)
                neighbour(input, weight, bias)
                spent.append(time.perf_counter() - start)
    return times


class Conv2d(nn.Conv2d):
    """An ``nn.Conv2d`` whose CPU float32 forward and backward run on the engine or on
    PyTorch's own kernel, whichever it measured faster for the input's signature (or always
    on the engine when ``convert(autotune=False)``); other devices and dtypes run PyTorch's.
    ``convert`` turns modules into these; ``choices`` reports what each one chose."""

    _ipx_autotune = True

    def _engine_forward(self, input, weight, bias):
        # nn.Conv2d keeps (left, right, top, bottom), also for padding="same"
        left, right, top, bottom = self._reversed_padding_repeated_twice
        if self.padding_mode != "zeros":
            input = nn.functional.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            left = right = top = bottom = 0
        return torch.ops.ipuexplore.conv2d(input, weight, bias, list(self.stride), [top, bottom, left, right],
                                           list(self.dilation), self.groups)

    def _torch_forward(self, input, weight, bias):
        return super()._conv_forward(input, weight, bias)

    def _choice(self, input, weight, bias) -> Choice:
        """The cached choice for this input's signature, measured on its first call."""
        table = self.__dict__.setdefault("_ipx_choices", {})
        signature = _signature(input, weight, bias)
        choice = table.get(signature)
        if choice is None:
            if not self._ipx_autotune:
                choice = Choice(signature, "engine", autotuned=False)
            else:
                engine_s, torch_s = _measure((self._engine_forward, self._torch_forward), input, weight, bias,
                                             signature[3], _TUNE_REPEATS)
                choice = Choice(signature, "torch", autotuned=True, engine_s=engine_s, torch_s=torch_s)
                if choice.engine_wins_clearly:
                    choice.path = "engine"
            table[signature] = choice
        return choice

    def _conv_forward(self, input, weight, bias):
        if input.device.type != "cpu" or input.dtype != torch.float32 or input.dim() != 4:
            return super()._conv_forward(input, weight, bias)
        if _tracing(input):  # a graph holds no timing code: a choice made before, else the engine
            choice = self.__dict__.get("_ipx_choices", {}).get(_signature(input, weight, bias))
        else:
            choice = self._choice(input, weight, bias)
        if choice is not None and choice.path == "torch":
            return self._torch_forward(input, weight, bias)
        return self._engine_forward(input, weight, bias)


def convert(model: nn.Module, *, groups_only: bool = False, autotune: bool = True) -> nn.Module:
    """``model`` with its ``nn.Conv2d`` modules (only the grouped and depthwise ones when
    ``groups_only``) converted to ``ipuexplore.torch.Conv2d``, changed in place and returned.
    The modules keep their identity, parameters (shared, not copied), buffers, hooks and
    state_dict keys; an optimizer built before the call still trains them.

    With ``autotune`` (the default) each converted layer times the engine against PyTorch's
    kernel on the first call with each input signature (shape, memory format, dtype, grad
    mode: one warm-up and ``_TUNE_REPEATS`` interleaved rounds; the engine when it wins three
    of every four rounds) and runs the faster from then on, so a layer keeps PyTorch's kernel unless
    the engine measured faster.
    ``autotune=False`` runs the engine in every converted layer. ``choices(model)`` shows
    what each layer chose and the times behind it."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"convert: model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(autotune, bool):
        raise TypeError(f"convert: autotune must be a bool, got {type(autotune).__name__}")
    for module in model.modules():
        if type(module) is nn.Conv2d and (module.groups > 1 or not groups_only):
            module.__class__ = Conv2d
        if isinstance(module, Conv2d):
            module._ipx_autotune = autotune
            module.__dict__.pop("_ipx_choices", None)  # decided afresh under the new setting
    return model


def choices(model: nn.Module) -> dict[str, list[Choice]]:
    """Every converted layer of ``model`` by its qualified name (as ``named_modules`` gives
    it), with one ``Choice`` per input signature it has run (none yet: an empty list)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"choices: model must be a torch.nn.Module, got {type(model).__name__}")
    return {name: list(module.__dict__.get("_ipx_choices", {}).values())
            for name, module in model.named_modules() if isinstance(module, Conv2d)}
