"""Engine speed race: three 3x3 layer shapes at 1..64 channels per group and dense,
forward and backward, for the engine's direct kernels, its GEMM lowering, the numpy
reference, and PyTorch in NCHW and channels_last, grouped so that each shape, group size and
pass compares side by side. GFLOP/s (2 x MACs), GB/s (compulsory bytes) and % of the host
peak (measured on the engine's pool) go into extra_info.

Timed run (the README's command; see "Benchmarks" there):

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295 \\
      pytest tests/benchmarks/test_conv_bench.py --benchmark-enable --benchmark-only \\
      --benchmark-min-rounds=15 --benchmark-json=bench.json
    python tests/benchmarks/test_conv_bench.py bench.json [more.json ...]  # markdown table (medians over runs)

Rounds per case: ``--benchmark-min-rounds`` (each case runs exactly that many, after one
warm-up round; the numpy reference runs once); engine workers and torch threads:
``--bench-workers`` (tests/conftest.py). Case ids select with -k: ``-k "shapeA and cpg4 and
fwd"``. Machine facts (ISA, peaks, versions) are in the JSON's machine_info (conftest.py).

In the default test run (--benchmark-disable) every case runs once as a test; the numpy
reference is skipped on shape C there (seconds per call, nothing to check).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pytest

from ipuexplore.engine import Conv2d, Pool, host_peaks, reference_conv2d, reference_conv2d_backward

# name: (n, c = k, h = w); all 3x3, stride 1, pad 1
SHAPES = {"A": (8, 256, 14), "B": (8, 128, 28), "C": (32, 64, 56)}
CPG = [1, 2, 4, 8, 16, 32, 64, "dense"]
PASSES = ["fwd", "bwd"]
IMPLS = ["direct", "gemm", "numpy", "torch_nchw", "torch_cl"]
IDLE_S = 0.05  # pause before each timed case (see test_conv)


def _dims(shape, cpg):
    n, c, hw = SHAPES[shape]
    g = 1 if cpg == "dense" else c // cpg
    return n, c, hw, g


def _flops(shape, cpg, pas):
    n, c, hw, g = _dims(shape, cpg)
    fwd = 2 * n * c * hw * hw * (c // g) * 9
    return fwd if pas == "fwd" else 2 * fwd  # backward: data + weights


def _min_bytes(shape, cpg, pas):
    n, c, hw, g = _dims(shape, cpg)
    act, wts = 4 * n * c * hw * hw, 4 * c * (c // g) * 9
    # fwd: read x and w, write y; bwd: read dy, x, w, write dx and dw
    return 2 * act + wts if pas == "fwd" else 3 * act + 2 * wts


@pytest.fixture(scope="module")
def pool(workers):
    with Pool(workers) as p:
        yield p


@pytest.fixture(scope="module")
def torch_mod(workers):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(workers)
    return torch


_data_cache: dict = {}


def _data(shape, cpg):
    key = (shape, cpg)
    if key not in _data_cache:
        _data_cache.clear()  # one layer's arrays at a time (shape C dense is ~100 MB)
        n, c, hw, g = _dims(shape, cpg)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, c, hw, hw), dtype=np.float32)
        w = (rng.standard_normal((c, c // g, 3, 3), dtype=np.float32) / np.sqrt(9 * c // g)).astype(np.float32)
        dy = rng.standard_normal((n, c, hw, hw), dtype=np.float32)
        _data_cache[key] = (x, w, dy, g)
    return _data_cache[key]


def _engine_fn(pool, algorithm, pas, x, w, dy, g):
    conv = Conv2d(w, None, x.shape, 1, 1, 1, g, pool=pool, algorithm=algorithm, backward=pas == "bwd")
    if pas == "fwd":
        y = np.empty(conv.output_shape, np.float32)
        return conv, lambda: conv.run(x, y)
    gi, gw, gb = np.empty_like(x), np.empty_like(w), np.empty(w.shape[0], np.float32)

    def bwd():
        conv.backward_data(dy, gi)
        conv.backward_weights(dy, x, (gw, gb))

    return conv, bwd


def _torch_fn(torch, layout, pas, x, w, dy, g):
    fmt = torch.channels_last if layout == "cl" else torch.contiguous_format
    xt = torch.from_numpy(x).contiguous(memory_format=fmt)
    wt = torch.from_numpy(w).contiguous(memory_format=fmt)
    dyt = torch.from_numpy(dy).contiguous(memory_format=fmt)
    if pas == "fwd":
        def fwd():
            with torch.no_grad():
                return torch.nn.functional.conv2d(xt, wt, None, 1, 1, 1, g)
        return fwd

    def bwd():  # the aten op autograd calls, without building a graph
        return torch.ops.aten.convolution_backward(dyt, xt, wt, [0], [1, 1], [1, 1], [1, 1], False,
                                                   [0, 0], g, [True, True, False])
    return bwd


def _numpy_fn(pas, x, w, dy, g):
    if pas == "fwd":
        return lambda: reference_conv2d(x, w, None, 1, 1, 1, g, dtype=np.float32)
    return lambda: reference_conv2d_backward(dy, x, w, 1, 1, 1, g, dtype=np.float32)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("pas", PASSES)
@pytest.mark.parametrize("cpg", CPG, ids=[f"cpg{v}" for v in CPG])
@pytest.mark.parametrize("shape", sorted(SHAPES), ids=[f"shape{v}" for v in sorted(SHAPES)])
def test_conv(benchmark, pool, workers, shape, cpg, pas, impl, request):
    opt = request.config.getoption
    timed = not (opt("benchmark_disable", False) and not opt("benchmark_enable", False))
    if impl == "numpy" and shape == "C" and not timed:
        pytest.skip("numpy reference on shape C only in timed runs (seconds per call)")
    x, w, dy, g = _data(shape, cpg)
    benchmark.group = f"{shape} cpg={cpg} {pas}"
    conv = None
    if impl in ("direct", "gemm"):
        conv, fn = _engine_fn(pool, impl, pas, x, w, dy, g)
    elif impl == "numpy":
        fn = _numpy_fn(pas, x, w, dy, g)
    else:
        torch = request.getfixturevalue("torch_mod")
        fn = _torch_fn(torch, impl.split("_")[1], pas, x, w, dy, g)
    # The slow peers get fewer rounds; a warm-up round settles caches and malloc state.
    rounds = 1 if impl == "numpy" else opt("benchmark_min_rounds")
    if timed:
        # Let the previous case's threads go idle first: PyTorch's OpenMP workers spin for
        # milliseconds after a call (the engine's pool up to 3 ms), and a 0.1 ms case whose
        # rounds all fall in that window measures the spinning, not the kernel (seen: A
        # depthwise backward 5x slower right after torch_cl than on its own).
        time.sleep(IDLE_S)
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1 if impl != "numpy" else 0)

    flops, min_bytes = _flops(shape, cpg, pas), _min_bytes(shape, cpg, pas)
    info = dict(shape=shape, n=x.shape[0], c=x.shape[1], hw=x.shape[2], groups=g,
                channels_per_group=x.shape[1] // g, pass_=pas, impl=impl, flops=flops,
                min_bytes=min_bytes)
    if conv is not None:
        info.update(kernel=conv.info["kernel"], isa=conv.info["isa"])
        stats = conv.stats
        info.update(exchange_ms=float(stats.exchange_ns.sum()) / 1e6 / workers,
                    compute_ms=float(stats.compute_ns.sum()) / 1e6 / workers,
                    wait_ms=float(stats.wait_ns.sum()) / 1e6 / workers)
        conv.close()
    if benchmark.stats is not None:  # timed run: rates from the median
        median = benchmark.stats.stats.median
        peaks = host_peaks(pool)
        gflop_s = flops / median / 1e9
        roof = peaks.roofline_flop_s(flops / min_bytes) / 1e9
        info.update(median_s=median, gflop_s=gflop_s, gb_s=min_bytes / median / 1e9,
                    pct_peak=100 * gflop_s * 1e9 / peaks.peak_flop_s, roofline_gflop_s=roof,
                    pct_roofline=100 * gflop_s / roof)
    benchmark.extra_info.update(info)


def _ratios(paths: list[str]) -> dict:
    """(shape, c/g, pass) -> median over the runs of each run's direct / best-torch ratio."""
    per_cell: dict = {}
    for path in paths:
        rows: dict = {}
        for b in json.load(open(path))["benchmarks"]:
            e = b["extra_info"]
            rows.setdefault((e["shape"], e["channels_per_group"], e["pass_"]), {})[e["impl"]] = e["gflop_s"]
        for key, r in rows.items():
            torch_best = max((r[i] for i in ("torch_nchw", "torch_cl") if i in r), default=None)
            if "direct" in r and torch_best:
                per_cell.setdefault(key, []).append(r["direct"] / torch_best)
    return {key: float(np.median(v)) for key, v in per_cell.items()}


