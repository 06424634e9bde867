"""Progress of long CLI runs: a rich bar on stderr when stderr is a terminal, nothing otherwise
(so a pipe, a log file or a CI capture gets no carriage-return noise)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

Report = Callable[[int, int, str], None]  # (done, total, what is running now)


@contextmanager
def progress_bar(label: str, stream=None) -> Iterator[Report]:
    stream = stream or sys.stderr
    if not stream.isatty():
        yield lambda done, total, name: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[now]}"))
    with Progress(*columns, console=Console(file=stream), transient=True) as progress:
        task = progress.add_task(label, total=None, now="")

        def report(done: int, total: int, name: str) -> None:
            progress.update(task, completed=done, total=total, now=name[:24])

        yield report
