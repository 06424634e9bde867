"""The conv benchmark's table and ratio comparison (its __main__) on small --benchmark-json files."""

import json

import test_conv_bench as bench


def _run(path, direct, torch_cl, machine_info=True):
    cases = [("direct", direct), ("torch_nchw", torch_cl / 2), ("torch_cl", torch_cl)]
    benchmarks = [{"extra_info": {"shape": "A", "channels_per_group": 4, "pass_": "fwd", "impl": impl,
                                  "gflop_s": g, "pct_peak": 50.0, "pct_roofline": 60.0}} for impl, g in cases]
    facts = {"peak_gflop_s": 200.0, "mem_bw_gb_s": 30.0, "workers": 2}
    data = {"benchmarks": benchmarks, "machine_info": {"ipuexplore_engine": facts} if machine_info else {}}
    if not machine_info:  # files written before machine_info held the facts
        benchmarks[0]["extra_info"].update(facts)
    path.write_text(json.dumps(data))
    return str(path)


def test_table_reads_machine_info_and_old_files(tmp_path, capsys):
    new = _run(tmp_path / "new.json", 100.0, 50.0)
    old = _run(tmp_path / "old.json", 90.0, 50.0, machine_info=False)
    assert bench.main([new, old]) == 0
    out = capsys.readouterr().out
    assert "| A | 4 | fwd | 95.0 |" in out and "1.90x" in out and "host peak 200-200 GFLOP/s" in out


def test_ratio_comparison_fails_only_on_a_drop_beyond_the_threshold(tmp_path, capsys):
    base = _run(tmp_path / "base.json", 100.0, 50.0)  # 2.0x
    slower = _run(tmp_path / "slower.json", 85.0, 50.0)  # 1.7x: -15%
    busier = _run(tmp_path / "busier.json", 50.0, 25.0)  # everything halved: ratio unchanged
    assert bench.main([slower, "--baseline", base, "--fail-drop", "10"]) == 1
    assert "-15% FAIL" in capsys.readouterr().out
    assert bench.main([busier, "--baseline", base]) == 0
    assert bench.main([slower, "--baseline", base, "--fail-drop", "20"]) == 0
