"""Where embedders find the C header and library."""

from __future__ import annotations

import os

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # ipuexplore/
_REPO = os.path.dirname(_PKG)


def get_include() -> str:
    """Directory holding ``ipx.h``: the copy installed with the package, else the source
    checkout's ``csrc/include``."""
    installed = os.path.join(_PKG, "include")
    if os.path.exists(os.path.join(installed, "ipx.h")):
        return installed
    return os.path.join(_REPO, "csrc", "include")


def get_library_dir() -> str:
    """Directory holding ``libipx.a`` to link C programs against (``-L<dir> -lipx
    -pthread``): the copy built at install time, else ``csrc/out`` from ``make -C csrc``."""
    for candidate in (os.path.join(_PKG, "lib"), os.path.join(_REPO, "csrc", "out")):
        if os.path.exists(os.path.join(candidate, "libipx.a")):
            return candidate
    raise FileNotFoundError(
        "libipx.a not found: reinstall ipuexplore (`pip install .`) or run `make -C csrc`"
    )
