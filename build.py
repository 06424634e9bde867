"""cffi builder (API mode) for ipuexplore._ipx: compiles the C engine in csrc/.

Run by setuptools through setup.py's ``cffi_modules``; ``python build.py`` builds in place.
(Build wheels with ``pip wheel .``: this root ``build.py`` shadows PyPA's ``build`` package.)
"""

import glob
import os
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join("csrc")
# every C file of the engine (csrc/Makefile builds the same list)
SOURCES = sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, CSRC, "src", "*.c")))

ffibuilder = FFI()
with open(os.path.join(HERE, CSRC, "ipx.cdef")) as f:
    ffibuilder.cdef(f.read())

# -O3 for the kernels; -ffp-contract=fast lets a*b+c become one FMA in the AVX2 path
# (ISO C mode turns contraction off); no loop-to-memcpy rewriting (tile copies are short rows,
# where a libc call costs more than the copy); AVX2 is chosen per function at run time.
# Hidden visibility: only IPX_API names leave the shared libipx.so.0 that setup.py links too.
CFLAGS = ["-std=c11", "-O3", "-ffp-contract=fast", "-fno-tree-loop-distribute-patterns", "-fvisibility=hidden",
          "-pthread", "-Wno-psabi"]
if sys.platform == "win32":  # not a supported target, but keep MSVC from choking on flags
    CFLAGS = []

INCLUDE_DIRS = [os.path.join(CSRC, "include"), os.path.join(CSRC, "src")]

ffibuilder.set_source(
    "ipuexplore._ipx",
    '#include "ipx.h"\n',
    sources=SOURCES,
    include_dirs=INCLUDE_DIRS,
    extra_compile_args=CFLAGS,
    extra_link_args=["-pthread"],
)

if __name__ == "__main__":
    os.chdir(HERE)
    ffibuilder.compile(tmpdir=".", verbose=False)
