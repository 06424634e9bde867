"""The C core under sanitizers and the fuzzer, from pytest so that CI runs them.

- ``make -C csrc asan``: C tests, hardening tests (10,000 create/run/destroy cycles under
  LeakSanitizer, hostile sizes, NaN/Inf, threads, cancel) and every saved fuzz input, built
  with AddressSanitizer + UndefinedBehaviorSanitizer; any report fails. Where LeakSanitizer
  cannot run, the cycles are leak-checked under valgrind (``make leaks-valgrind``) instead.
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


LEAK = "#include <stdlib.h>\nvoid* volatile keep;\nint main(void){keep = malloc(99); keep = 0; return 0;}\n"


def _lsan_broken(cc: str, tmp: Path) -> str | None:
    """None if LeakSanitizer reports a planted leak here, else why not (it must stop threads,
    which some containers forbid: it then dies with a fatal error instead)."""
    src, exe = tmp / "leak.c", tmp / "leak"
    src.write_text(LEAK)
    subprocess.run([cc, "-fsanitize=address", "-g", str(src), "-o", str(exe)], check=True, capture_output=True)
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1"))
    if "detected memory leaks" in run.stderr:
        return None
    return run.stderr.strip().splitlines()[-1] if run.stderr.strip() else f"exit status {run.returncode}"


def test_asan_ubsan_lsan(csrc_copy, tmp_path):
    cc = os.environ.get("CC", "cc")
    why = _probe(cc, ["-fsanitize=address,undefined"], tmp_path)
    if why:
        pytest.skip(f"AddressSanitizer/UBSan unavailable ({why}); install libasan/libubsan")
    lsan_broken = _lsan_broken(cc, tmp_path)
    proc = _make(csrc_copy, "asan", timeout=600, **({"ASAN_LEAKS": 0} if lsan_broken else {}))
    assert proc.returncode == 0, _tail(proc)
    out = proc.stdout
    assert out.count("test_conv: all passed") == 2
    assert "test_hardening: all passed (10000 create/run/destroy cycles" in out
    assert "replay:" in out and " 0 input(s) ran" not in out
    if lsan_broken:  # the same 10,000 cycles, leak-checked by valgrind instead
        if shutil.which("valgrind") is None:
            pytest.skip(f"LeakSanitizer does not work here ({lsan_broken}) and valgrind is missing: "
                        "ASan/UBSan passed, leaks unchecked")
        vg = _make(csrc_copy, "leaks-valgrind", timeout=600)
        assert vg.returncode == 0, _tail(vg)
        assert "test_hardening: all passed (10000 create/run/destroy cycles" in vg.stdout


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
