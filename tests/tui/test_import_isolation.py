"""The explorer's boundary: nothing outside ipuexplore.tui imports textual (DESIGN.md
section 1), and ipuexplore.tui imports the core directly, never through strings."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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


# ---- the explorer reaches the core by import, never by name -----------------------------
TUI = Path(__file__).resolve().parents[2] / "ipuexplore" / "tui"
NAME_LOOKUPS = {"getattr", "hasattr", "setattr", "delattr", "__import__", "eval", "exec"}


def name_lookups(source: str) -> list[str]:
    """importlib imports and getattr-style calls in `source`, as 'line: what'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        else:
            modules = []
        found += [f"{node.lineno}: import {m}" for m in modules if m.split(".")[0] == "importlib"]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in NAME_LOOKUPS:
            found.append(f"{node.lineno}: {node.func.id}()")
    return found


def test_the_checker_finds_each_kind_of_lookup():
    source = ("import importlib\nfrom importlib import import_module\n"
              "x = getattr(m, name)\nif hasattr(s, 'apply'): pass\nfrom ipuexplore import models\n")
    assert name_lookups(source) == ["1: import importlib", "2: import importlib", "3: getattr()", "4: hasattr()"]


def test_the_explorer_has_no_importlib_or_name_lookups():
    files = sorted(TUI.rglob("*.py"))
    assert len(files) > 10
    offences = [f"{path.relative_to(TUI)}:{hit}" for path in files
                for hit in name_lookups(path.read_text(encoding="utf-8"))]
    assert offences == []


def test_the_explorer_starts_without_the_compiled_engine():
    # the compiled core blocked: every explorer module imports, and the one guarded
    # accessor says what is missing instead of raising ImportError
    code = ("import sys; sys.modules['ipuexplore._ipx'] = None\n"
            "import ipuexplore.tui.app, ipuexplore.tui.screens.network, ipuexplore.tui.screens.charts\n"
            "from ipuexplore.tui import backend\n"
            "try:\n    backend.engine()\nexcept backend.Unavailable as exc:\n    print('unavailable:', exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("unavailable: engine not built")
