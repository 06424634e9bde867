"""Nothing outside ipuexplore.tui imports textual (DESIGN.md section 1)."""

from __future__ import annotations

import subprocess
import sys

CODE = r"""
import importlib, sys
for name in ("ipuexplore", "ipuexplore.layers", "ipuexplore.hardware", "ipuexplore.models",
             "ipuexplore.networks", "ipuexplore.engine", "ipuexplore.cli",
             "ipuexplore.networks.analysis", "ipuexplore.networks.host_run"):
    try:
        importlib.import_module(name)
    except ImportError as exc:  # a part not built here (the engine) is not this test's concern
        if "textual" in str(exc):
            raise
bad = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual.") or m.startswith("textual_"))
print(",".join(bad))
"""


def test_core_modules_do_not_import_textual():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"textual imported by the core: {out.stdout}"


def test_the_tuis_pure_helpers_do_not_import_textual_either():
    code = ("import sys, ipuexplore.tui.settings, ipuexplore.tui.backend, ipuexplore.tui.live, "
            "ipuexplore.tui.export, ipuexplore.tui.results, ipuexplore.tui.chartdata, "
            "ipuexplore.tui.netview; print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
