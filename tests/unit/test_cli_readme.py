"""README's CLI samples are the CLI's output today: each block after a
`<!-- sample: COMMAND -->` line is COMMAND's stdout. A model change that moves a number
fails here; `IPUEXPLORE_UPDATE_README=1 pytest tests/unit/test_cli_readme.py` rewrites the
blocks (then read the diff before committing it)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from pathlib import Path

import pytest

from ipuexplore.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"
SAMPLE = re.compile(r"<!-- sample: (?P<command>[^\n]+?) -->\n```\n(?P<output>.*?)```", re.S)


def run_sample(command: str) -> str:
    argv = shlex.split(command)
    assert argv[0] == "ipuexplore", command
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv[1:]) == 0, command
    return out.getvalue()


def samples(text: str) -> list[re.Match]:
    return list(SAMPLE.finditer(text))


def test_readme_has_samples():
    assert any("net resnext101_32x8d --batch 8" in m["command"] for m in samples(README.read_text()))


@pytest.mark.parametrize("command", [m["command"] for m in samples(README.read_text())])
def test_readme_sample_is_todays_output(command):
    text = README.read_text()
    match = next(m for m in samples(text) if m["command"] == command)
    output = run_sample(command)
    if os.environ.get("IPUEXPLORE_UPDATE_README"):
        README.write_text(text[:match.start("output")] + output + text[match.end("output"):])
        return
    assert match["output"] == output, (
        f"README's sample of `{command}` is stale: run IPUEXPLORE_UPDATE_README=1 pytest {__file__}")
