"""ipuexplore.torch: the custom operator against torch.nn.functional.conv2d, opcheck, tracing,
and convert() on whole models."""

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed (pip install '.[peer]')")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import ipuexplore.torch as ipt  # noqa: E402

# (n, c, h, w, k, r, s, stride, padding (top, bottom, left, right), dilation, groups)
CASES = {
    "dense": (2, 6, 9, 8, 5, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
    "grouped": (2, 12, 9, 9, 8, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 4),
    "depthwise": (2, 16, 10, 11, 16, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 16),
    "depthwise_multiplier": (1, 4, 8, 8, 8, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 4),
    "strided": (2, 8, 11, 10, 8, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 8),
    "strided_hw": (1, 6, 12, 9, 6, 5, 3, (2, 1), (2, 2, 1, 1), (1, 1), 3),
    "dilated": (2, 8, 12, 12, 8, 3, 3, (1, 1), (2, 2, 2, 2), (2, 2), 2),
    "asymmetric_padding": (2, 8, 9, 10, 8, 3, 3, (1, 1), (0, 2, 1, 0), (1, 1), 8),
    "pointwise": (2, 17, 5, 5, 13, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),
}


def make(case, channels_last=False, bias=True, seed=0):
    n, c, h, w, k, r, s, stride, pad, dil, g = CASES[case]
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=gen)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    wt = torch.randn(k, c // g, r, s, generator=gen)
    b = torch.randn(k, generator=gen) if bias else None
    return x, wt, b, list(stride), list(pad), list(dil), g


def reference(x, w, b, stride, pad, dil, g):
    top, bottom, left, right = pad
    return F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride, 0, dil, g)


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
@pytest.mark.parametrize("case", CASES)
def test_forward_and_gradients_match_torch(case, channels_last):
    x, w, b, stride, pad, dil, g = make(case, channels_last)
    leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    mine = [t.clone().requires_grad_() for t in (x, w, b)]
    y_ref = reference(*leaves, stride, pad, dil, g)
    y = torch.ops.ipuexplore.conv2d(*mine, stride, pad, dil, g)
    assert y.shape == y_ref.shape
    assert y.is_contiguous(memory_format=torch.channels_last) == channels_last or y.is_contiguous()
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-4)
    dy = torch.randn_like(y_ref)
    y_ref.backward(dy)
    y.backward(dy)
    for name, a, b_ in zip(("input", "weight", "bias"), mine, leaves):
        torch.testing.assert_close(a.grad, b_.grad, rtol=1e-4, atol=1e-3, msg=f"grad of {name}")


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
@pytest.mark.parametrize("case", ["grouped", "depthwise", "strided", "asymmetric_padding"])
def test_opcheck(case, channels_last):
    x, w, b, stride, pad, dil, g = make(case, channels_last)
    args = (x.requires_grad_(), w.requires_grad_(), b.requires_grad_(), stride, pad, dil, g)
    torch.library.opcheck(torch.ops.ipuexplore.conv2d.default, args)


def test_opcheck_without_bias():
    x, w, _, stride, pad, dil, g = make("grouped", bias=False)
    torch.library.opcheck(torch.ops.ipuexplore.conv2d.default,
                          (x.requires_grad_(), w.requires_grad_(), None, stride, pad, dil, g))


def test_traces_under_export():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(8, 1, 3, 3))

        def forward(self, x):
            return torch.ops.ipuexplore.conv2d(x, self.w, None, [1, 1], [1, 1], [1, 1], 8).relu()

    x = torch.randn(2, 8, 7, 7)
    exported = torch.export.export(Net(), (x,))
    assert "ipuexplore.conv2d" in str(exported.graph)
    expected = F.conv2d(x, exported.state_dict["w"], None, 1, 1, 1, 8).relu()
    torch.testing.assert_close(exported.module()(x), expected, rtol=1e-4, atol=1e-4)


