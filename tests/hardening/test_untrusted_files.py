"""Untrusted chip spec (TOML) and ONNX files end to end: malformed, truncated,
huge, wrong units or types, negative values. Each gives one ValueError line naming the file and
the problem; the CLI (`layer --hw-file`, `net FILE.onnx`, `net --hw-file`) exits 2 with exactly
that line on stderr; the explorer's network view shows it. Mutation tests (hypothesis) check that
no corruption of a valid file gets past as anything but that one line.

Every bad file is generated in tmp_path (ONNX through onnx.helper); nothing is downloaded.
IPX_HARDENING_THOROUGH=1 runs 20x the mutation examples.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipuexplore.cli import main
from ipuexplore.hardware import load_chip
from ipuexplore.hardware.loader import MAX_FILE_BYTES as SPEC_MAX_BYTES
from ipuexplore.networks import load_onnx

SCALE = 20 if os.environ.get("IPX_HARDENING_THOROUGH") == "1" else 1
ROOT = Path(__file__).resolve().parents[2]
# A user's copy of a shipped spec, renamed so it does not clash with the shipped v100.
SPEC = (ROOT / "ipuexplore" / "hardware" / "v100.toml").read_text().replace('id = "v100"', 'id = "my-v100"')


def _with_value(field: str, raw: str) -> str:
    """SPEC with ``field``'s value written as ``raw`` (whatever the shipped value is today)."""
    text, n = re.subn(rf"^({field} = {{ value = )[^,]+,", rf"\g<1>{raw},", SPEC, flags=re.M)
    assert n == 1, f"v100.toml has no single figure {field}"
    return text


def _one_line_cli_error(argv, capsys) -> str:
    """Run the CLI in-process: it must return non-zero with one 'ipuexplore: error:' line."""
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("ipuexplore: error: "), err
    return lines[0].removeprefix("ipuexplore: error: ")


def _load_error(load, path) -> str:
    with pytest.raises(ValueError) as info:
        load(path)
    message = str(info.value)
    assert message and "\n" not in message
    assert str(path) in message, message  # which file
    return message


# ---------------------------------------------------------------------------------------
# chip spec files


SPEC_CASES = {
    # id: (file content as text or bytes, words the one-line error must contain)
    "malformed": (SPEC.replace("value = 900,", "value = 9OO,"), ["not valid TOML", "hbm_bw_gb_s"]),
    "truncated": (SPEC[: SPEC.index("l2_mb = {") + 9], ["not valid TOML", "l2_mb"]),
    "truncated_at_line": (SPEC[: SPEC.index("l2_mb = {")], ["missing field figures.l2_mb"]),
    "empty": ("", ["missing field 'id'"]),
    "binary": (b"\x00\xff\xfe\x89PNG\r\n", ["not UTF-8"]),
    "huge": (SPEC + "# " + "x" * SPEC_MAX_BYTES + "\n", ["larger than", str(SPEC_MAX_BYTES)]),
    "deeply_nested": ("a = " + "[" * 60000 + "]" * 60000 + "\n", ["nested too deeply"]),
    "number_too_long": (SPEC.replace("value = 80,", "value = 8" + "0" * 5000 + ","), ["number is too long"]),
    "wrong_unit_name": (SPEC.replace("hbm_bw_gb_s", "hbm_bw_tb_s"), ["hbm_bw_tb_s", "did you mean hbm_bw_gb_s"]),
    "wrong_unit_value": (SPEC.replace("value = 900,", "value = 900e9,"), ["figures.hbm_bw_gb_s", "plausible range", "units"]),
    "percent_not_fraction": (_with_value("hbm_efficiency", "83"), ["figures.hbm_efficiency"]),
    "negative": (SPEC.replace("value = 16,", "value = -16,"), ["figures.hbm_gb", "> 0", "-16"]),
    "zero": (SPEC.replace("value = 6,", "value = 0,"), ["figures.l2_mb", "> 0"]),
    "nan": (SPEC.replace("value = 125,", "value = nan,"), ["figures.peak_fp16_tensor_tflop_s", "finite"]),
    "inf": (SPEC.replace("value = 125,", "value = inf,"), ["figures.peak_fp16_tensor_tflop_s", "finite"]),
    "string_value": (SPEC.replace("value = 80,", 'value = "80",'), ["figures.sms", "must be a number"]),
    "bool_value": (SPEC.replace("value = 80,", "value = true,"), ["figures.sms", "must be a number"]),
    "fractional_count": (SPEC.replace("value = 80,", "value = 80.5,"), ["figures.sms", "whole number"]),
    "figures_not_table": (SPEC[: SPEC.index("[sources]")] + "figures = [1, 2]\n", ["[figures]"]),
    "wrong_family": (SPEC.replace('family = "gpu"', 'family = "tpu"'), ["'family'", "tpu"]),
    "unknown_source": (SPEC.replace('src = "q" }', 'src = "zz" }', 1), ["figures.sms", "'zz'"]),
}


