"""Analysing the biggest network on every chip must stay interactive: under 100 ms."""

import time

import pytest

from ipuexplore.hardware import list_chips
from ipuexplore.networks import analyse, build

BUDGET_S = 0.100


@pytest.mark.benchmark(group="network-analysis")
def test_analyse_efficientnet_b7_on_all_chips(benchmark):
    network = build("efficientnet_b7")
    chips = list_chips()
    analyse(network, chips, batch=8)  # load the chip specs once, as a session would
    result = benchmark(analyse, network, chips, batch=8, dtype="fp16", train=False)
    assert len(result.rows) == len(network.layers) == 539
    assert set(result.totals) == set(chips)
    benchmark.extra_info.update(layers=len(network.layers), chips=len(chips))
    if benchmark.stats is not None:  # timed run (--benchmark-enable)
        best = benchmark.stats.stats.min
    else:  # default run: the benchmark ran once untimed; time the best of a few here, in CPU
        # time, so that other jobs on a shared CI machine do not fail the budget
        best = min(_cpu_timed(analyse, network, chips, batch=8) for _ in range(5))
    assert best < BUDGET_S, f"analysing efficientnet_b7 on {len(chips)} chips took {best * 1e3:.1f} ms"


def _cpu_timed(fn, *args, **kwargs) -> float:
    start = time.process_time()
    fn(*args, **kwargs)
    return time.process_time() - start
