"""The C core under sanitizers and the fuzzer, from pytest so that CI runs them.

- ``make -C csrc asan``: C tests, hardening tests (10,000 create/run/destroy cycles under
  LeakSanitizer, hostile sizes, NaN/Inf, threads, cancel) and every saved fuzz input, built
  with AddressSanitizer + UndefinedBehaviorSanitizer; any report fails.
- ``make -C csrc tsan``: the same C tests and the pool/thread tests under ThreadSanitizer.
- ``make -C csrc fuzz``: a short libFuzzer run (clang only; IPX_FUZZ_SECONDS, default 10 here,
  60 for the documented command). The short run builds the fuzzer at -O0 (FUZZ_OPT), four
  times faster to compile under UBSan; IPX_HARDENING_THOROUGH=1 builds it at -O1 as
  `make fuzz` does and fuzzes for 60 s.

Each builds in a private copy of csrc/ (the engine's own out/ is never touched) and is
skipped, with the reason, when the compiler or its sanitizer runtime is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"


def _probe(compiler: str, flags: list[str], tmp: Path, source: str = "int main(void){return 0;}") -> str | None:
    """None if `compiler flags` builds and runs a trivial program, else why not."""
    if shutil.which(compiler) is None:
        return f"{compiler} not found"
    src = tmp / "probe.c"
    exe = tmp / "probe"
    src.write_text(source)
    proc = subprocess.run([compiler, *flags, str(src), "-o", str(exe)], capture_output=True, text=True)
    if proc.returncode != 0:
        return f"{compiler} {' '.join(flags)} does not link: {proc.stderr.strip().splitlines()[-1:]}"
    run = subprocess.run([str(exe), "-runs=0"] if "fuzzer" in " ".join(flags) else [str(exe)],
                         capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        return f"a {' '.join(flags)} program does not run here: {run.stderr.strip()[-200:]}"
    return None


@pytest.fixture(scope="module")
def csrc_copy(tmp_path_factory) -> Path:
    if shutil.which("make") is None:
        pytest.skip("make not available")
    dest = tmp_path_factory.mktemp("sanitizers") / "csrc"
    shutil.copytree(CSRC, dest, ignore=shutil.ignore_patterns("out", "*.o"))
    return dest


def _make(csrc: Path, target: str, timeout: int, **env) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **{k: str(v) for k, v in env.items()})
    return subprocess.run(["make", "-j2", "-C", str(csrc), target], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def _tail(proc: subprocess.CompletedProcess) -> str:
    return (proc.stdout + proc.stderr)[-6000:]


def test_asan_ubsan_lsan(csrc_copy, tmp_path):
    cc = os.environ.get("CC", "cc")
    why = _probe(cc, ["-fsanitize=address,undefined"], tmp_path)
    if why:
        pytest.skip(f"AddressSanitizer/UBSan unavailable ({why}); install libasan/libubsan")
    proc = _make(csrc_copy, "asan", timeout=600)
    assert proc.returncode == 0, _tail(proc)
    out = proc.stdout
    assert out.count("test_conv: all passed") == 2
    assert "test_hardening: all passed (10000 create/run/destroy cycles" in out
    assert "replay:" in out and " 0 input(s) ran" not in out


def test_tsan(csrc_copy, tmp_path):
    cc = os.environ.get("CC", "cc")
    why = _probe(cc, ["-fsanitize=thread", "-pthread"], tmp_path)
    if why:
        pytest.skip(f"ThreadSanitizer unavailable ({why}); install libtsan")
    proc = _make(csrc_copy, "tsan", timeout=600)
    assert proc.returncode == 0, _tail(proc)
    assert "WARNING: ThreadSanitizer" not in proc.stdout + proc.stderr
    assert "test_hardening: all passed" in proc.stdout


def test_libfuzzer_short_run(csrc_copy, tmp_path):
    why = _probe("clang", ["-fsanitize=fuzzer"], tmp_path,
                 "#include <stdint.h>\n#include <stddef.h>\n"
                 "int LLVMFuzzerTestOneInput(const uint8_t* d, size_t n){return 0;}")
    if why:
        pytest.skip(f"libFuzzer unavailable ({why}); apt-get install clang libclang-rt-14-dev "
                    "(the saved fuzz inputs still run in test_asan_ubsan_lsan)")
    thorough = os.environ.get("IPX_HARDENING_THOROUGH") == "1"
    seconds = int(os.environ.get("IPX_FUZZ_SECONDS", "60" if thorough else "10"))
    # -O0: the same checks, compiled in a quarter of the time (the build dominated this test).
    env = {"FUZZ_SECONDS": seconds, "FUZZ_OPT": "-O1" if thorough else "-O0"}
    if (csrc_copy / "out" / "asan" / "fuzz_replay").exists():  # skip an -O3 build of the library
        env["FUZZ_UNPACK"] = "out/asan/fuzz_replay"
    proc = _make(csrc_copy, "fuzz", timeout=seconds + 300, **env)
    crashes = sorted((csrc_copy / "out" / "fuzz").glob("crash-*"))
    assert proc.returncode == 0 and not crashes, (
        f"fuzzer found a failing input {crashes[:1]}: add it to csrc/fuzz/regressions\n" + _tail(proc))
    assert "stat::number_of_executed_units" in proc.stderr
