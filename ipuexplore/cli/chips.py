"""`ipuexplore chips`: the shipped chip and system ids, one line each, for --chips."""

from __future__ import annotations

import sys

from ipuexplore.hardware import list_chips, load_chip


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "chips",
        help="list the chip and system ids that --chips accepts",
        description="List the shipped chip and system ids with a one-line description each.",
    )
    p.set_defaults(func=run_chips)


def describe(chip_id: str) -> str:
    """One line for an id: the spec's own description where it has one, else its name."""
    spec = load_chip(chip_id)
    return getattr(spec, "description", None) or spec.name


def run_chips(args, out=None) -> int:
    out = out or sys.stdout
    ids = list_chips()
    width = max(map(len, ids))
    for chip_id in ids:
        out.write(f"{chip_id:<{width}}  {describe(chip_id)}\n")
    return 0
