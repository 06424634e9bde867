"""ONNX Runtime's own profile, as the benchmarks read it: a session made with
`enable_profiling` writes one "Node" event per kernel per run; these are its kernel-time
events cut into runs, so a caller drops the warm-up and sums what it compares."""

from __future__ import annotations

import json


def node_runs(session, runs: int) -> list[list[dict]]:
    """End `session`'s profiling and return its kernel-time events split into the `runs`
    runs it made, in order (each run's nodes as ONNX Runtime ran them)."""
    with open(session.end_profiling()) as f:
        events = json.load(f)
    nodes = [e for e in events if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")]
    per_run = len(nodes) // runs
    return [nodes[r * per_run:(r + 1) * per_run] for r in range(runs)]
