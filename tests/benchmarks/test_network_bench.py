"""Analysing the biggest network on every chip and system must stay interactive.

The contract is "a network of 539 layers on every chip is still costed in well under a
second". Each target plans a whole inference step and a whole training step (memory plan,
micro-batch, recomputation, pipeline stages, all-reduce), so the budget scales with the
number of targets: BUDGET_PER_TARGET_S is set at about 1.8x the measured cost (~4.4 ms
per target, CPU time, best of 5, on the 2-core development VM: 18 targets in ~78 ms; the
first call in a fresh process, with the layer-cost caches cold, ~320 ms), so that a 2x
slowdown of the planner fails here rather than passing under a loose total.
"""

import time

import pytest

from ipuexplore.hardware import list_chips
from ipuexplore.networks import analyse, build

BUDGET_PER_TARGET_S = 0.008


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
    budget = BUDGET_PER_TARGET_S * len(chips)
    assert best < min(budget, 1.0), (
        f"analysing efficientnet_b7 on {len(chips)} chips took {best * 1e3:.1f} ms (budget {budget * 1e3:.0f} ms)")


def _cpu_timed(fn, *args, **kwargs) -> float:
    start = time.process_time()
    fn(*args, **kwargs)
    return time.process_time() - start
