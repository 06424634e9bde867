"""Command-line conventions, through the installed console script as a user runs it."""

import json
import os
import pty
import shutil
import subprocess
import sys

import pytest

import ipuexplore
from ipuexplore.hardware import list_chips

EXE = shutil.which("ipuexplore") or pytest.skip("ipuexplore console script not installed", allow_module_level=True)


def run(*args, **kwargs):
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=60, **kwargs)


def test_version_prints_the_package_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"ipuexplore {ipuexplore.__version__}"


def test_bare_command_in_a_pipe_prints_usage_and_exits_2():
    result = run(stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: ipuexplore")
    assert "ipuexplore: error:" in result.stderr
    assert result.stdout == ""


def test_bare_command_with_a_terminal_stdin_but_piped_stdout_still_refuses():
    # stdin is a real terminal (a pty), stdout a pipe: the explorer must not draw into the pipe.
    leader, follower = pty.openpty()
    try:
        result = run(stdin=follower)
    finally:
        os.close(follower)
        os.close(leader)
    assert result.returncode == 2
    assert "usage: ipuexplore" in result.stderr


def test_chips_lists_every_id_with_a_description():
    result = run("chips")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list_chips()
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)  # each id has a description
    assert "NVIDIA V100" in result.stdout


@pytest.mark.parametrize("command", ["layer", "sweep", "net"])
def test_dtype_choices_are_in_help(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert "--dtype {fp16,fp32}" in result.stdout


def test_bad_dtype_is_one_error_and_exit_2():
    result = run("layer", "--dtype", "fp8")
    assert result.returncode == 2
    assert result.stderr.startswith("ipuexplore: error:") and "fp8" in result.stderr
    assert "Traceback" not in result.stderr


def test_python_dash_m_matches_the_script():
    result = subprocess.run([sys.executable, "-m", "ipuexplore", "--version"], capture_output=True, text=True,
                            timeout=60, cwd=os.path.dirname(EXE))
    assert result.stdout.strip() == f"ipuexplore {ipuexplore.__version__}"


def _json(*argv: str) -> dict:
    result = run(*argv, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_layer_sweep_and_net_share_one_json_vocabulary():
    docs = [_json("layer", "--chips", "ipu-mk1,v100", "--train"),
            _json("sweep", "--chips", "ipu-mk1,v100", "--train"),
            _json("sweep", "--over", "batch", "--batches", "1,2", "--chips", "ipu-mk1,v100", "--train"),
            _json("net", "mobilenet_v2", "--chips", "ipu-mk1,v100", "--train")]
    for doc in docs:
        assert (doc["schema"], doc["mode"], doc["train"]) == (1, "train", True)
    layer, net = docs[0], docs[3]
    for doc in (layer, net):
        assert doc["baseline"] == "v100" and set(doc["ipu_over_gpu_speedup"]) == {"ipu-mk1/v100"}
        ipu, gpu = doc["chips"]["ipu-mk1"], doc["chips"]["v100"]
        # under --train every ratio is the training step's
        assert ipu["throughput_ratio"] == pytest.approx(gpu["time_s"] / ipu["time_s"])
        assert doc["ipu_over_gpu_speedup"]["ipu-mk1/v100"] == pytest.approx(ipu["throughput_ratio"])
        assert ipu["throughput_img_s"] == pytest.approx(doc.get("batch", 1) / ipu["time_s"])
