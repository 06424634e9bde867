"""The compiled engine (``ipuexplore._ipx``, built from csrc/ by build.py)."""

try:
    from ._ipx import ffi, lib
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        "ipuexplore's C engine is not built: run `pip install .` (or `python build.py` in a "
        "source checkout)"
    ) from exc

__all__ = ["ffi", "lib"]
