"""Long CLI runs report progress on stderr only when it is a terminal."""

import io

from ipuexplore.cli.progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_pipe_gets_no_progress_output():
    stream = io.StringIO()
    with progress_bar("running", stream=stream) as report:
        for done in range(1, 4):
            report(done, 3, f"layer{done}")
    assert stream.getvalue() == ""


def test_a_terminal_gets_a_bar_with_the_count():
    stream = _Terminal()
    with progress_bar("running", stream=stream) as report:
        for done in range(1, 4):
            report(done, 3, f"layer{done}")
    assert "running" in stream.getvalue()
