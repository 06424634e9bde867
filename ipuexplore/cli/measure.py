"""`ipuexplore layer ... --measure`: the layer run on this machine's engine, as benchdnn runs
a primitive: each algorithm (direct, gemm, and winograd on the dense 3x3 stride-1 layers
its kernel takes) warmed up once, then timed REPEATS times; the median run is reported (fp32, the engine's type). With --train one run is the forward pass
and both backward passes. `--peer torch` times PyTorch's conv2d on the same tensors."""

from __future__ import annotations

import statistics
import time

from ipuexplore.layers import Layer

REPEATS = 5
ALGORITHMS = ("direct", "gemm")
WINOGRAD = "winograd"  # measured where the engine runs its Winograd kernel for the layer


def _median_run(run, repeats: int):
    run()  # warm-up: first-touch pages, packed weights
    runs = [run() for _ in range(repeats)]
    return sorted(runs, key=lambda stats: stats.wall_s)[(repeats - 1) // 2]


def measure(layer: Layer, batch: int, *, train: bool = False, workers: int | None = None,
            peer: str | None = None, repeats: int = REPEATS) -> dict:
    """{algorithm: {"time_s", "gflop_s", "gb_s", "kernel", "workers"}} for each engine
    algorithm (and the peer's, when asked)."""
    from ipuexplore import engine
    from ipuexplore.tui.live import LiveOp, LiveShape

    shape = LiveShape(layer, batch, "")
    out = {}
    pool = engine.Pool(workers=workers)
    try:
        for algorithm in (*ALGORITHMS, WINOGRAD):
            try:
                op = LiveOp(engine, shape, pool, algorithm, train)
            except ValueError as exc:
                if "tile memory" not in str(exc):
                    raise
                need = engine.Conv2d.from_layer(layer, batch, algorithm=algorithm, backward=train)
                tile_bytes = need.info["min_tile_bytes"]
                need.close()
                pool.close()
                pool = engine.Pool(workers=workers, tile_bytes=tile_bytes)
                op = LiveOp(engine, shape, pool, algorithm, train)
            if algorithm == WINOGRAD and op.conv.info["kernel"] != WINOGRAD:
                op.close()  # a geometry the kernel does not take: it would run as direct
                continue
            try:
                stats = _median_run(op.run, repeats)
            finally:
                op.close()
            out[algorithm] = {"time_s": float(stats.wall_s), "gflop_s": float(stats.gflop_s),
                              "gb_s": float(stats.gb_s), "kernel": str(stats.kernel), "workers": pool.workers}
        if peer == "torch":
            out["torch"] = _torch(layer, batch, train, pool.workers, repeats)
    except MemoryError as exc:
        raise ValueError(f"--measure at --batch {batch}: {exc}") from None
    finally:
        pool.close()
    return out


def _torch(layer: Layer, batch: int, train: bool, workers: int, repeats: int) -> dict:
    try:
        import torch
    except ImportError:
        raise ValueError("--peer torch: PyTorch is not installed") from None
    torch.set_num_threads(workers)
    x = torch.randn(batch, layer.c, layer.h, layer.w, requires_grad=train)
    w = torch.randn(layer.k, layer.c // layer.g, layer.r, layer.s, requires_grad=train)
    pad = (layer.pad[0], layer.pad[2]) if len(layer.pad) == 4 else tuple(layer.pad)

    def run() -> float:
        start = time.perf_counter()
        y = torch.nn.functional.conv2d(x, w, stride=layer.stride, padding=pad, dilation=layer.dilation, groups=layer.g)
        if train:
            y.backward(torch.ones_like(y))
        return time.perf_counter() - start

    run()
    wall = statistics.median(run() for _ in range(repeats))
    flops = (3 if train else 1) * batch * layer.flops
    nbytes = layer.min_bytes("fp32", batch)
    return {"time_s": wall, "gflop_s": flops / wall / 1e9, "gb_s": nbytes / wall / 1e9,
            "kernel": f"torch {torch.__version__}", "workers": workers}


def table_rows(measured: dict) -> list[tuple]:
    from ipuexplore.formatting import seconds

    return [(f"host {name}", seconds(m["time_s"]), f"{m['gflop_s'] / 1e3:.3f}", f"{m['gb_s']:.1f}", m["kernel"])
            for name, m in measured.items()]

