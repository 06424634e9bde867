"""`ipuexplore layer ... --measure`: the engine's run of the layer in the JSON and the table."""

from __future__ import annotations

import json

import pytest

from ipuexplore.cli import main

SMALL = ["--channels", "32", "--size", "8", "--group-size", "4", "--batch", "2"]


def _engine_built() -> bool:
    try:
        import ipuexplore.engine  # noqa: F401
    except Exception:  # noqa: BLE001 - not built, or mid-rebuild
        return False
    return True


needs_engine = pytest.mark.skipif(not _engine_built(), reason="engine not built")


@needs_engine
@pytest.mark.parametrize("train", [False, True])
def test_json_measured_has_both_algorithms(capsys, train):
    argv = ["layer", *SMALL, "--measure", "--workers", "1", "--json"] + (["--train"] if train else [])
    assert main(argv) == 0
    measured = json.loads(capsys.readouterr().out)["measured"]
    assert set(measured) == {"direct", "gemm"}
    flops = (3 if train else 1) * 2 * 32 * 8 * 8 * 4 * 9 * 2  # passes x batch x MACs x 2
    for m in measured.values():
        assert {"time_s", "gflop_s", "gb_s", "kernel"} <= set(m) and m["workers"] == 1
        assert m["time_s"] > 0 and m["kernel"]
        # the engine counts executed FLOPs (stride-1 backward: no inserted zeros)
        assert m["gflop_s"] * m["time_s"] * 1e9 == pytest.approx(flops, rel=0.35)


@needs_engine
def test_table_gets_a_row_per_algorithm_and_the_peer(capsys):
    pytest.importorskip("torch")
    assert main(["layer", *SMALL, "--measure", "--peer", "torch"]) == 0
    out = capsys.readouterr().out
    assert "measured on this host" in out
    for row in ("host direct", "host gemm", "host torch"):
        assert row in out


@pytest.mark.parametrize("argv, words", [(["--peer", "torch"], "--peer and --workers go with --measure"),
                                         (["--measure", "--peer", "tf"], "--peer must be torch"),
                                         (["--measure", "--workers", "0"], "--workers must be >= 1")])
def test_wrong_measure_options(capsys, argv, words):
    assert main(["layer", *SMALL, *argv]) == 2
    assert words in capsys.readouterr().err


@needs_engine
def test_dense_3x3_layer_is_also_measured_on_the_winograd_kernel(capsys):
    argv = ["layer", "--channels", "16", "--size", "10", "--group-size", "16", "--batch", "1",
            "--measure", "--workers", "1", "--json"]
    assert main(argv) == 0
    measured = json.loads(capsys.readouterr().out)["measured"]
    assert set(measured) == {"direct", "gemm", "winograd"}
    assert measured["winograd"]["kernel"] == "winograd" and measured["winograd"]["time_s"] > 0
