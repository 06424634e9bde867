"""Options and fixtures shared by the whole suite (pytest reads options only from the rootmost conftest)."""

import os
import sys

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("benchmark")
    group.addoption("--bench-workers", type=int, default=None, metavar="N",
                    help="engine workers and torch threads in the benchmarks (default: min(CPUs, 2))")


@pytest.fixture(scope="session")
def torchvision():
    """torchvision's models; a wheel whose compiled ops do not match this torch still gives its
    pure-Python models through the measuring aid in TORCHVISION_SHIM_DIR (torchvision_models.py)."""
    pytest.importorskip("torch", reason="torch is not installed")
    try:
        import torchvision

        return torchvision
    except Exception:  # noqa: BLE001 - ImportError, or RuntimeError from mismatched compiled ops
        shim = os.environ.get("TORCHVISION_SHIM_DIR", "/work/shared/peers")
        sys.path.insert(0, shim)
        try:
            import torchvision_models  # noqa: F401

            import torchvision

            return torchvision
        except Exception:  # noqa: BLE001
            pytest.skip("torchvision is not importable: pip install --no-deps torchvision pillow")
        finally:
            sys.path.remove(shim)