def test_bad_inputs_are_one_clear_error():
    x, w, b, stride, pad, dil, g = make("grouped")
    with pytest.raises(TypeError, match="input has dtype torch.float64"):
        torch.ops.ipuexplore.conv2d(x.double(), w, b, stride, pad, dil, g)
    with pytest.raises(ValueError, match="padding must have 2"):
        torch.ops.ipuexplore.conv2d(x, w, b, stride, [1, 1, 1], dil, g)
    with pytest.raises(ValueError, match="groups"):
        torch.ops.ipuexplore.conv2d(x, w, b, stride, pad, dil, 5)
    with pytest.raises(ValueError, match="workers"):
        ipt.set_workers(0)


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
        self.grouped = nn.Conv2d(16, 32, 3, padding="same", groups=4, padding_mode="reflect")
        self.pw = nn.Conv2d(32, 8, 1)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = torch.relu(self.dw(x))
        x = torch.relu(self.grouped(x))
        return self.head(self.pw(x).mean((2, 3)))


def engine_convs(model):
    return sorted(name for name, m in model.named_modules() if isinstance(m, ipt.Conv2d))


@pytest.mark.parametrize("groups_only", [False, True])
def test_convert_matches_torch_outputs_and_gradients(groups_only):
    torch.manual_seed(0)
    original = SmallNet()
    converted = SmallNet()
    converted.load_state_dict(original.state_dict())
    weight = converted.dw.weight
    assert ipt.convert(converted, groups_only=groups_only) is converted
    assert converted.dw.weight is weight  # shared, not copied
    assert engine_convs(converted) == (["dw", "grouped"] if groups_only else ["dw", "grouped", "pw", "stem"])
    assert converted.state_dict().keys() == original.state_dict().keys()
    x = torch.randn(2, 3, 16, 16)
    y_ref, y = original(x), converted(x)
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-4)
    y_ref.square().sum().backward()
    y.square().sum().backward()
    for (name, p_ref), p in zip(original.named_parameters(), converted.parameters()):
        torch.testing.assert_close(p.grad, p_ref.grad, rtol=1e-3, atol=1e-4, msg=name)


def test_converted_model_trains_one_step_like_torch():
    torch.manual_seed(1)
    models = [SmallNet(), SmallNet()]
    models[1].load_state_dict(models[0].state_dict())
    ipt.convert(models[1])
    x, target = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 1])
    for model in models:
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        F.cross_entropy(model(x), target).backward()
        opt.step()
    for (name, a), b in zip(models[0].named_parameters(), models[1].parameters()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)


def test_convert_under_torch_compile():
    torch.manual_seed(2)
    model = ipt.convert(SmallNet().eval(), groups_only=True)
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(model, backend="eager", fullgraph=True)(x), model(x))


def test_torchvision_model_converts_and_matches():
    try:
        import torchvision as tv
    except ImportError:
        pytest.skip("torchvision not installed")
    except RuntimeError as exc:  # a wheel built for another torch: its compiled ops fail to register
        pytest.skip(f"torchvision does not load beside this torch: {exc}")
    torch.manual_seed(3)
    original = tv.models.mobilenet_v2(num_classes=10).eval()
    converted = tv.models.mobilenet_v2(num_classes=10).eval()
    converted.load_state_dict(original.state_dict())
    ipt.convert(converted, groups_only=True)
    assert len(engine_convs(converted)) == 17  # MobileNetV2's depthwise 3x3 convs
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(converted(x), original(x), rtol=1e-3, atol=1e-4)


def test_importing_ipuexplore_does_not_import_torch(tmp_path):
    code = "import sys, ipuexplore, ipuexplore.engine, ipuexplore.networks; assert 'torch' not in sys.modules"
    # from an empty folder: `-c` puts the working directory first on sys.path, and the checkout
    # (which CI runs from) has no compiled engine
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_weights_changed_in_place_are_repacked():
    x, w, b, stride, pad, dil, g = make("depthwise")
    first = torch.ops.ipuexplore.conv2d(x, w, b, stride, pad, dil, g)
    with torch.no_grad():
        w.mul_(2)  # as an optimizer step does
        b.mul_(2)
    torch.testing.assert_close(torch.ops.ipuexplore.conv2d(x, w, b, stride, pad, dil, g), 2 * first,
                               rtol=1e-4, atol=1e-4)


def test_weights_made_under_inference_mode():
    with torch.inference_mode():
        x, w, b, stride, pad, dil, g = make("grouped")
        torch.testing.assert_close(torch.ops.ipuexplore.conv2d(x, w, b, stride, pad, dil, g),
                                   reference(x, w, b, stride, pad, dil, g), rtol=1e-4, atol=1e-4)