def _write(tmp_path, name, content) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize("case", sorted(SPEC_CASES))
def test_bad_spec_file_is_one_line_in_loader_and_cli(case, tmp_path, capsys):
    content, words = SPEC_CASES[case]
    assert content != SPEC, "the case's edit no longer matches v100.toml"
    path = _write(tmp_path, f"{case}.toml", content)
    message = _load_error(load_chip, path)
    for word in words:
        assert word in message, message
    # The same line from every command that takes --hw-file, and nothing on stdout.
    assert _one_line_cli_error(["layer", "--hw-file", str(path)], capsys) == message
    assert _one_line_cli_error(["net", "mobilenet_v2", "--hw-file", str(path)], capsys) == message


def test_spec_path_that_is_not_a_file(tmp_path, capsys):
    (tmp_path / "dir.toml").mkdir()
    for path in (tmp_path / "dir.toml", tmp_path / "missing.toml"):
        message = _load_error(load_chip, path)
        assert "cannot read chip spec" in message
        assert _one_line_cli_error(["layer", "--hw-file", str(path)], capsys) == message


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_endless_device_is_refused_after_a_bounded_read(tmp_path):
    # Regression: stat() says 0 bytes, so the size check passed and read_text() read until
    # MemoryError (a traceback from the CLI).
    # In a child capped at 1 GiB of address space, so a regression fails instead of eating RAM.
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    proc = subprocess.run([sys.executable, "-m", "ipuexplore", "layer", "--hw-file", "/dev/zero"],
                          capture_output=True, text=True, timeout=120, preexec_fn=cap, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-500:]
    assert proc.stderr == f"ipuexplore: error: /dev/zero: more than {SPEC_MAX_BYTES} bytes; not a chip spec\n"
    if onnx is not None:
        assert "not a regular file" in _load_error(load_onnx, "/dev/zero")


@settings(max_examples=40 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                st.sampled_from(list('0123456789-.e[]{}="\n, x_')) | st.none()),
                      min_size=1, max_size=4),
       cut=st.none() | st.floats(0, 1))
def test_mutated_spec_loads_or_fails_on_one_line(edits, cut, tmp_path_factory):
    text = SPEC
    for where, char in edits:  # replace (or, with None, delete) one character
        i = int(where * len(text))
        text = text[:i] + (char or "") + text[i + 1:]
    if cut is not None:
        text = text[: int(cut * len(text))]
    path = tmp_path_factory.mktemp("spec") / "mutated.toml"
    path.write_text(text)
    try:
        chip = load_chip(path)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert chip.spec.hbm_bw_gb_s > 0 and chip.spec.sms >= 1  # loaded: its figures passed the ranges


# ---------------------------------------------------------------------------------------
# ONNX files

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:  # the optional extra: the spec tests above still run
    onnx = None
needs_onnx = pytest.mark.skipif(onnx is None, reason="needs the optional onnx package: pip install '.[onnx]'")


