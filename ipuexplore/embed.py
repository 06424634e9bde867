"""`ipuexplore-config`: where C and C++ programs find the engine shipped inside this package.

    cc prog.c $(ipuexplore-config --cflags --libs)
    PKG_CONFIG_PATH=$(ipuexplore-config --pkgconfigdir) pkg-config --cflags --libs ipx
    cmake -Dipx_DIR=$(ipuexplore-config --cmakedir) ...     # find_package(ipx), target ipx::ipx

The package holds include/ipx.h and lib/ (libipx.a, libipx.so.N, pkgconfig/ipx.pc,
cmake/ipx/), laid out as `make -C csrc install` lays out a prefix. The link flags name the
versioned shared library and set an rpath to it, so programs run without LD_LIBRARY_PATH.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

PREFIX = os.path.dirname(os.path.abspath(__file__))


def include_dir() -> str:
    return os.path.join(PREFIX, "include")


def library_dir() -> str:
    return os.path.join(PREFIX, "lib")


def pkgconfig_dir() -> str:
    return os.path.join(library_dir(), "pkgconfig")


def cmake_dir() -> str:
    return os.path.join(library_dir(), "cmake", "ipx")


def shared_library() -> str:
    """Path of libipx.so.MAJOR (FileNotFoundError when the package was built without it)."""
    found = sorted(glob.glob(os.path.join(library_dir(), "libipx.so.*")))
    required = [os.path.join(include_dir(), "ipx.h"), os.path.join(pkgconfig_dir(), "ipx.pc")]
    missing = [path for path in required if not os.path.exists(path)] + ([] if found else ["lib/libipx.so.N"])
    if missing:
        raise FileNotFoundError(f"the C library files are not installed ({', '.join(missing)} missing "
                                f"under {PREFIX}): reinstall ipuexplore with `pip install .`")
    return found[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ipuexplore-config",
                                     description="Flags and paths for building C programs against ipuexplore's ipx library.")
    parser.add_argument("--cflags", action="store_true", help="compiler flags (the include directory)")
    parser.add_argument("--libs", action="store_true", help="linker flags for the shared library, with an rpath")
    parser.add_argument("--static-libs", action="store_true", help="linker flags for the static libipx.a")
    parser.add_argument("--pkgconfigdir", action="store_true", help="directory holding ipx.pc (for PKG_CONFIG_PATH)")
    parser.add_argument("--cmakedir", action="store_true", help="directory holding ipxConfig.cmake (for ipx_DIR)")
    parser.add_argument("--prefix", action="store_true", help="the prefix holding include/ and lib/")
    parser.add_argument("--version", action="store_true", help="the library version (MAJOR.MINOR.PATCH)")
    args = parser.parse_args(argv)
    if not any(vars(args).values()):
        parser.print_usage(sys.stderr)
        print("ipuexplore-config: error: give at least one option", file=sys.stderr)
        return 2
    try:
        library = shared_library()
    except FileNotFoundError as exc:
        print(f"ipuexplore-config: error: {exc}", file=sys.stderr)
        return 2
    lib = library_dir()
    flags = []
    if args.cflags:
        flags.append(f"-I{include_dir()}")
    if args.libs:
        flags.append(f"-L{lib} -Wl,-rpath,{lib} -l:{os.path.basename(library)}")
    if args.static_libs:
        flags.append(f"{os.path.join(lib, 'libipx.a')} -pthread -lm")
    lines = [" ".join(flags)] if flags else []
    if args.pkgconfigdir:
        lines.append(pkgconfig_dir())
    if args.cmakedir:
        lines.append(cmake_dir())
    if args.prefix:
        lines.append(PREFIX)
    if args.version:
        lines.append(_version())
    print("\n".join(lines))
    return 0


def _version() -> str:
    with open(os.path.join(pkgconfig_dir(), "ipx.pc")) as f:
        return next(line.split(":", 1)[1].strip() for line in f if line.startswith("Version:"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
