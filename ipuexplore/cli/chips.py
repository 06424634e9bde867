"""`ipuexplore chips`: the shipped chip and system ids, one line each, for --chips."""

from __future__ import annotations

import sys

from ipuexplore.hardware import listing


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "chips",
        help="list the chip and system ids that --chips accepts",
        description="List the shipped chip and system ids with a one-line description each.",
    )
    p.set_defaults(func=run_chips)


def run_chips(args, out=None) -> int:
    out = out or sys.stdout
    rows = listing()
    width = max(len(chip_id) for chip_id, _ in rows)
    for chip_id, description in rows:
        out.write(f"{chip_id:<{width}}  {description}\n")
    return 0
