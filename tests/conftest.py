"""Options shared by the whole suite (pytest reads options only from the rootmost conftest)."""


def pytest_addoption(parser):
    group = parser.getgroup("benchmark")
    group.addoption("--bench-workers", type=int, default=None, metavar="N",
                    help="engine workers and torch threads in the benchmarks (default: min(CPUs, 2))")
