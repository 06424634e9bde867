"""How a step is laid out on a chip or a system: the ``plan`` every estimate reports.

    ipus                   chips the step runs on (GPUs for a GPU system: the key is a contract)
    replicas               data-parallel copies of the model
    pipeline_stages        chips each replica's layers are split over (1: no pipelining)
    micro_batch            images one replica processes at a time
    gradient_accumulation  micro-batches each replica runs per step, one after another
                           (accumulating gradients when training; the serial pieces of a
                           too-big layer or batch otherwise)
    recompute              the forward pass is recomputed in the backward pass from checkpoints
    fits                   the plan fits the chips' memory (on an IPU: In-Processor Memory)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

# SGD with momentum; LARS (You et al. 2017) around it (IPUs: Graphcore's configs); RMSprop
# (GPUs: NVIDIA's EfficientNet configs)
OPTIMIZERS = ("momentum", "lars", "rmsprop")
# the type of a convolution's partial sums (poplibs' partialsType). Graphcore's CNN configs set
# half: TF1 training configs.yml enable_half_partials, TF2 half-partials, the PyTorch inference
# configs half_partial (graphcore/examples 187775b1, 3cc8f81); poplibs' own default is float,
# which Graphcore's SDK 1.x inference examples kept (68513d5: run_benchmark.py sets no partials type)
PARTIALS = ("half", "float")
DEFAULT_PARTIALS = "half"
# the share of a tile's memory a convolution's plan may use for its temporaries (poplibs'
# availableMemoryProportion, ConvOptions default 0.6); Graphcore's configs set 0.14-0.6
DEFAULT_AVAILABLE_MEMORY_PROPORTION = 0.6


class ConvOptions(NamedTuple):
    """The poplibs options of an IPU convolution that the model reads."""

    partials: str = DEFAULT_PARTIALS
    available_memory_proportion: float = DEFAULT_AVAILABLE_MEMORY_PROPORTION

PLAN_KEYS = ("ipus", "replicas", "pipeline_stages", "micro_batch", "gradient_accumulation", "recompute", "fits")


@dataclass(frozen=True)
class Plan:
    ipus: int
    replicas: int
    pipeline_stages: int
    micro_batch: int
    gradient_accumulation: int
    recompute: bool
    fits: bool

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        parts = [f"{self.replicas} replica{'s' if self.replicas > 1 else ''}"]
        if self.pipeline_stages > 1:
            parts.append(f"{self.pipeline_stages} pipeline stages")
        parts.append(f"micro-batch {self.micro_batch} x {self.gradient_accumulation}")
        if self.recompute:
            parts.append("recomputation")
        if not self.fits:
            parts.append("does not fit")
        return f"{self.ipus} chip{'s' if self.ipus > 1 else ''}: " + ", ".join(parts)


@dataclass(frozen=True)
class Pins:
    """Choices the user fixed (None: the planner chooses)."""

    replicas: int | None = None
    micro_batch: int | None = None
    pipeline_stages: int | None = None
    recompute: bool | None = None  # as Graphcore's configs pin enable_recomputation
    # replicas that share batch norm's statistics (Graphcore's configs: BN_span; 1: each its own)
    norm_span: int | None = None
    # the optimizer the weight update runs (Graphcore's configs: optimiser; None: momentum)
    optimizer: str | None = None
    # the conv partial sums' type on IPUs (None: DEFAULT_PARTIALS); fp32 layers always use float;
    # other chips have no such setting and ignore it
    partials: str | None = None
    # poplibs' availableMemoryProportion for every convolution (IPUs; None: the default 0.6)
    available_memory_proportion: float | None = None

    def conv_options(self) -> ConvOptions:
        return ConvOptions(self.partials or DEFAULT_PARTIALS,
                           DEFAULT_AVAILABLE_MEMORY_PROPORTION if self.available_memory_proportion is None
                           else float(self.available_memory_proportion))

    def check(self, batch: int, devices: int, layers: int, family: str) -> None:
        """One ValueError naming the value when a pin cannot apply."""
        for name in ("replicas", "micro_batch", "pipeline_stages", "norm_span"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be an int >= 1, got {value!r}")
        r, m, p = self.replicas, self.micro_batch, self.pipeline_stages
        if m is not None and m > batch:
            raise ValueError(f"--micro-batch {m} is larger than the batch {batch}")
        if r is not None and r > batch:
            raise ValueError(f"--replicas {r} is more than the batch {batch} (each replica needs an image)")
        # replicas x micro-batch x gradient accumulation = batch, as Graphcore's configs and
        # data-parallel frameworks require: every replica takes an equal share in whole micro-batches
        if r is not None and batch % r:
            raise ValueError(f"--replicas {r} does not divide the batch {batch} into equal shares")
        if m is not None and (batch // (r or 1)) % m:
            share = f"the {batch // r} images of each replica" if r else f"the batch {batch}"
            raise ValueError(f"--micro-batch {m} does not divide {share}")
        if p is not None and p > layers:
            raise ValueError(f"--pipeline-stages {p} is more than the {layers} layer{_s(layers)} to split")
        if p is not None and p > 1 and family != "ipu":
            raise ValueError(f"--pipeline-stages {p}: pipelining is modelled on IPUs only")
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.optimizer == "lars" and family == "gpu":
            raise ValueError("--optimizer lars: LARS is modelled on IPUs only (Graphcore's configs)")
        if self.optimizer == "rmsprop" and family == "ipu":
            raise ValueError("--optimizer rmsprop: RMSprop is modelled on GPUs only (PyTorch's torch.optim.RMSprop)")
        amp = self.available_memory_proportion
        if amp is not None and (isinstance(amp, bool) or not isinstance(amp, (int, float)) or not 0 < amp <= 1):
            raise ValueError(f"--available-memory-proportion must be a number in (0, 1], got {amp!r}")
        if self.partials is not None and self.partials not in PARTIALS:
            raise ValueError(f"--partials must be one of {', '.join(PARTIALS)}, got {self.partials!r}")
        if self.recompute is not None and not isinstance(self.recompute, bool):
            raise TypeError(f"recompute must be True, False or None, got {self.recompute!r}")
        if self.recompute and family != "ipu":
            raise ValueError("--recompute: recomputation is modelled on IPUs only")
        span = self.norm_span
        if span is not None and span > 1 and family != "ipu":
            raise ValueError(f"--norm-span {span}: statistics shared across replicas are modelled on IPUs only")
        if span is not None and span > devices:
            raise ValueError(f"--norm-span {span} is more than the {devices} chip{_s(devices)} available")
        used = (r or 1) * (p or 1)
        if used > devices:
            raise ValueError(f"--replicas x --pipeline-stages = {used} is more than the {devices} chip{_s(devices)} available")


def divisors(n: int) -> list[int]:
    """Every divisor of ``n``, largest first: the micro-batches (or serial pieces) that split
    ``n`` images evenly."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]), reverse=True)


def replicas_for(batch: int, limit: int, micro_batch: int | None = None) -> int:
    """The most replicas, at most ``limit``, that split ``batch`` into equal shares (each a
    whole number of ``micro_batch`` images when one is pinned)."""
    return next(r for r in range(max(1, min(limit, batch)), 0, -1)
                if batch % r == 0 and (micro_batch is None or (batch // r) % micro_batch == 0))


def _s(n: int) -> str:
    return "" if n == 1 else "s"
