"""Chip specs: shipped files load with sources; malformed user files fail naming the field."""

import sys
import types

import pytest

from ipuexplore.hardware import SYSTEM_IDS, TAGS, list_chips, load_chip, parse_chip
from ipuexplore.hardware.loader import MAX_FILE_BYTES
from ipuexplore.hardware.spec import GpuSpec, IpuSpec

IDS = ["ipu-mk1", "ipu-mk2", "ipu-bow", "v100", "v100-2019", "a100-40gb", "a100-80gb", "h100", "a100-80gb-mlperf", "h100-mlperf", "host"]


def test_list_chips_is_the_issue_ids():
    assert list_chips() == IDS + list(SYSTEM_IDS)


@pytest.mark.parametrize("chip_id", IDS)
def test_every_shipped_figure_has_a_tag_and_a_source(chip_id):
    chip = load_chip(chip_id)
    assert chip.id == chip_id
    assert chip.figures, chip_id
    for name, fig in chip.figures.items():
        assert fig.tag in TAGS, (chip_id, name)
        if fig.source == "not present on this chip (field omitted)":
            continue
        assert fig.source and fig.source != "no source given", (chip_id, name)
        # the source text carries at least one citation from the file's [sources] table
        assert any(f"{key}: " in fig.source for key in chip.sources), (chip_id, name)


@pytest.mark.parametrize("chip_id", ["ipu-mk1", "ipu-mk2", "ipu-bow"])
def test_ipu_peaks_follow_tiles_clock_and_amp_width(chip_id):
    # chips.md: peak = 2 x tiles x clock x MACs/cycle/tile reproduces every published IPU peak
    s = load_chip(chip_id).spec
    assert isinstance(s, IpuSpec)
    derived = 2 * s.tiles * s.clock_ghz * 1e9 * s.amp_fp16_macs_per_cycle_per_tile / 1e12
    assert derived == pytest.approx(s.peak_fp16_tflop_s, rel=0.02)
    derived32 = 2 * s.tiles * s.clock_ghz * 1e9 * s.amp_fp32_macs_per_cycle_per_tile / 1e12
    assert derived32 == pytest.approx(s.peak_fp32_tflop_s, rel=0.02)


def test_published_figures_match_chips_md():
    mk1 = load_chip("ipu-mk1").spec
    assert (mk1.tiles, mk1.sram_per_tile_kib, mk1.peak_fp16_tflop_s) == (1216, 256, 124.5)
    assert mk1.sram_total_bytes == 304 * 2**20
    assert mk1.exchange_bw_b_s == pytest.approx(7.8e12, rel=0.01)
    v100 = load_chip("v100").spec
    assert isinstance(v100, GpuSpec)
    assert (v100.hbm_bw_gb_s, v100.peak_fp16_tensor_tflop_s, v100.l2_mb, v100.sms) == (900, 125, 6, 80)
    assert v100.peak_tf32_tensor_tflop_s == 0  # omitted: Volta has no TF32
    assert load_chip("a100-80gb").spec.hbm_bw_gb_s == 2039
    assert load_chip("h100").spec.peak_fp16_tensor_tflop_s == 989.4


def test_field_types_follow_the_dataclass():
    s = load_chip("v100").spec
    assert isinstance(s.sms, int) and isinstance(s.hbm_bw_gb_s, float)  # 900 in the file


def test_docstring_examples():
    import doctest

    import ipuexplore.hardware
    import ipuexplore.models

    for module in (ipuexplore.hardware, ipuexplore.models):
        assert doctest.testmod(module).failed == 0


def test_chip_views():
    v100 = load_chip("v100")
    assert v100.peak_flop_s("fp16") == 125e12
    assert v100.peak_flop_s("fp32") == 15.7e12
    assert load_chip("a100-40gb").peak_flop_s("fp32") == 156e12  # TF32 tensor cores
    assert [lvl[0] for lvl in load_chip("ipu-mk2").memory_levels()] == ["sram", "streaming"]
    assert "[V]" in v100.source_of("hbm_bw_gb_s")


# ---- users' own files -----------------------------------------------------------------
def _user_gpu(**overrides) -> str:
    values = dict(
        sms=80, clock_ghz=1.53, peak_fp32_tflop_s=15.7, peak_fp16_tensor_tflop_s=125, hbm_gb=16,
        hbm_bw_gb_s=900, l2_mb=6, l2_bw_tb_s=3.1, launch_overhead_us=3,
        tensor_core_efficiency=0.66, cuda_core_efficiency=0.8, hbm_efficiency=0.9,
    )
    values.update(overrides)
    body = "\n".join(f"{k} = {v}" for k, v in values.items() if v is not None)
    return f'schema = 1\nid = "my-gpu"\nname = "My GPU"\nfamily = "gpu"\n[figures]\n{body}\n'


