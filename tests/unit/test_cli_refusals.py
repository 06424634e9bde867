"""The CLI's refusals and messages, run as a user runs them (a subprocess): one line, the
option named, the same words for the same mistake; an oversized --run refused before it
allocates anything."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _cli(*argv):
    # from "/": `-m` puts the working directory first on sys.path, and a checkout (where CI
    # runs) has no compiled engine, which the --run refusals need
    return subprocess.run([sys.executable, "-m", "ipuexplore", *argv], capture_output=True, text=True, timeout=120,
                          cwd="/")


def test_an_oversized_run_is_refused_in_one_line_without_allocating():
    # The CLI runs in a fresh interpreter that reports its own peak RSS (VmHWM belongs to the
    # exec'd image; getrusage's maxrss would carry the forking test process's size)
    code = ("import sys; from ipuexplore.cli import main; code = main(sys.argv[1:]); "
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code, "net", "resnet50", "--run", "--batch", "100000"],
                          capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ipuexplore: error: --run at --batch 100000 needs about")
    assert "memory limit" in lines[0] and "Traceback" not in done.stderr
    assert int(done.stdout.split()[-1]) < 1024 * 1024  # KiB: well under 1 GiB (the run would need TBs)


def test_the_run_memory_estimate_grows_with_the_batch():
    from ipuexplore.cli.net import run_memory_bytes
    from ipuexplore.networks import build

    net = build("resnet50")
    one, two = run_memory_bytes(net, 1), run_memory_bytes(net, 2)
    assert two > one > net.peak_activation_bytes("fp32", 1)
    # conv1's output alone at batch 2000 (2000 x 64 x 112 x 112 fp32) is 6.4 GB
    assert run_memory_bytes(net, 2000) > 3 * 2000 * 64 * 112 * 112 * 4


@pytest.mark.parametrize("command", [["layer"], ["net", "resnet50"], ["sweep"]])
@pytest.mark.parametrize("value, words", [("x", "--batch must be an integer, got 'x'"),
                                          ("0", "--batch must be >= 1, got 0")])
def test_batch_errors_read_the_same_everywhere(command, value, words):
    done = _cli(*command, "--batch", value)
    assert done.returncode == 2
    assert done.stderr.strip() == f"ipuexplore: error: {words}"


@pytest.mark.parametrize("command", [["layer", "--measure"], ["net", "resnet50", "--run"]])
@pytest.mark.parametrize("value, words", [("abc", "--workers must be an integer, got 'abc'"),
                                          ("0", "--workers must be >= 1, got 0"),
                                          ("5000", "--workers must be <= 1024, got 5000")])
def test_worker_counts_read_the_same_everywhere(command, value, words):
    done = _cli(*command, "--workers", value)
    assert done.returncode == 2
    assert done.stderr.strip() == f"ipuexplore: error: {words}"


def test_net_workers_without_run_is_refused():
    done = _cli("net", "resnet50", "--workers", "2")
    assert done.returncode == 2
    assert done.stderr.strip() == ("ipuexplore: error: --workers sets the engine's workers for --run: "
                                   "add --run or leave it out")


def test_a_size_with_a_missing_part_names_what_was_given():
    done = _cli("layer", "--size", "14x")
    assert done.stderr.strip() == "ipuexplore: error: --size must be N or NxM, got '14x'"


def test_an_unknown_network_gets_a_short_message():
    done = _cli("net", "layers.csv")
    line = done.stderr.strip()
    assert done.returncode == 2 and len(line) < 160 and "ipuexplore net --list" in line


def test_layer_and_net_json_use_the_same_indent():
    layer, net = _cli("layer", "--json").stdout, _cli("net", "resnet50", "--json").stdout
    assert layer.splitlines()[1].startswith('  "') and net.splitlines()[1].startswith('  "')
    json.loads(layer), json.loads(net)


def test_totals_never_print_in_exponent_notation(tmp_path):
    done = _cli("net", "resnet50", "--batch", "4096", "--chips", "ipu-mk2,h100,bow-pod16")
    assert done.returncode == 0, done.stderr
    assert "e+0" not in done.stdout
