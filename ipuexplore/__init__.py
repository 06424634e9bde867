"""ipuexplore: grouped convolutions on IPUs vs GPUs, modelled and measured.

The engine (a compiled C extension) is imported lazily, so the pure-Python parts
(layers, hardware specs, models, networks) work even before it is built.
"""

__version__ = "0.1.0"

# Public names served by ipuexplore.engine; resolved on first use (PEP 562).
_ENGINE_NAMES = (
    "conv2d",
    "conv2d_backward",
    "Conv2d",
    "Pool",
    "RunStats",
    "host_peaks",
    "HostPeaks",
    "reference_conv2d",
    "reference_conv2d_backward",
    "get_include",
    "get_library_dir",
)


def __getattr__(name: str):
    if name in _ENGINE_NAMES:
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'ipuexplore' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_ENGINE_NAMES))