def test_user_file_with_bare_numbers_loads(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text(_user_gpu())
    chip = load_chip(str(path))
    assert chip.id == "my-gpu" and chip.spec.hbm_bw_gb_s == 900
    assert chip.figures["sms"].tag == "U"  # no source given: unverified


@pytest.mark.parametrize(
    "text, field",
    [
        (_user_gpu(hbm_bw_gb_s=None), "figures.hbm_bw_gb_s"),  # missing
        (_user_gpu(sms='"eighty"'), "figures.sms"),  # wrong type
        (_user_gpu(sms=80.5), "figures.sms"),  # not a whole number
        (_user_gpu(hbm_bw_gb_s=-900), "figures.hbm_bw_gb_s"),  # negative
        (_user_gpu(l2_mb=0), "figures.l2_mb"),  # zero
        (_user_gpu(hbm_bw_gb_s=9e11), "figures.hbm_bw_gb_s"),  # B/s in a GB/s field
        (_user_gpu(hbm_efficiency=90), "figures.hbm_efficiency"),  # percent, not fraction
        (_user_gpu(hbm_bw_gb_s="true"), "figures.hbm_bw_gb_s"),  # bool is not a number
        (_user_gpu(hbm_bw_gb_s="nan"), "figures.hbm_bw_gb_s"),  # not finite
        (_user_gpu(hbm_bw_gb_s="9OO"), "hbm_bw_gb_s"),  # not TOML: the line's field is named
        (_user_gpu().replace("hbm_bw_gb_s", "hbm_bw_tb_s"), "hbm_bw_tb_s"),  # wrong unit name
        (_user_gpu().replace('family = "gpu"', 'family = "tpu"'), "family"),
        (_user_gpu().replace('id = "my-gpu"\n', ""), "'id'"),
        (_user_gpu()[:-30], "TOML"),  # truncated mid-line
        (_user_gpu()[:-24], "cuda_core_efficiency"),  # truncated after "="
        (_user_gpu().replace("sms = 80", 'sms = { value = 80, tag = "Q" }'), "figures.sms"),
        (_user_gpu().replace("sms = 80", 'sms = { value = 80, tag = "V", src = "zz" }'), "figures.sms"),
        (_user_gpu().replace("sms = 80", 'sms = { tag = "V" }'), "figures.sms"),
    ],
)
def test_malformed_user_file_fails_on_one_line_naming_the_field(tmp_path, text, field):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_chip(str(path))
    message = str(info.value)
    assert field in message
    assert "\n" not in message
    assert str(path) in message


def test_wrong_unit_name_suggests_the_right_field():
    with pytest.raises(ValueError, match="did you mean hbm_bw_gb_s"):
        parse_chip(_user_gpu().replace("hbm_bw_gb_s", "hbm_bw_tb_s"))


def test_huge_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "huge.toml"
    path.write_text(_user_gpu() + "# " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(ValueError, match="larger than"):
        load_chip(str(path))


def test_missing_file_and_unknown_id(tmp_path):
    with pytest.raises(ValueError, match="cannot read chip spec"):
        load_chip("/nonexistent/chip.toml")
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ValueError, match="cannot read chip spec"):
        load_chip(str(tmp_path / "dir.toml"))
    (tmp_path / "bin.toml").write_bytes(b"\x00\xff\xfe")
    with pytest.raises(ValueError, match="not UTF-8"):
        load_chip(str(tmp_path / "bin.toml"))
    with pytest.raises(ValueError, match="unknown chip 'tpu-v9'"):
        load_chip("tpu-v9")


# ---- the host ---------------------------------------------------------------------------
def test_host_defaults_are_the_dev_machine_measurements():
    host = load_chip("host")
    assert host.spec.peak_fp32_gflop_s == 179 and host.spec.dram_bw_gb_s == 17 and host.spec.l3_bw_gb_s == 115
    assert host.figures["peak_fp32_gflop_s"].tag == "M"
    assert "2-core AVX2 dev machine" in host.figures["peak_fp32_gflop_s"].source


def test_host_uses_engine_peaks_when_asked(monkeypatch):
    fake = types.ModuleType("ipuexplore.engine")
    fake.host_peaks = lambda: types.SimpleNamespace(peak_flop_s=250e9, mem_bw_b_s=20e9, workers=4)
    monkeypatch.setitem(sys.modules, "ipuexplore.engine", fake)
    import ipuexplore

    monkeypatch.setattr(ipuexplore, "engine", fake, raising=False)
    host = load_chip("host", measure_host=True)
    assert host.spec.peak_fp32_gflop_s == 250 and host.spec.dram_bw_gb_s == 20 and host.spec.cores == 4
    assert host.figures["dram_bw_gb_s"].tag == "M"
    assert load_chip("host").spec.peak_fp32_gflop_s == 179  # without asking: defaults


def test_host_falls_back_when_engine_fails(monkeypatch):
    fake = types.ModuleType("ipuexplore.engine")

    def broken():
        raise RuntimeError("engine not built")

    fake.host_peaks = broken
    monkeypatch.setitem(sys.modules, "ipuexplore.engine", fake)
    import ipuexplore

    monkeypatch.setattr(ipuexplore, "engine", fake, raising=False)
    assert load_chip("host", measure_host=True).spec.peak_fp32_gflop_s == 179
