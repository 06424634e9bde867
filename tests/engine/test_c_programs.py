"""The standalone C build: `make` builds both libraries, the example and the C tests, and
`make test` runs them (tests both the AVX2 and the forced-portable kernels)."""

import shutil
import subprocess
from pathlib import Path

import pytest

import ipuexplore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("make or cc not available")
    dest = tmp_path_factory.mktemp("csrc") / "csrc"
    shutil.copytree(ROOT / "csrc", dest, ignore=shutil.ignore_patterns("out", "*.o"))
    proc = subprocess.run(["make", "-j2", "-C", str(dest)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest


def test_make_builds_static_and_shared_libraries(built):
    assert (built / "out" / "libipx.a").exists()
    assert (built / "out" / "libipx.so").exists()


def test_make_test_runs_c_tests_and_example(built):
    proc = subprocess.run(["make", "-C", str(built), "test"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("test_conv: all passed") == 2
    assert "y[interior]=9" in proc.stdout


def test_example_compiles_against_installed_header(built, tmp_path):
    # An embedder's view: only get_include() and the static library.
    exe = tmp_path / "example"
    cmd = ["cc", "-std=c11", "-I", ipuexplore.get_include(), str(built / "examples" / "example.c"),
           str(built / "out" / "libipx.a"), "-pthread", "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert subprocess.run([str(exe)], capture_output=True).returncode == 0
