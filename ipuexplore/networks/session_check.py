"""Measuring a ``HostSession`` and checking its output against ONNX Runtime (an optional peer)."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import numpy as np

from .session import PHASE_KEYS

if TYPE_CHECKING:
    from .session import HostSession


def time_runs(session: "HostSession", x: np.ndarray, runs: int = 7) -> list[float]:
    """Seconds of ``runs`` timed runs after one untimed warm-up run."""
    session.run(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(x)
        times.append(time.perf_counter() - start)
    return times


def measure(session: "HostSession", runs: int = 5) -> tuple[dict, np.ndarray]:
    """The session's report (``describe()``) with its median time per batch (``wall_s``) and
    ``images_per_s`` over ``runs`` timed runs on seeded random input, and that input; and,
    from its engine steps timed one at a time (``HostSession.phases``, 3 runs), the bytes that
    crossed the tiles per batch and the workers' exchange, compute and wait (``PHASE_KEYS``)."""
    x = np.random.default_rng(0).standard_normal(session.input_shape, dtype=np.float32)
    wall = float(np.median(time_runs(session, x, runs=runs)))
    phases = session.phases(x, runs=3).values()
    totals = {key: sum(p[key] for p in phases) for key in PHASE_KEYS}
    return {**session.describe(), "wall_s": wall, "images_per_s": session.batch / wall, **totals}, x


def busy_shares(report: dict) -> dict[str, float]:
    """The fractions of the workers' busy time (exchange + compute + wait) in a ``measure``
    report's exchange, compute and wait (zeros when the engine steps took no time)."""
    phases = ("exchange_s", "compute_s", "wait_s")
    busy = sum(report[key] for key in phases)
    return {key: report[key] / busy if busy > 0 else 0.0 for key in phases}


def onnxruntime_output(path: str | os.PathLike, x: np.ndarray, threads: int | None = None) -> np.ndarray:
    """ONNX Runtime's output for ``x`` (CPU provider); ValueError when it is not installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ValueError("checking against ONNX Runtime needs the 'onnxruntime' package: "
                         "pip install 'ipuexplore[ort]' (or onnxruntime)") from None
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def max_relative_difference(y: np.ndarray, reference: np.ndarray) -> float:
    """Largest |y - reference| relative to the reference's largest magnitude (the largest logit)."""
    if y.shape != reference.shape:
        y = y.reshape(reference.shape)
    scale = float(np.abs(reference).max())
    return float(np.abs(y.astype(np.float64) - reference).max() / (scale if scale > 0 else 1.0))
