"""The network view: per-layer estimates of a whole network on both chips, and a host run."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, ProgressBar, Select, Static
from textual.worker import get_current_worker

from ipuexplore.errors import Cancelled
from ipuexplore.formatting import ratio, seconds, si
from ipuexplore.networks import analyse, list_networks, run_on_host, session_check

from .. import backend, netview
from ..messages import NetworkAnalysed, NetworkProgress, NetworkRunFinished
from ..settings import LayerSettings
from ..widgets.keys import Keys

# (column label, sort key or None)
COLUMNS = (("#", "index"), ("layer", None), ("A", "time_a"), ("B", "time_b"), ("B/A", "ratio"),
           ("GFLOP", "flops"), ("FLOP/B", None), ("bound A", None), ("bound B", None), ("shape", None))
HOST_FLOP_BUDGET = 40e9  # FLOPs (2 x MACs) per host run: a few seconds on a 2-core CPU


def host_batch(batch: int, flops_per_image: float) -> int:
    """The view's batch for the host run, capped so one run stays within HOST_FLOP_BUDGET
    (ResNet-50 at 8.2 GFLOP/image: 4 images; EfficientNet-B0 at 0.8: up to 49)."""
    return max(1, min(batch, int(HOST_FLOP_BUDGET // max(flops_per_image, 1.0))))


class NetworkScreen(Screen):
    BINDINGS = [
        Binding("o", "cycle_sort", "Sort", id="network.sort"),
        Binding("r", "run_host", "Run", id="network.run", tooltip="run the network on this CPU (engine)"),
        # enter does the same; off the footer so every key fits 80 columns (help lists it)
        Binding("x", "explore_row", "Explore", id="network.explore", show=False),
        Binding("escape", "cancel_run", "Cancel run", id="network.cancel", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.source = netview.Source()
        self.generation = 0
        self.network = None
        self.analysis = None
        self.host_run = None
        self.host_session = None  # the fused session's measurement after a host run
        self.sort_key = "index"
        self._rows: list[netview.Row] = []
        self._analysed_for = None

    def compose(self) -> ComposeResult:
        names = list_networks()
        if self.app.pending_network:  # opened from the command palette: start on that network
            self.source = netview.Source(self.app.pending_network, "", self.source.group_size)
            self.app.pending_network = None
        with Horizontal(id="net-pickers"):
            yield Select([(n, n) for n in names], value=self.source.name if names else Select.BLANK,
                         allow_blank=not names, id="net-name", prompt="network")
            yield Select(
                [("groups as built", 0)] + [(f"{g}/group", g) for g in netview.GROUP_OVERRIDES[1:]],
                value=0, allow_blank=False, id="net-groups",
            )
            yield Input(placeholder="or an .onnx path, enter opens", id="net-onnx")
        yield Static(id="net-summary", classes="note")
        yield Static(id="net-totals")
        yield DataTable(id="net-table", zebra_stripes=True, cursor_type="row")
        with Horizontal(id="net-run"):
            yield ProgressBar(id="net-progress", show_eta=False)
            yield Static(id="net-host", classes="note")
        yield Footer(compact=True)  # every key fits 80 columns

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False  # until a run starts (no idle animation)
        self.query_one("#net-host", Static).update(
            "r runs the network on this CPU (engine; the view's batch, capped to keep a run to seconds)")
        self.reload()

    def on_screen_resume(self) -> None:
        if self.app.pending_network:
            self.open_pending()
        elif self._analysed_for != self._settings_key():
            self.reload()

    def open_pending(self) -> None:
        """Show the network the command palette asked for."""
        name, self.app.pending_network = self.app.pending_network, None
        self.query_one("#net-onnx", Input).value = ""
        select = self.query_one("#net-name", Select)
        if select.value != name:
            select.value = name  # Select.Changed reloads
        elif self.source.onnx_path:
            self.source = netview.Source(name, "", self.source.group_size)
            self.reload()

    def _settings_key(self):
        s = self.app.settings
        return (self.source, s.chip_a, s.chip_b, s.batch, s.dtype, s.train)

    # ---- picking ----------------------------------------------------------------------
    def on_select_changed(self, event: Select.Changed) -> None:
        if event.value is Select.BLANK:
            return
        if event.select.id == "net-name":
            source = netview.Source(str(event.value), "", self.source.group_size)
        elif event.select.id == "net-groups":
            source = netview.Source(self.source.name, self.source.onnx_path, int(event.value))
        else:
            return
        if source == self.source:
            return  # a Select announcing the value it was composed with: on_mount analyses it
        if event.select.id == "net-name":
            self.query_one("#net-onnx", Input).value = ""  # the builder's network, not the file
        self.source = source
        self.reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        self.source = netview.Source(self.source.name, path, self.source.group_size)
        self.reload()

    def reload(self) -> None:
        """Re-analyse the current source with the layer view's chips, batch, dtype and mode."""
        self.generation += 1
        self.host_run = self.host_session = None
        if self.workers.cancel_group(self, "host_run"):  # its numbers would be another network's
            self.query_one("#net-host", Static).update("host run cancelled: the network changed")
            self.query_one(ProgressBar).display = False
        self._analysed_for = self._settings_key()
        s = self.app.settings
        mode = "training" if s.train else "inference"
        note = "  (group override ignored for ONNX)" if self.source.onnx_path and self.source.group_size else ""
        self.query_one("#net-summary", Static).update(
            f"{self.source.label}: {s.chip_a} vs {s.chip_b}, batch {s.batch}, {s.dtype}, {mode} "
            f"(set in the layer view){note}  analysing...")
        self._analyse(self.generation, self.source, [s.chip_a, s.chip_b], s.batch, s.dtype, s.train)

    @work(thread=True, exclusive=True, exit_on_error=False, group="analyse",
          description="Modelling the network on both chips")
    def _analyse(self, generation, source, chips, batch, dtype, train) -> None:
        try:
            network = netview.load(source)
            if len(set(chips)) < 2:
                raise ValueError("pick two different chips in the layer view")
            analysis = analyse(network, chips, batch=batch, dtype=dtype, train=train)
        except (ValueError, OSError, KeyError) as exc:
            self.post_message(NetworkAnalysed(generation, error=str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - a bad ONNX file can fail in many ways
            self.post_message(NetworkAnalysed(generation, error=f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(NetworkAnalysed(generation, network, analysis))

    def on_network_analysed(self, message: NetworkAnalysed) -> None:
        if message.generation != self.generation:
            return
        summary = self.query_one("#net-summary", Static)
        table = self.query_one(DataTable)
        if message.error:
            self.network = self.analysis = None
            self._rows = []
            table.clear(columns=True)
            self.query_one("#net-totals", Static).update("")
            summary.update(Text(f"{self.source.label}: {message.error}", style="bold red"))
            return
        self.network, self.analysis = message.network, message.analysis
        self._rows = netview.rows(self.analysis)
        net = self.network
        unsupported = ""
        if self.analysis.unsupported:
            ops = ", ".join(f"{op} x{n}" for op, n in self.analysis.unsupported)
            unsupported = f"\nnot modelled (unsupported ONNX ops): {ops}"
        s = self.app.settings
        summary.update(
            f"{net.name} at {net.res}px: {len(net.layers)} layers, {net.params / 1e6:.2f} M params, "
            f"{net.flops / 1e9:.2f} GFLOP/image (2xMAC); batch {s.batch} {s.dtype} "
            f"{'training' if s.train else 'inference'} (layer view settings); "
            f"* and red: the {netview.HEAVY} slowest layers per chip{unsupported}")
        self._show_totals()
        self._fill_table()

    # ---- drawing ----------------------------------------------------------------------
    def _show_totals(self) -> None:
        a = self.analysis
        table = Table(box=None, expand=False, padding=(0, 1), header_style="bold")
        mode = "train" if a.train else "infer"
        table.add_column("total", no_wrap=True, min_width=9)
        table.add_column("step", justify="right", no_wrap=True, min_width=7)
        table.add_column(f"{mode} img/s", justify="right", no_wrap=True, min_width=11)
        table.add_column("ratio", justify="right", no_wrap=True, min_width=6)
        table.add_column("time by bound", overflow="fold")
        for chip_id in a.chips:
            t = a.totals[chip_id]
            total = sum(t.time_by_bound.values()) or 1.0
            bounds = Keys([f"{b} {100 * v / total:.0f}%" for b, v in
                           sorted(t.time_by_bound.items(), key=lambda kv: -kv[1]) if v / total >= 0.005], gap=1)
            img_s = t.train_throughput_img_s if a.train else t.throughput_img_s
            r = t.train_throughput_ratio if a.train else t.throughput_ratio
            table.add_row(backend.chip_short(chip_id), seconds(t.time_s), si(img_s), ratio(r), bounds)
        if self.host_run is not None:
            h = self.host_run
            table.add_row(Text("host", style="cyan"), seconds(h.wall_s), si(h.images_per_s), "",
                          f"measured layer by layer, inference, batch {h.batch}, {h.workers} workers, after a warm-up pass")
            f = self.host_session
            if f and "images_per_s" in f:
                share = session_check.busy_shares(f)
                table.add_row(Text("host fused", style="cyan"), seconds(f["wall_s"]), si(f["images_per_s"]), "",
                              f"measured, the fused session: {f['layers']} layers in {f['steps']} steps, median "
                              f"of 5; workers {100 * share['exchange_s']:.0f}% copying into their tiles "
                              f"({si(f['bytes_in'], 'B')}), {100 * share['compute_s']:.0f}% computing")
        self.query_one("#net-totals", Static).update(table)

    def _fill_table(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        a_short, b_short = (backend.chip_short(c) for c in (self.analysis.chips[0], self.analysis.chips[-1]))
        labels = {"A": a_short, "B": b_short, "bound A": f"{a_short} bound", "bound B": f"{b_short} bound"}
        host_times = self._host_times()
        for label, key in COLUMNS:
            text = labels.get(label, label)
            if key == self.sort_key:
                text += " ▼" if key != "index" else " ▲"
            table.add_column(text, key=label)
            if label == "B/A" and host_times:
                table.add_column("host", key="host")
        for row in netview.sort_rows(self._rows, self.sort_key):
            heavy = row.heavy_a or row.heavy_b
            cells = [
                Text(f"{row.index}{' *' if heavy else ''}", style="bold" if heavy else ""),
                Text(row.name, style="bold" if heavy else ""),
                Text(seconds(row.time_a), style="bold red" if row.heavy_a else ""),
                Text(seconds(row.time_b), style="bold red" if row.heavy_b else ""),
                Text(ratio(row.ratio)),
            ]
            if host_times:
                cells.append(Text(seconds(host_times[row.index]), style="cyan"))
            cells += [
                Text(f"{row.flops * self.analysis.batch / 1e9:.3g}"),
                Text(f"{row.arithmetic_intensity:.3g}"),
                Text(row.bound_a), Text(row.bound_b), Text(row.shape, style="dim"),
            ]
            table.add_row(*cells, key=str(row.index))

    def _host_times(self) -> list[float]:
        if self.host_run is None or len(self.host_run.layers) != len(self._rows):
            return []
        return [t.time_s for t in self.host_run.layers]

    # ---- sorting ----------------------------------------------------------------------
    def action_cycle_sort(self) -> None:
        keys = netview.SORT_KEYS
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        if self.analysis is not None:
            self._fill_table()  # the sorted column's header carries the arrow

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = dict(COLUMNS).get(str(event.column_key.value))
        if key is not None:
            self.sort_key = key
            self._fill_table()

    # ---- a row in the layer view ----------------------------------------------------
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self._explore(int(event.row_key.value))

    def action_explore_row(self) -> None:
        table = self.query_one(DataTable)
        if self.network is None or table.row_count == 0:
            return
        self._explore(int(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value))

    def _explore(self, index: int) -> None:
        """Open the layer view on this network's layer (grouped/depthwise convs)."""
        layer = self.network.layers[index]
        try:
            self.app.settings = LayerSettings.from_layer(layer, self.app.settings)
        except ValueError as exc:
            self.notify(str(exc), title="Cannot explore this layer", severity="warning")
            return
        self.app.action_view("layer")

    # ---- host run ---------------------------------------------------------------------
    def action_run_host(self) -> None:
        if self.network is None:
            self.notify("no network loaded", severity="warning")
            return
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=2 * len(self.network.layers), progress=0)  # a warm-up pass, then the timed one
        batch = host_batch(self.app.settings.batch, self.network.flops)
        capped = f" (batch {self.app.settings.batch} capped to {batch})" if batch < self.app.settings.batch else ""
        self.query_one("#net-host", Static).update(f"running on this CPU, batch {batch}{capped}... (escape cancels)")
        self._run_host(self.generation, self.network, batch)

    def action_cancel_run(self) -> None:
        if self.workers.cancel_group(self, "host_run"):
            self.query_one("#net-host", Static).update("cancelling...")

    @work(thread=True, exclusive=True, exit_on_error=False, group="host_run",
          description="Running the network on the host engine")
    def _run_host(self, generation: int, network, batch: int) -> None:
        worker = get_current_worker()
        try:
            backend.engine()
            result = run_on_host(  # warm, as `net --run`: a cold pass read 4x slower (first touches)
                network, batch, warmup=True,
                progress=lambda done, total, name: self.post_message(
                    NetworkProgress(generation, done, total, name)),
                cancel=lambda: worker.is_cancelled,
            )
        except backend.Unavailable as exc:
            self.post_message(NetworkRunFinished(generation, error=str(exc)))
            return
        except Cancelled as exc:
            self.post_message(NetworkRunFinished(generation, error=str(exc), cancelled=True))
            return
        except Exception as exc:  # noqa: BLE001 - an engine error goes to the UI, not a crash
            self.post_message(NetworkRunFinished(generation, error=str(exc), cancelled=worker.is_cancelled))
            return
        session = None
        if not worker.is_cancelled:  # then the engine's own runtime: every layer fused into the convolutions
            done = 2 * len(network.layers)  # the layer-by-layer passes, all done: the bar stays full
            self.post_message(NetworkProgress(generation, done, done, FUSED_NOTE))
            session = _measure_session(network, batch)
        self.post_message(NetworkRunFinished(generation, result=result, session=session))

    def on_network_progress(self, message: NetworkProgress) -> None:
        if message.generation != self.generation:
            return  # a cancelled run's last words
        self.query_one(ProgressBar).update(total=message.total, progress=message.done)
        if message.layer_name == FUSED_NOTE:
            self.query_one("#net-host", Static).update(f"host: {FUSED_NOTE}...")
            return
        self.query_one("#net-host", Static).update(f"host: layer {message.done}/{message.total} {message.layer_name}")

    def on_network_run_finished(self, message: NetworkRunFinished) -> None:
        if message.generation != self.generation:
            return  # a run of a network no longer shown
        status = self.query_one("#net-host", Static)
        if message.cancelled:
            status.update("host run cancelled")
            self.query_one(ProgressBar).display = False
            return
        if message.error:
            self.query_one(ProgressBar).display = False
            status.update(Text(f"host run failed: {message.error}", style="bold red"))
            return
        self.host_run = h = message.result
        self.host_session = s = message.session
        self.query_one(ProgressBar).display = False  # done: the line below needs the width
        fused = (f"; fused session {si(s['images_per_s'])} img/s" if s and "images_per_s" in s else
                 f"; fused session refused: {s['error']}" if s else "")
        status.update(f"host, measured layer by layer: {si(h.images_per_s)} img/s, {seconds(h.wall_s)} per batch of "
                      f"{h.batch} ({h.workers} workers, convs {100 * h.conv_s / h.wall_s:.0f}% of the time){fused}")
        self._show_totals()
        self._fill_table()

    # ---- export -----------------------------------------------------------------------
    def export_data(self) -> dict:
        if self.analysis is None:
            return {"view": "network", "source": self.source.label, "rows": []}
        host_times = self._host_times()
        a, b = self.analysis.chips[0], self.analysis.chips[-1]
        rows = []
        for row in netview.sort_rows(self._rows, self.sort_key):
            rows.append({
                "index": row.index, "name": row.name, "shape": row.shape,
                "flops_per_image": row.flops, "arithmetic_intensity": row.arithmetic_intensity,
                f"{a}_time_s": row.time_a, f"{b}_time_s": row.time_b,
                f"{a}_bound": row.bound_a, f"{b}_bound": row.bound_b,
                "host_time_s": host_times[row.index] if host_times else None,
            })
        return {"view": "network", "analysis": self.analysis.to_dict(layers=False),
                "host_run": None if self.host_run is None else {
                    k: v for k, v in self.host_run.to_dict().items() if k != "layers"},
                "host_session": self.host_session,
                "rows": rows}


FUSED_NOTE = "timing the fused session (HostSession: the layers fused into the convolutions)"


def _measure_session(network, batch: int) -> dict:
    """The fused HostSession on the network the view runs (median of 5 after a warm-up), or
    why it refused (an op it cannot run, the memory limit)."""
    from ipuexplore.networks import session as sessions

    try:
        with sessions.HostSession(network, batch) as session:
            out, _ = session_check.measure(session, runs=5)
    except Exception as exc:  # noqa: BLE001 - a refusal is shown, the layer-by-layer run stands
        return {"error": str(exc)}
    return {k: out[k] for k in ("wall_s", "images_per_s", "layers", "steps", "workers", "batch",
                                *sessions.PHASE_KEYS)}
