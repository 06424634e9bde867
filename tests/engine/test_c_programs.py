"""The standalone C build: `make` builds both libraries, the example and the C tests, and
`make test` runs them (tests both the AVX2 and the forced-portable kernels). The build is
conftest's `csrc_built` (-O0: see there)."""

import subprocess

import ipuexplore


def test_make_builds_static_and_shared_libraries(csrc_built):
    assert (csrc_built / "out" / "libipx.a").exists()
    assert (csrc_built / "out" / "libipx.so").exists()


def test_make_test_runs_c_tests_and_example(csrc_built):
    proc = subprocess.run(["make", "-C", str(csrc_built), "test", "CFLAGS=-O0"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("test_conv: all passed") == 2
    assert "y[interior]=9" in proc.stdout


def test_example_compiles_against_installed_header(csrc_built, tmp_path):
    # An embedder's view: only get_include() and the static library.
    exe = tmp_path / "example"
    cmd = ["cc", "-std=c11", "-I", ipuexplore.get_include(), str(csrc_built / "examples" / "example.c"),
           str(csrc_built / "out" / "libipx.a"), "-pthread", "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert subprocess.run([str(exe)], capture_output=True).returncode == 0
