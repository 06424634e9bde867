"""Command line: `ipuexplore` opens the explorer; subcommands script the same numbers.

Each subcommand lives in its own module exposing `register(subparsers)`; the module's
parser sets `func` (called with the parsed args, returns an exit code).
"""

from __future__ import annotations

import argparse
import os
import sys

from ipuexplore import __version__
from ipuexplore.cli import chips, layer, net


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ipuexplore",
        description="Explore why grouped/depthwise convolutions favour IPUs over GPUs. "
        "With no command, opens the interactive explorer (when run in a terminal).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    tui = subparsers.add_parser("tui", help="open the interactive explorer (the default)")
    tui.set_defaults(func=_run_tui)
    for module in (layer, net, chips):
        module.register(subparsers)
    return parser


def _run_tui(args: argparse.Namespace) -> int:
    from ipuexplore.tui.app import run

    return run() or 0


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        if not _interactive():
            # In a pipe or a script the explorer would draw into the pipe and never return.
            parser.print_usage(sys.stderr)
            print("ipuexplore: error: no command given and not a terminal: the explorer needs one "
                  "(run `ipuexplore tui` to force it, or a command)", file=sys.stderr)
            return 2
        func = _run_tui
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
