"""Running the explored layer on the host engine: sizing and reading the stats (no textual).

The live panel re-runs the layer continuously, so one run must stay short: the layer runs as
the view shows it unless the host model (the `host` chip spec) says one run would take longer
than RUN_BUDGET_S; then `live_layer` shrinks it (batch first, then spatial size, then whole
groups, which keeps the channels per group the panel is about) and says what it changed. In training mode one measured run is the
forward pass and both backward passes (data, weights), as the models cost a training step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ipuexplore.layers import Layer

ALGORITHMS = ("direct", "gemm")
RUN_BUDGET_S = 0.1  # one live run, as the host model times it: a few readings a second
BYTE_BUDGET = 256 * 2**20  # input + output + weights in fp32 (kept allocated while live)


@dataclass(frozen=True)
class LiveShape:
    layer: Layer
    batch: int
    note: str  # "" when the layer runs as set


def model_time(layer: Layer, batch: int, train: bool) -> float:
    """Seconds for one run on this machine as the host model estimates it (fp32)."""
    from ipuexplore.hardware import load_chip
    from ipuexplore.models import estimate

    return estimate(load_chip("host"), layer, batch=batch, dtype="fp32", train=train).time_s


def live_layer(layer: Layer, batch: int, train: bool = False) -> LiveShape:
    """The layer (and batch) the live panel runs: as given unless one run would take longer
    than RUN_BUDGET_S (or hold more than BYTE_BUDGET); then the largest batch that fits,
    then a smaller size, then fewer groups."""
    changed: list[str] = []
    run_batch, run = batch, layer

    def over(lyr: Layer, b: int) -> bool:
        return model_time(lyr, b, train) > RUN_BUDGET_S or lyr.min_bytes("fp32", b) > BYTE_BUDGET

    while over(run, run_batch) and run_batch > 1:
        run_batch //= 2
    if run_batch != batch:
        changed.append(f"batch {batch}→{run_batch}")
    size = run.h
    min_size = max(7, run.r)
    while over(run, run_batch) and size > min_size:
        size = max(min_size, size // 2)
        run = run.with_(h=size, w=size, name=layer.name)
    if size != layer.h:
        changed.append(f"size {layer.h}→{size}")
    cpg_in, cpg_out = layer.c // layer.g, layer.k // layer.g
    groups = run.g
    while over(run, run_batch) and groups > 1:
        groups = max(1, groups // 2)
        run = run.with_(c=cpg_in * groups, k=cpg_out * groups, g=groups)
    if groups != layer.g:
        changed.append(f"groups {layer.g}→{groups}")
    note = ("shrunk to run in under 0.1 s: " + ", ".join(changed)) if changed else ""
    if over(run, run_batch):
        note = (note + "; " if note else "") + "still large: runs are slow"
    return LiveShape(run, run_batch, note)


@dataclass(frozen=True)
class Measurement:
    """One engine run, summarised for the panel (fp32, as the engine computes)."""

    algorithm: str
    gflop_s: float
    gb_s: float
    img_s: float
    wall_s: float
    compute: np.ndarray = field(repr=False)  # per-worker share of its time, 0..1
    exchange: np.ndarray = field(repr=False)
    wait: np.ndarray = field(repr=False)
    kernel: str = ""  # the engine's kernel for this layer (row, channel, gemm)
    supersteps: int = 0


def shares(compute_ns, exchange_ns, wait_ns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-worker fractions of (compute, exchange, wait); an idle worker counts as waiting."""
    c = np.asarray(compute_ns, dtype=float)
    x = np.asarray(exchange_ns, dtype=float)
    w = np.asarray(wait_ns, dtype=float)
    total = c + x + w
    idle = total <= 0
    safe = np.where(idle, 1.0, total)
    return (np.where(idle, 0.0, c / safe), np.where(idle, 0.0, x / safe), np.where(idle, 1.0, w / safe))


def summarise(stats, algorithm: str, batch: int) -> Measurement:
    """A Measurement from an engine RunStats (see docs/CONTRACTS.md)."""
    wall = float(stats.wall_s)
    c, x, w = shares(stats.compute_ns, stats.exchange_ns, stats.wait_ns)
    img_s = batch / wall if wall > 0 else math.nan
    return Measurement(
        algorithm, float(stats.gflop_s), float(stats.gb_s), img_s, wall, c, x, w,
        kernel=str(stats.kernel), supersteps=int(stats.total_supersteps),
    )


def make_input(shape: LiveShape, seed: int = 0) -> np.ndarray:
    """Random fp32 input for the live layer (values do not affect the timing)."""
    lyr = shape.layer
    return np.random.default_rng(seed).standard_normal((shape.batch, lyr.c, lyr.h, lyr.w), dtype=np.float32)


class LiveOp:
    """The live layer on the engine: a Conv2d (weights packed once) with its operands and
    output buffers, so every run reuses the same memory. `run()` is one measurement: the
    forward pass, plus backward data and weights when training, after one untimed forward
    that wakes the pool; it returns the measured passes' RunStats combined."""

    def __init__(self, engine, shape: LiveShape, pool, algorithm: str, train: bool = False):
        lyr = shape.layer
        self.x = make_input(shape)
        self.conv = engine.Conv2d.from_layer(lyr, shape.batch, pool=pool, algorithm=algorithm, backward=train)
        need = self.conv.info.get("min_tile_bytes", 0)
        if need > pool.tile_bytes:
            self.conv.close()
            raise ValueError(
                f"needs {need / 1024:.0f} KiB of tile memory per worker, the pool has "
                f"{pool.tile_bytes / 1024:.0f} KiB"
            )
        self._combine = engine.RunStats.combine
        self.y = np.empty(self.conv.output_shape, np.float32)
        self.train = train
        if train:
            self.dy = np.random.default_rng(1).standard_normal(self.y.shape, dtype=np.float32)
            self.gi = np.empty_like(self.x)
            self.gw, self.gb = np.empty(self.conv.weight_shape, np.float32), np.empty(lyr.k, np.float32)

    def run(self):
        # An untimed forward first: the panel runs a few times a second, so the pool's workers
        # have gone to sleep since the last round, and a run that starts by waking them measured
        # half the engine's speed (65 vs 142 GFLOP/s on the default layer, workers waiting 56%).
        self.conv.run(self.x, self.y)
        self.conv.run(self.x, self.y)
        if not self.train:
            return self.conv.stats
        fwd = self.conv.stats
        self.conv.backward_data(self.dy, self.gi)
        data = self.conv.stats
        self.conv.backward_weights(self.dy, self.x, (self.gw, self.gb))
        return self._combine(fwd, data, self.conv.stats)

    def close(self) -> None:
        self.conv.close()