def _compare(baseline: list[str], current: list[str], max_drop_pct: float) -> tuple[str, bool]:
    """Markdown of the engine / best-torch ratio per case, baseline vs current, and whether
    any fell by more than max_drop_pct percent. The ratio, unlike a time, survives the
    machine getting busier between the two runs (both sides slow down)."""
    before, after = _ratios(baseline), _ratios(current)
    out = ["| shape | c/g | pass | baseline | now | change |", "|---|---|---|---|---|---|"]
    failed = False
    for key in sorted(set(before) & set(after), key=lambda k: (k[0], k[2] != "fwd", str(k[1]))):
        change = 100 * (after[key] / before[key] - 1)
        bad = change < -max_drop_pct
        failed |= bad
        out.append(f"| {key[0]} | {key[1]} | {key[2]} | {before[key]:.2f}x | {after[key]:.2f}x | "
                   f"{change:+.0f}%{' FAIL' if bad else ''} |")
    return "\n".join(out), failed


def _table(paths: list[str]) -> str:
    """Markdown table of one or more --benchmark-json files of this suite: GFLOP/s per
    implementation, one row per shape, group size and pass, and the engine's ratio to the
    faster PyTorch layout. With several runs each cell is the median over the runs, and the
    ratio the median of the runs' own ratios (each run's peers measured minutes apart, under
    the same neighbours), which a shared machine's bursts of load move far less than a
    single run."""
    cells: dict = {}
    peaks, triads, workers = [], [], None
    for path in paths:
        data = json.load(open(path))
        runs = data["benchmarks"]
        rows: dict = {}
        for b in runs:
            e = b["extra_info"]
            rows.setdefault((e["shape"], e["channels_per_group"], e["pass_"]), {})[e["impl"]] = e
        for key, r in rows.items():
            c = cells.setdefault(key, {})
            for impl, e in r.items():
                c.setdefault(impl, []).append(e["gflop_s"])
            best_torch = max((r[i]["gflop_s"] for i in ("torch_nchw", "torch_cl") if i in r), default=None)
            if "direct" in r:
                c.setdefault("pct_peak", []).append(r["direct"]["pct_peak"])
                c.setdefault("pct_roofline", []).append(r["direct"]["pct_roofline"])
                if best_torch:
                    c.setdefault("ratio", []).append(r["direct"]["gflop_s"] / best_torch)
        # machine facts: machine_info (conftest.py); files from before it kept them per case
        facts = data.get("machine_info", {}).get("ipuexplore_engine") or runs[0]["extra_info"]
        peaks.append(facts["peak_gflop_s"])
        triads.append(facts["mem_bw_gb_s"])
        workers = facts["workers"]
    med = lambda c, k: float(np.median(c[k])) if k in c else None  # noqa: E731
    out = ["| shape | c/g | pass | direct | gemm | numpy | torch NCHW | torch CL | direct / best torch | direct % peak | direct % roofline |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(cells, key=lambda k: (k[0], k[2] != "fwd", k[1])):
        c = cells[key]
        cell = lambda impl: f"{med(c, impl):.1f}" if impl in c else "-"  # noqa: E731
        ratio = f"{med(c, 'ratio'):.2f}x" if "ratio" in c else "-"
        pct = lambda k: f"{med(c, k):.0f}%" if k in c else "-"  # noqa: E731
        out.append(f"| {key[0]} | {key[1]} | {key[2]} | {cell('direct')} | {cell('gemm')} | {cell('numpy')} | "
                   f"{cell('torch_nchw')} | {cell('torch_cl')} | {ratio} | {pct('pct_peak')} | {pct('pct_roofline')} |")
    span = lambda v, fmt: (fmt % v[0]) if len(v) == 1 else f"{fmt % min(v)}-{fmt % max(v)}"  # noqa: E731
    out.append("")
    out.append(f"GFLOP/s (2 x MACs) from medians{f', median of {len(paths)} runs' if len(paths) > 1 else ''}; "
               f"{workers} workers / torch threads; host peak {span(peaks, '%.0f')} GFLOP/s, triad "
               f"{span(triads, '%.1f')} GB/s (measured on the pool).")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python tests/benchmarks/test_conv_bench.py",
                                 description="Markdown table of --benchmark-json runs of this suite, or "
                                 "with --baseline the engine/torch ratio against an earlier run.")
    ap.add_argument("runs", nargs="+", metavar="JSON")
    ap.add_argument("--baseline", nargs="+", metavar="JSON", help="earlier runs to compare the ratios with")
    ap.add_argument("--fail-drop", type=float, default=10.0, metavar="PCT",
                    help="with --baseline: exit 1 when a ratio fell by more than PCT percent (default 10)")
    args = ap.parse_args(argv)
    if not args.baseline:
        print(_table(args.runs))
        return 0
    text, failed = _compare(args.baseline, args.runs, args.fail_drop)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