def _tensor(name, dims, data_type=None, raw=None, external=None):
    """A TensorProto whose header may lie about its data (built by hand, not from numpy)."""
    t = onnx.TensorProto()
    t.name, t.data_type = name, TensorProto.FLOAT if data_type is None else data_type
    t.dims.extend(dims)
    if raw is not None:
        t.raw_data = raw
    if external is not None:
        t.data_location = TensorProto.EXTERNAL
        entry = t.external_data.add()
        entry.key, entry.value = "location", external
    return t


def _model(x_dims=(1, 8, 16, 16), x_type=None, weight=None, conv=None, extra=(), inits=()):
    """Conv(group 4) -> [extra nodes] on an 8-channel image: valid unless a part is replaced."""
    x_type = TensorProto.FLOAT if x_type is None else x_type
    x = helper.make_tensor_value_info("x", x_type, list(x_dims))
    weight = weight if weight is not None else numpy_helper.from_array(np.ones((8, 2, 3, 3), np.float32), "w")
    conv = dict(group=4, pads=[1, 1, 1, 1]) if conv is None else conv
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv1", **conv), *extra]
    last = [n for n in nodes if n.output][-1].output[0]
    graph = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info(last, TensorProto.FLOAT, None)],
                              [weight, *inits])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


_W = "w"


