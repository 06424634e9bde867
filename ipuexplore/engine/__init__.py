"""Python API of the C convolution engine (csrc/, compiled into ``ipuexplore._ipx``).

numpy float32 arrays in and out, PyTorch's ``conv2d`` names and semantics, an IPU-style
worker ``Pool`` whose per-worker statistics come back as numpy arrays.

Input rules (checked here first, then again by C): arrays are float32 and C-contiguous:
numpy arrays, or anything that shares its memory through DLPack (torch CPU tensors) or the
buffer protocol, used in place; nothing is copied or converted silently. Use
``np.ascontiguousarray(x, dtype=np.float32)`` for float64 data or strided views. ``out``
buffers must be writable, of the exact output shape, and must not overlap the inputs;
results come back as numpy arrays (on ``out``'s memory when it is given).

Pools, as in C: a ``Conv2d`` runs on the pool each call names (``run(x, pool=...)``), else on
the one given at its creation, else on a shared default pool. ``conv2d()`` without a pool
never waits for or refuses because of another thread's use of the shared pool
(``shared_pool``).

Thread-safety: C runs with the GIL released. One ``Pool`` or ``Conv2d`` serves one call at
a time; a second concurrent call on the same object raises ``Busy`` instead of racing.
Different objects may run in parallel. ``Pool.cancel()`` may be called from any thread.

Modules: ``arguments`` and ``geometry`` (checks), ``stats``, ``memory`` (the memory limit),
``pool``, ``shared_pool``, ``conv`` (Conv2d), ``functional`` (conv2d, conv2d_backward),
``conv_cache`` (the convolutions they keep between calls), ``pooling`` (max_pool2d,
avg_pool2d, Pooling2d), ``linear`` (Linear, SqueezeExcite: fully connected layers over
a batch of vectors in one superstep), ``fused`` (Conv2d.run_fused, run_pair and run_block: epilogues, depthwise +
pointwise pairs and expand + depthwise + pointwise blocks in one pass), ``trace`` (a pool's runs as a Chrome trace), ``peaks``, ``reference`` (numpy),
``paths`` (header and library for C programs).
"""

from .conv import Conv2d
from .functional import conv2d, conv2d_backward
from .geometry import conv_output_size
from .linear import Linear, SqueezeExcite
from .memory import get_memory_limit, set_memory_limit
from .paths import get_include, get_library_dir
from .peaks import HostPeaks, host_peaks
from .pool import DEFAULT_TILE_BYTES, Pool, cpu_count
from .pooling import Pooling2d, avg_pool2d, max_pool2d
from .reference import reference_conv2d, reference_conv2d_backward
from .stats import RunStats
from .trace import Trace, trace_layer, write_chrome_trace

__all__ = [
    "conv2d",
    "Conv2d",
    "max_pool2d",
    "avg_pool2d",
    "Pooling2d",
    "Linear",
    "SqueezeExcite",
    "Pool",
    "RunStats",
    "conv_output_size",
    "reference_conv2d",
    "reference_conv2d_backward",
    "conv2d_backward",
    "host_peaks",
    "HostPeaks",
    "get_include",
    "get_library_dir",
    "cpu_count",
    "DEFAULT_TILE_BYTES",
    "set_memory_limit",
    "get_memory_limit",
    "Trace",
    "trace_layer",
    "write_chrome_trace",
]
