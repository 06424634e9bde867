"""Whole networks as lists of the shared `Layer`: builders, analysis, host runs, ONNX import.

``build`` and ``list_networks`` are pure Python; ``analyse`` needs the models, ``run_on_host``
and ``HostSession`` the compiled engine and ``load_onnx`` / ``read_onnx`` the optional ``onnx``
package, so those are imported on first use.
"""

from __future__ import annotations

from .graph import INPUT, Network
from .registry import build, default_res, list_networks

_LAZY = {
    "analyse": "analysis",
    "NetworkAnalysis": "analysis",
    "run_on_host": "host_run",
    "HostRun": "host_run",
    "load_onnx": "onnx_import",
    "read_onnx": "onnx_import",
    "HostSession": "session",
}

__all__ = ["INPUT", "Network", "build", "default_res", "list_networks", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ipuexplore.networks' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
