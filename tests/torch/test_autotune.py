"""ipuexplore.torch.convert's autotuning: each converted layer times the engine against
PyTorch's kernel once per input signature, caches the choice, and runs the faster; both
paths give PyTorch's outputs and gradients."""

import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed (pip install '.[peer]')")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import ipuexplore.torch as ipt  # noqa: E402


def layer(**kwargs):
    torch.manual_seed(0)
    options = dict(in_channels=8, out_channels=8, kernel_size=3, padding=1, groups=8)
    options.update(kwargs)
    return nn.Sequential(nn.Conv2d(**options))


@pytest.fixture
def measured(monkeypatch):
    """Counts the timing rounds and lets a test decide who wins (None: real timing)."""
    calls = []
    winner = {"path": None}
    real = ipt._measure

    def measure(paths, *args):
        calls.append(args[0].shape)
        times = real(paths, *args)
        if winner["path"] == "engine":
            return [[1.0] * len(times[0]), [2.0] * len(times[1])]
        if winner["path"] == "torch":
            return [[2.0] * len(times[0]), [1.0] * len(times[1])]
        return times

    monkeypatch.setattr(ipt, "_measure", measure)
    return calls, winner


def test_choice_is_timed_once_then_cached(measured):
    calls, _ = measured
    model = ipt.convert(layer(), groups_only=True)
    x = torch.randn(2, 8, 12, 12)
    first = model(x)
    second = model(x)
    assert len(calls) == 1  # the second call reused the choice
    torch.testing.assert_close(first, second)
    (record,) = ipt.choices(model)["0"]
    assert record.autotuned and record.path in ("engine", "torch")
    assert len(record.engine_s) == len(record.torch_s) == ipt._TUNE_REPEATS
    ratios = sorted(e / t for e, t in zip(record.engine_s, record.torch_s))
    assert record.engine_over_torch == ratios[len(ratios) // 2]
    wins = sum(e < t for e, t in zip(record.engine_s, record.torch_s))
    faster = "engine" if 4 * wins >= 3 * len(record.engine_s) else "torch"
    assert record.path == faster
    assert record.signature == ((2, 8, 12, 12), x.stride(), torch.float32, True)


def test_autotune_false_forces_the_engine(measured, monkeypatch):
    calls, _ = measured
    model = ipt.convert(layer(), autotune=False)
    ran = []
    real = ipt.Conv2d._engine_forward
    monkeypatch.setattr(ipt.Conv2d, "_engine_forward", lambda self, *a: ran.append(1) or real(self, *a))
    x = torch.randn(2, 8, 12, 12)
    torch.testing.assert_close(model(x), F.conv2d(x, model[0].weight, model[0].bias, 1, 1, 1, 8),
                               rtol=1e-4, atol=1e-4)
    assert not calls and ran == [1]
    (record,) = ipt.choices(model)["0"]
    assert (record.path, record.autotuned, record.engine_s, record.torch_s) == ("engine", False, [], [])


def test_a_new_signature_is_decided_afresh(measured):
    calls, _ = measured
    model = ipt.convert(layer())
    x = torch.randn(2, 8, 12, 12)
    model(x)
    model(torch.randn(3, 8, 12, 12))  # another shape
    model(x.contiguous(memory_format=torch.channels_last))  # another layout
    with torch.no_grad():
        model(x)  # no gradients recorded
    model(x)  # seen before
    assert len(calls) == 4
    signatures = [r.signature for r in ipt.choices(model)["0"]]
    assert len(set(signatures)) == 4
    assert {s[3] for s in signatures} == {True, False}


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
@pytest.mark.parametrize("path", ["engine", "torch"])
@pytest.mark.parametrize("options", [
    dict(groups=8), dict(out_channels=16, groups=4, stride=2, padding=(2, 1), kernel_size=(5, 3)),
    dict(groups=2, padding="same", padding_mode="reflect", dilation=2)], ids=["depthwise", "grouped", "reflect"])
def test_both_paths_match_conv2d_outputs_and_gradients(measured, path, channels_last, options):
    _, winner = measured
    winner["path"] = path
    reference = layer(**options)
    model = layer(**options)
    model.load_state_dict(reference.state_dict())
    ipt.convert(model)
    x = torch.randn(2, 8, 11, 12)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x_ref, x_mine = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ref, y = reference(x_ref), model(x_mine)
    assert ipt.choices(model)["0"][0].path == path
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-4)
    dy = torch.randn_like(y_ref)
    y_ref.backward(dy)
    y.backward(dy)
    torch.testing.assert_close(x_mine.grad, x_ref.grad, rtol=1e-4, atol=1e-3)
    for (name, p_ref), p in zip(reference.named_parameters(), model.parameters()):
        torch.testing.assert_close(p.grad, p_ref.grad, rtol=1e-4, atol=1e-3, msg=name)


def test_tuning_leaves_the_model_gradients_alone():
    model = ipt.convert(layer())
    x = torch.randn(2, 8, 12, 12, requires_grad=True)
    y = model(x)  # timed forward and backward passes ran on detached copies
    assert model[0].weight.grad is None and x.grad is None
    y.sum().backward()
    expected = torch.ones(2, 8, 12, 12)
    torch.testing.assert_close(x.grad, F.conv_transpose2d(expected, model[0].weight, None, 1, 1, 0, 8),
                               rtol=1e-4, atol=1e-4)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU(),
                                    nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=4))

    def forward(self, x):
        return self.blocks(self.stem(x))


@pytest.mark.parametrize("groups_only", [False, True])
def test_choices_reports_every_converted_module(groups_only):
    model = ipt.convert(Net(), groups_only=groups_only)
    expected = ["blocks.0", "blocks.2"] if groups_only else ["blocks.0", "blocks.2", "stem"]
    assert sorted(ipt.choices(model)) == expected
    assert all(records == [] for records in ipt.choices(model).values())
    with torch.no_grad():
        model(torch.randn(1, 3, 10, 10))
    for name, records in ipt.choices(model).items():
        assert len(records) == 1, name
        r = records[0]
        assert r.engine_median_s > 0 and r.torch_median_s > 0
    assert ipt.choices(nn.Linear(2, 2)) == {}
    with pytest.raises(TypeError, match="model"):
        ipt.choices("net")
    with pytest.raises(TypeError, match="autotune"):
        ipt.convert(Net(), autotune="yes")


@pytest.mark.parametrize("path", ["engine", "torch"])
def test_compiled_model_follows_the_choice_made_before(measured, path):
    calls, winner = measured
    winner["path"] = path
    model = ipt.convert(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU()).eval())
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        eager = model(x)
        torch._dynamo.reset()
        ops = []

        def backend(gm, example_inputs):
            ops.extend(str(n.target) for n in gm.graph.nodes if n.op == "call_function")
            return gm

        torch.testing.assert_close(torch.compile(model, backend=backend, fullgraph=True)(x), eager)
    assert len(calls) == 1  # tracing timed nothing
    assert any("ipuexplore" in op for op in ops) == (path == "engine")


@pytest.mark.parametrize("wins, engine", [(7, True), (6, True), (5, False), (3, False), (0, False)])
def test_the_engine_must_win_three_rounds_in_four(wins, engine):
    rounds = ipt._TUNE_REPEATS
    choice = ipt.Choice((), "torch", True, engine_s=[1.0] * wins + [3.0] * (rounds - wins), torch_s=[2.0] * rounds)
    assert choice.engine_wins_clearly == engine
    assert not ipt.Choice((), "engine", False).engine_wins_clearly  # nothing measured
