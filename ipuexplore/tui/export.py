"""Writing a view's data to CSV or JSON (no textual here)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

FORMATS = (".csv", ".json")


def _clean(value):
    """JSON has no NaN/inf: write null instead of an invalid file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):  # numpy scalars
        return _clean(value.item())
    return value


def write(path: str | Path, data: dict) -> Path:
    """Write `data` ({"view", "rows": [dict], ...}) to `path`; the suffix picks the format."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"export file must end in .csv or .json, got {path.name!r}")
    rows = [{k: _clean(v) for k, v in row.items()} for row in data.get("rows", [])]
    if suffix == ".json":
        body = {k: v for k, v in data.items() if k != "rows"}
        body["rows"] = rows
        path.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
        return path
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path
