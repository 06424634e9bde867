"""Options and fixtures shared by the whole suite (pytest reads options only from the rootmost conftest)."""

import pytest
from peers import import_torchvision


def pytest_addoption(parser):
    group = parser.getgroup("benchmark")
    group.addoption("--bench-workers", type=int, default=None, metavar="N",
                    help="engine workers and torch threads in the benchmarks (default: min(CPUs, 2))")


@pytest.fixture(scope="session")
def torchvision():
    """torchvision's models (peers.import_torchvision), or the test is skipped."""
    pytest.importorskip("torch", reason="torch is not installed")
    try:
        return import_torchvision()
    except ImportError as error:
        pytest.skip(str(error))
