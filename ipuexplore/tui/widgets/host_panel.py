"""The live host panel: the engine runs the explored layer over and over in a thread.

Each layer change bumps `generation`, cancels the running engine call (Pool.cancel) and
starts a new worker; results carry their generation and older ones are dropped, so a
number on screen always belongs to the layer the controls show.

A round times each strategy once, then posts the results and waits until the UI has drawn
them (and REFRESH_S has passed since the round began): the UI draws while no timed run is
in flight, a few times a second. Each strategy's line shows the median of its last WINDOW
runs, so one slow run (another process took the core) does not make the number jump.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static
from textual.worker import get_current_worker

from ipuexplore.errors import Cancelled
from ipuexplore.formatting import seconds, si

from .. import backend, live
from ..messages import LiveFailed, LiveMeasured
from .tile_map import TileMap

HISTORY = 40  # runs kept for the history chart (current layer only)
WINDOW = 7  # runs per strategy the shown median is taken over
REFRESH_S = 0.25  # at least this long from one round's start to the next: ~4 readings a second
MIN_IDLE_S = 0.05  # the engine stays idle at least this long after posting, for the UI to draw


def median_run(runs) -> live.Measurement:
    """The run with the median GFLOP/s (a real run, so its numbers agree with each other)."""
    ordered = sorted(runs, key=lambda m: m.gflop_s)
    return ordered[(len(ordered) - 1) // 2]


class HostPanel(Vertical):
    """Measured GFLOP/s, GB/s and images/s per strategy, a history chart and the tile map."""

    def __init__(self, *, enabled: bool = True, disabled_reason: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.enabled = enabled
        self.disabled_reason = disabled_reason
        self.generation = 0
        self.latest: dict[str, live.Measurement] = {}
        self.errors: dict[str, str] = {}
        self.shape: live.LiveShape | None = None
        self.train = False  # measuring forward + backward (the view's training mode)
        self._history: deque[float] = deque(maxlen=HISTORY)
        self._window: dict[str, deque[live.Measurement]] = {}
        self._drawn = threading.Event()  # set by the UI once it has drawn the posted results
        self._lock = threading.Lock()  # one engine call on the pool at a time
        self._lines_shown = False  # the strategy lines show numbers or "measuring..." (not a note)
        self._pool = None
        self._paused = False

    def compose(self) -> ComposeResult:
        yield Static(id="host-shape")
        yield Static(id="host-direct")
        yield Static(id="host-gemm")
        yield Sparkline([], id="host-history")
        yield TileMap(id="tile-map")

    # ---- control from the screen -------------------------------------------------------
    def measure(self, layer, batch: int, train: bool = False) -> None:
        """Start measuring `layer` (cancelling whatever ran before); the panel is on screen.
        train: each measurement is the forward and both backward passes."""
        self._paused = False
        self.train = train
        self._next_generation()
        self._cancel_running()
        if not self.enabled:
            self.shape = None
            self._show_off()
            return
        try:
            self.shape = live.live_layer(layer, batch, train)
        except ValueError as exc:
            self.shape = None
            self._show_failed(str(exc))
            return
        self._refresh_all()
        self._run_live(self.generation, self.shape, train)

    def stop(self, reason: str) -> None:
        """Stop measuring and say why (no layer to run)."""
        self._next_generation()
        self._cancel_running()
        self.workers.cancel_group(self, "live")
        self.shape = None
        self._show_failed(reason)

    def pause(self) -> None:
        """Stop measuring (another view needs the CPU); `resume` starts again."""
        self._paused = True
        self._cancel_running()
        self.workers.cancel_group(self, "live")

    def resume(self) -> None:
        if not self._paused:
            return  # already measuring (a screen's first resume follows its mount)
        self._paused = False
        if self.enabled and self.shape is not None:
            self._next_generation()
            self._refresh_all()
            self._run_live(self.generation, self.shape, self.train)

    def on_unmount(self) -> None:
        self.close()

    def close(self) -> None:
        self.pause()
        if self._pool is not None:
            with self._lock:
                self._pool.close()
            self._pool = None

    def _next_generation(self) -> None:
        """Forget the numbers shown; results still arriving from older runs are dropped."""
        self.generation += 1
        self.latest.clear()
        self._window.clear()
        self.errors.clear()
        self._history.clear()

    def _cancel_running(self) -> None:
        if self._pool is not None:
            self._pool.cancel()

    # ---- the worker --------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="live",
          description="Measuring the layer on the host engine")
    def _run_live(self, generation: int, shape: live.LiveShape, train: bool) -> None:
        worker = get_current_worker()
        try:
            engine = backend.engine()
        except backend.Unavailable as exc:
            self.post_message(LiveFailed(generation, str(exc)))
            return
        with self._lock:
            if worker.is_cancelled:
                return
            try:
                if self._pool is None:
                    self._pool = engine.Pool()
                pool = self._pool
            except Exception as exc:  # noqa: BLE001 - any engine failure goes to the UI
                self.post_message(LiveFailed(generation, f"engine pool failed: {exc}"))
                return
            ops = {}
            for algorithm in live.ALGORITHMS:
                try:
                    ops[algorithm] = live.LiveOp(engine, shape, pool, algorithm, train)
                except Exception as exc:  # noqa: BLE001 - e.g. the layer needs more than the tile memory
                    self.post_message(LiveFailed(generation, str(exc), algorithm))
            try:
                while ops and not worker.is_cancelled:
                    started = time.monotonic()
                    measured = []
                    for algorithm, op in list(ops.items()):
                        if worker.is_cancelled:
                            return
                        try:
                            measured.append(live.summarise(op.run(), algorithm, shape.batch))
                        except Cancelled:
                            # a cancel() aimed at an earlier run can land on this one
                            continue
                        except Exception as exc:  # noqa: BLE001
                            del ops[algorithm]
                            op.close()
                            self.post_message(LiveFailed(generation, f"run failed: {exc}", algorithm))
                    # no timed run in flight from here: the UI draws now, not during a run
                    self._drawn.clear()
                    for measurement in measured:
                        self.post_message(LiveMeasured(generation, measurement))
                    if measured:
                        self._drawn.wait(1.0)
                    idle = max(MIN_IDLE_S, REFRESH_S - (time.monotonic() - started))
                    worker.cancelled_event.wait(idle)
            finally:
                for op in ops.values():
                    op.close()

    # ---- results -----------------------------------------------------------------------
    def on_live_measured(self, message: LiveMeasured) -> None:
        message.stop()
        if message.generation != self.generation:
            return  # a previous layer's run: never shown
        m = message.measurement
        window = self._window.setdefault(m.algorithm, deque(maxlen=WINDOW))
        window.append(m)
        shown = median_run(window)
        self.latest[m.algorithm] = shown
        if m.algorithm == "direct":
            self._history.append(m.gflop_s)
            self.query_one(TileMap).show(shown.compute, shown.exchange, shown.wait)
        self._refresh_all()
        self.call_after_refresh(self._drawn.set)

    def on_live_failed(self, message: LiveFailed) -> None:
        message.stop()
        if message.generation != self.generation:
            return
        if message.algorithm:
            self.errors[message.algorithm] = message.text
            self._refresh_all()
        else:
            self._show_failed(message.text)

    # ---- drawing -----------------------------------------------------------------------
    def _line(self, algorithm: str, width: int) -> Text:
        """A strategy's numbers in ``width`` cells (0: not laid out yet): GB/s last, on a line
        of its own, value and unit together, when the three do not fit on one (wrapping
        breaks at any space, also inside "7.03 GB/s")."""
        head = f"{algorithm:<6} "
        text = Text(head, style="bold")
        if algorithm in self.errors:
            text.append(f"cannot run: {self.errors[algorithm]}", style="red")
        elif algorithm in self.latest:
            m = self.latest[algorithm]
            rates, bandwidth = f"{m.gflop_s:.1f} GFLOP/s {si(m.img_s)} img/s", f"{m.gb_s:.3g} GB/s"
            fits = width <= 0 or len(head) + len(rates) + 1 + len(bandwidth) <= width
            text.append(rates + (" " if fits else "\n" + " " * len(head)) + bandwidth)
        else:
            text.append("measuring...", style="italic dim")
        return text

    def _refresh_all(self) -> None:
        shape = self.shape
        if shape is not None:
            text = self._title()
            text.append(shape.note if shape.note else f"the layer as set, batch {shape.batch}", style="dim")
            runs = max((len(w) for w in self._window.values()), default=0)
            if runs > 1:
                text.append(f"; median of the last {runs} runs", style="dim")
            self.query_one("#host-shape", Static).update(text)
        self._lines_shown = True
        for algorithm in live.ALGORITHMS:
            line = self.query_one(f"#host-{algorithm}", Static)
            line.update(self._line(algorithm, line.content_size.width))
            m = self.latest.get(algorithm)
            line.tooltip = (
                f"{algorithm}: engine kernel {m.kernel or '?'}, {len(m.compute)} workers, "
                f"{m.supersteps} supersteps, {seconds(m.wall_s)} per run "
                f"({'forward + backward data + backward weights' if self.train else 'forward pass'})"
                if m else self.errors.get(algorithm))
        self._set_history()
        if "direct" not in self.latest:
            self.query_one(TileMap).clear(
                "tile map: measuring..." if "direct" not in self.errors else "tile map: no direct run"
            )

    def on_resize(self) -> None:
        # the strategy lines break by the panel's width: drawn again once laid out at the new one
        self.call_after_refresh(self._redraw_lines)

    def _redraw_lines(self) -> None:
        if self._lines_shown:  # (a note stays as it is)
            self._refresh_all()

    def _set_history(self) -> None:
        spark = self.query_one(Sparkline)
        spark.data = list(self._history)
        spark.display = len(self._history) > 1  # an empty sparkline draws a misleading flat line
        spark.tooltip = (f"direct GFLOP/s, last {len(self._history)} runs: "
                         f"{min(self._history):.2f} .. {max(self._history):.2f}") if self._history else None

    def _title(self) -> Text:
        return Text(f"Host (measured, fp32 {'fwd+bwd' if self.train else 'fwd'}): ", style="bold")

    def _show_off(self) -> None:
        self._show_note(f"live measurement off: {self.disabled_reason}", "dim", "tile map: live measurement off")

    def _show_failed(self, text: str) -> None:
        self._show_note(text, "bold red", "tile map: no measurement")

    def _show_note(self, text: str, style: str, tile_note: str) -> None:
        """The panel with no numbers: `text` in the title line, strategy lines emptied."""
        self.query_one("#host-shape", Static).update(self._title().append(text, style=style))
        self._lines_shown = False
        for algorithm in live.ALGORITHMS:
            line = self.query_one(f"#host-{algorithm}", Static)
            line.update("")
            line.tooltip = None
        self._history.clear()
        self._set_history()
        self.query_one(TileMap).clear(tile_note)
