"""Benchmark fixtures and the machine facts pytest-benchmark stores once per run (machine_info),
not in every case: the engine's ISA and version, the worker count, torch's version and its
threads, and the host's FP32 FMA peak and STREAM-triad bandwidth measured on the same pool."""

from __future__ import annotations

import pytest


def bench_workers(config) -> int:
    from ipuexplore.engine import cpu_count

    return config.getoption("bench_workers") or min(cpu_count(), 2)


@pytest.fixture(scope="session")
def workers(pytestconfig) -> int:
    return bench_workers(pytestconfig)


def pytest_benchmark_update_machine_info(config, machine_info):
    import ipuexplore
    from ipuexplore.engine import Conv2d, Pool, host_peaks

    import numpy as np

    n = bench_workers(config)
    probe = Conv2d(np.ones((8, 8, 3, 3), np.float32), None, (1, 8, 8, 8), padding=1)
    with Pool(n) as pool:
        peaks = host_peaks(pool)  # cached when the run already measured it on n workers
    info = {
        "version": ipuexplore.__version__,
        "isa": probe.info["isa"],
        "workers": n,
        "peak_gflop_s": peaks.peak_flop_s / 1e9,
        "mem_bw_gb_s": peaks.mem_bw_b_s / 1e9,
        "tile_bw_gb_s": peaks.tile_bw_b_s / 1e9,
    }
    probe.close()
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        machine_info["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads(),
                                 "mkldnn": torch.backends.mkldnn.is_available()}
    machine_info["ipuexplore_engine"] = info
