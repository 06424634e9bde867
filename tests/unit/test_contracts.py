"""docs/CONTRACTS.md's signature list is the code's (scripts/contracts.py writes it)."""

from __future__ import annotations

import runpy
from pathlib import Path

CONTRACTS = runpy.run_path(str(Path(__file__).resolve().parents[2] / "scripts" / "contracts.py"))


def test_the_documented_signatures_are_the_codes():
    diff = CONTRACTS["stale_lines"](CONTRACTS["DOC"].read_text(encoding="utf-8"))
    assert diff == [], "docs/CONTRACTS.md is behind the code: run python scripts/contracts.py --write\n" + "\n".join(diff)


def test_a_changed_signature_is_caught():
    doc = CONTRACTS["DOC"].read_text(encoding="utf-8")
    stale = doc.replace("- `networks.load_onnx(path)", "- `networks.load_onnx(path, strict=True)")
    assert stale != doc
    assert any("strict=True" in line for line in CONTRACTS["stale_lines"](stale))
