"""Command line: `ipuexplore` opens the explorer; subcommands script the same numbers.

Each subcommand lives in its own module exposing `register(subparsers)`; the module's
parser sets `func` (called with the parsed args, returns an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# modules under ipuexplore.cli whose register(subparsers) adds subcommands (layer, sweep; net);
# each is imported when the parser is built
_SUBCOMMAND_MODULES = ("layer", "net")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ipuexplore",
        description="Explore why grouped/depthwise convolutions favour IPUs over GPUs. "
        "With no command, opens the interactive explorer.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    tui = subparsers.add_parser("tui", help="open the interactive explorer (the default)")
    tui.set_defaults(func=_run_tui)
    for module_name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"ipuexplore.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"ipuexplore.cli.{module_name}":
                raise
            continue
        module.register(subparsers)
    return parser


def _run_tui(args: argparse.Namespace) -> int:
    from ipuexplore.tui.app import run

    return run() or 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", _run_tui)
    try:
        return int(func(args) or 0)
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error. Point stdout at devnull so
        # the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, TypeError, OSError) as exc:
        # User errors (bad layer, bad spec file, bad ONNX file) get one line, not a traceback.
        print(f"ipuexplore: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
