"""The JSON vocabulary `layer`, `sweep` and `net` share, so one script can read all three.

Every document carries ``schema`` (bumped when a key changes meaning or goes away; new keys
do not bump it), ``mode`` ("inference" or "train") and ``train`` (the same, as a bool),
``baseline`` (the chip ratios are taken against: the last one listed) and, per chip,
``throughput_ratio`` (its throughput / the baseline's, in the mode asked);
``ipu_over_gpu_speedup`` gives each IPU's speed-up over each GPU ("ipu/gpu": GPU time / IPU
time). docs/CONTRACTS.md lists the keys.
"""

from __future__ import annotations

from collections.abc import Mapping

SCHEMA_VERSION = 1


def mode_keys(train: bool) -> dict:
    return {"schema": SCHEMA_VERSION, "mode": "train" if train else "inference", "train": train}


def ipu_over_gpu_speedup(times_s: Mapping[str, float], families: Mapping[str, str]) -> dict[str, float]:
    """GPU time / IPU time for every (IPU, GPU) pair among the chips, in their listed order."""
    ipus = [c for c in times_s if families[c] == "ipu"]
    gpus = [c for c in times_s if families[c] == "gpu"]
    return {f"{i}/{g}": times_s[g] / times_s[i] for i in ipus for g in gpus}


def throughput_ratios(times_s: Mapping[str, float]) -> tuple[str, dict[str, float]]:
    """(baseline, {chip: baseline time / chip time}): the baseline is the last chip listed."""
    baseline = list(times_s)[-1]
    return baseline, {c: times_s[baseline] / t if t > 0 else float("inf") for c, t in times_s.items()}