def _onnx_cases():
    good = _model(extra=[helper.make_node("Relu", ["y"], ["r"], name="relu"),
                         helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
                         helper.make_node("GlobalAveragePool", ["p"], ["gap"], name="gap"),
                         helper.make_node("Flatten", ["gap"], ["f"], name="flat"),
                         helper.make_node("Gemm", ["f", "fw", "fb"], ["o"], name="fc", transB=1)],
                  inits=[numpy_helper.from_array(np.ones((10, 8), np.float32), "fw"),
                         numpy_helper.from_array(np.zeros(10, np.float32), "fb")])

    return good, {
        # id: (file bytes, words the one-line error must contain)
        "garbage": (b"\x08\x07garbage\xff\xff\xff", ["not a readable ONNX model"]),
        "truncated": (good[: len(good) // 2], ["not a readable ONNX model"]),
        "empty": (b"", ["no nodes"]),
        "negative_dim": (_model(x_dims=(1, 8, -16, 16)), ["input 'x'", "H=-16"]),
        "zero_dim": (_model(x_dims=(1, 8, 16, 0)), ["input 'x'", "W=0"]),
        "huge_dim": (_model(x_dims=(1, 8, 2**40, 16)), ["input 'x'", f"H={2**40}", "outside"]),
        "huge_channels": (_model(x_dims=(1, 2**31, 16, 16)), ["input 'x'", f"C={2**31}"]),
        "unknown_dims": (_model(x_dims=(1, 8, "height", 16)), ["known shape"]),
        "int_image": (_model(x_type=TensorProto.INT64), ["input 'x'", "INT64"]),
        "string_image": (_model(x_type=TensorProto.STRING), ["input 'x'", "STRING"]),
        "int_weight": (_model(weight=numpy_helper.from_array(np.ones((8, 2, 3, 3), np.int32), _W)),
                       ["node 'conv1'", "weight 'w'", "int32"]),
        "weight_rank": (_model(weight=numpy_helper.from_array(np.ones((8, 2, 3), np.float32), _W)),
                        ["node 'conv1'", "4-D", "[8, 2, 3]"]),
        "weight_claims_huge": (_model(weight=_tensor(_W, [2**31, 2, 3, 3])), ["initializer 'w'", "cannot be read"]),
        "weight_data_short": (_model(weight=_tensor(_W, [8, 2, 3, 3], raw=b"\0" * 10)), ["initializer 'w'", "cannot be read"]),
        "weight_unknown_type": (_model(weight=_tensor(_W, [8, 2, 3, 3], data_type=999)), ["initializer 'w'", "999"]),
        "weight_outside_dir": (_model(weight=_tensor(_W, [8, 2, 3, 3], external="../../../etc/passwd")),
                               ["not a readable ONNX model", "outside"]),
        "negative_weight_dims": (_model(weight=_tensor(_W, [-8, 2, 3, 3])), ["node 'conv1'"]),
        "zero_groups": (_model(conv=dict(group=0)), ["node 'conv1'", "0 groups"]),
        "negative_groups": (_model(conv=dict(group=-4)), ["node 'conv1'", "-4 groups"]),
        "zero_stride": (_model(conv=dict(group=4, strides=[0, 1])), ["node 'conv1'", "stride"]),
        "negative_pad": (_model(conv=dict(group=4, pads=[-5, 1, 1, 1])), ["node 'conv1'", "pad", "-5"]),
        "short_pads": (_model(conv=dict(group=4, pads=[1, 1])), ["node 'conv1'", "pads must have 4 values"]),
        "zero_dilation": (_model(conv=dict(group=4, dilations=[0, 0])), ["node 'conv1'", "dilation"]),
        "bad_auto_pad": (_model(conv=dict(group=4, auto_pad="MIDDLE")), ["node 'conv1'", "auto_pad 'MIDDLE'"]),
        "kernel_too_big": (_model(weight=numpy_helper.from_array(np.ones((8, 2, 40, 40), np.float32), _W), conv=dict(group=4)),
                           ["node 'conv1'", "empty"]),
        "pool_without_kernel": (_model(extra=[helper.make_node("MaxPool", ["y"], ["p"], name="mp")]),
                                ["node 'mp'", "kernel_shape"]),
        "pool_kernel_zero": (_model(extra=[helper.make_node("MaxPool", ["y"], ["p"], name="mp", kernel_shape=[0, 0])]),
                             ["node 'mp'"]),
        "gemm_weight_1d": (_model(extra=[helper.make_node("Gemm", ["y", "gw"], ["o"], name="fc")],
                                  inits=[numpy_helper.from_array(np.ones(5, np.float32), "gw")]), ["node 'fc'", "2-D"]),
        "clip_bound_not_number": (_model(extra=[helper.make_node("Clip", ["y", "lo"], ["o"], name="clip")],
                                         inits=[numpy_helper.from_array(np.array(["a"], dtype=object), "lo")]),
                                  ["node 'clip'"]),
        # found by mutating files: a node without outputs, an op name that is not UTF-8
        # (two bytes of a mutant: Conv -> "Con\x1a", which shape inference skips, and the
        # Flatten's output tag -> an unknown field, so the Flatten has none)
        "node_without_outputs": (good.replace(b'"\x04Conv', b'"\x04Con\x1a')
                                 .replace(b"\n\x03gap\x12\x01f", b"\n\x03gap\x7a\x01f"),
                                 ["node 'flat'", "no outputs"]),
        "name_not_utf8": (good.replace(b'"\x04Relu', b'"\x04R\xfflu').replace(b'"\x04Conv', b'"\x04Con\x1a'),
                          ["node 'relu'", "not UTF-8"]),  # a bytes op name beside str ones broke sorting
        "dangling_input": (_model(extra=[helper.make_node("Relu", ["nowhere"], ["o"], name="r")]),
                           ["node 'r'", "'nowhere'"]),
    }


GOOD, ONNX_CASES = _onnx_cases() if onnx is not None else (b"", {})


@pytest.mark.parametrize("case", sorted(ONNX_CASES))
def test_bad_onnx_file_is_one_line_in_loader_and_cli(case, tmp_path, capsys):
    content, words = ONNX_CASES[case]
    path = _write(tmp_path, f"{case}.onnx", content)
    message = _load_error(load_onnx, path)
    for word in words:
        assert word in message, message
    assert _one_line_cli_error(["net", str(path)], capsys) == message
    assert _one_line_cli_error(["net", str(path), "--json"], capsys) == message


@needs_onnx
def test_onnx_over_two_gib_is_refused_before_reading(tmp_path, monkeypatch, capsys):
    path = tmp_path / "huge.onnx"
    with open(path, "wb") as f:
        f.truncate(2**31 + 8)  # sparse: costs no disk

    def never(*args, **kwargs):
        raise AssertionError("onnx.load read a file over the limit")

    monkeypatch.setattr(onnx, "load", never)
    message = _load_error(load_onnx, path)
    assert f"{2**31 + 8} bytes" in message and "2 GiB" in message
    assert _one_line_cli_error(["net", str(path)], capsys) == message


@needs_onnx
@settings(max_examples=60 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.none() | st.floats(0, 1))
def test_mutated_onnx_loads_or_fails_on_one_line(edits, cut, tmp_path_factory):
    # Found: a node without outputs (IndexError) and names that are not UTF-8 (bytes, then a
    # TypeError sorting op names) escaped as tracebacks.
    data = bytearray(GOOD)
    for where, byte in edits:
        data[int(where * len(data))] = byte
    if cut is not None:
        data = data[: int(cut * len(data))]
    path = tmp_path_factory.mktemp("onnx") / "mutated.onnx"
    path.write_bytes(bytes(data))
    try:
        network = load_onnx(path)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert network.layers and network.flops >= 0
    assert all(isinstance(layer.name, str) for layer in network.layers)


@needs_onnx
def test_console_script_prints_one_line_and_exits_2(tmp_path):
    # The real process: exit status and stderr as a shell sees them (no traceback).
    spec = _write(tmp_path, "neg.toml", SPEC_CASES["negative"][0])
    net = _write(tmp_path, "neg.onnx", ONNX_CASES["negative_dim"][0])
    for argv, name in ((["layer", "--hw-file", str(spec)], "neg.toml"), (["net", str(net)], "neg.onnx"),
                       (["net", "resnet50", "--hw-file", str(spec)], "neg.toml")):
        proc = subprocess.run([sys.executable, "-m", "ipuexplore", *argv], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)
        assert proc.returncode == 2, proc
        assert proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("ipuexplore: error: "), proc.stderr
        assert name in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------
# the explorer: the network view shows the loader's line for a bad ONNX path
# (chip specs reach the explorer only as the shipped ids, so no spec path to test there)


@needs_onnx
@pytest.mark.tui
def test_network_view_shows_the_error_of_each_bad_onnx_file(tmp_path):
    import asyncio

    textual = pytest.importorskip("textual")  # noqa: F841
    from rich.console import Console
    from textual.widgets import DataTable, Input

    from ipuexplore.tui.app import IpuExploreApp

    cases = ["negative_dim", "int_weight", "pool_without_kernel", "truncated"]
    paths = {case: _write(tmp_path, f"{case}.onnx", ONNX_CASES[case][0]) for case in cases}
    expected = {case: _load_error(load_onnx, path) for case, path in paths.items()}
    shown = {}

    def text_of(widget) -> str:
        console = Console(width=400, record=True, color_system=None, file=open(os.devnull, "w"))
        console.print(widget.content if hasattr(widget, "content") else widget.render())
        return console.export_text().replace("\n", " ")

    async def wait_analysed(app, pilot):
        workers = [w for w in app.workers if w.group == "analyse"]
        await asyncio.wait_for(app.workers.wait_for_complete(workers), 30)
        await pilot.pause()

    async def body():
        app = IpuExploreApp(live=False)
        async with app.run_test(size=(400, 40)) as pilot:
            await pilot.pause()
            await pilot.press("n")
            await pilot.pause()
            await wait_analysed(app, pilot)
            screen = app.screen
            field = screen.query_one("#net-onnx", Input)
            for case, path in paths.items():
                field.focus()
                field.value = str(path)
                await pilot.press("enter")
                await pilot.pause()
                await wait_analysed(app, pilot)
                shown[case] = (text_of(screen.query_one("#net-summary")), screen.query_one(DataTable).row_count,
                               screen.analysis)

    asyncio.run(body())
    for case in cases:
        summary, rows, analysis = shown[case]
        assert expected[case] in summary, (case, summary)
        assert rows == 0 and analysis is None
