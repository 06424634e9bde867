"""Fixtures shared by the engine tests."""

import shutil
import subprocess
from pathlib import Path

import pytest

from ipuexplore.engine import Pool


@pytest.fixture(scope="module")
def pools():
    """One pool per worker count the randomized tests draw (1 to 3), reused across examples."""
    ps = {wk: Pool(wk) for wk in (1, 2, 3)}
    yield ps
    for p in ps.values():
        p.close()


@pytest.fixture(scope="session")
def csrc_built(tmp_path_factory) -> Path:
    """A copy of csrc/ built by its Makefile (`make`: both libraries, the example, test_conv),
    for the tests of the standalone build and of `make install`. At -O0: those tests check how
    the library builds, installs and links, and its C tests' logic, not its speed; the optimised
    build of the same sources with the same flags is the package's own (build.py, -O3), which
    every other test runs. (-O3 took 86 s of the suite on 2 cores, -O0 17 s.)"""
    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("make or cc not available")
    dest = tmp_path_factory.mktemp("csrc") / "csrc"
    shutil.copytree(Path(__file__).resolve().parents[2] / "csrc", dest, ignore=shutil.ignore_patterns("out", "*.o"))
    proc = subprocess.run(["make", "-s", "-j2", "-C", str(dest), "CFLAGS=-O0"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest
