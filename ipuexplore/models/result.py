"""What a cost model returns: named terms, per-phase costs and the layer's Estimate.

Plain frozen dataclasses so the CLI, the network analysis and the UI can read the same
numbers; ``to_dict()`` gives JSON-ready output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

if TYPE_CHECKING:
    from .plan import Plan

BOUNDS = ("compute", "memory", "exchange", "overhead")

# Phases each family model memoises (``functools.lru_cache`` on frozen spec + Work + dtype):
# a training estimate repeats its inference forward pass, a sweep or the explorer repeats
# whole layers. A Phase is immutable, so a cached one is shared safely.
COST_CACHE_SIZE = 32768


@dataclass(frozen=True)
class Term:
    """One named quantity of a model, with its unit and why it has that value."""

    value: float
    unit: str
    why: str = ""

    def to_dict(self) -> dict:
        return {"value": self.value, "unit": self.unit, "why": self.why}


def terms(**items: Term) -> Mapping[str, Term]:
    return MappingProxyType(dict(items))


class LazyTerms(Mapping):
    """A read-only mapping of terms, built on first access.

    Formatting the terms' explanations costs more than the model arithmetic, and most
    callers (network totals, sweeps) never read them; the builder is a pure function of the
    already-computed numbers, so building later gives the same terms.
    """

    __slots__ = ("_build", "_items")

    def __init__(self, build: Callable[[], dict[str, Term]]):
        self._build = build
        self._items: dict[str, Term] | None = None

    def _get(self) -> dict[str, Term]:
        items = self._items
        if items is None:
            items = self._items = self._build()
        return items

    def __getitem__(self, key: str) -> Term:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return f"LazyTerms({self._get()!r})"


@dataclass(frozen=True)
class Phase:
    """One pass over a layer (forward, backward_data or backward_weights), costed on its own.

    ``time_by_bound`` holds the time each bound category would take; how they combine
    (max for overlapped GPU pipelines, sum for the IPU's bulk-synchronous supersteps) is the
    family model's choice, recorded in ``time_s``.
    """

    name: str
    time_s: float
    flops: float  # 2 x MACs
    vector_ops: float  # element-wise operations that are not MACs
    bytes: float  # at the memory level the data lives in
    bytes_by_level: Mapping[str, float]
    time_by_bound: Mapping[str, float]
    bound: str
    unit: str  # compute unit used: "AMP", "tensor cores (fp16)", "CUDA cores", ...
    memory_level: str
    terms: Mapping[str, Term] = field(default_factory=lambda: MappingProxyType({}))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "time_s": self.time_s,
            "flops": self.flops,
            "vector_ops": self.vector_ops,
            "bytes": self.bytes,
            "bytes_by_level": dict(self.bytes_by_level),
            "time_by_bound": dict(self.time_by_bound),
            "bound": self.bound,
            "unit": self.unit,
            "memory_level": self.memory_level,
            "terms": {k: t.to_dict() for k, t in self.terms.items()},
        }


@dataclass(frozen=True)
class Estimate:
    """A layer's cost on one chip at one batch size, dtype and mode.

    ``flops`` counts 2 x MACs (0 for layers without MACs, whose work is ``vector_ops``);
    ``arithmetic_intensity`` is work (flops, or vector ops where there are no MACs) per byte
    at the memory level the data lives in; ``utilisation`` is achieved / peak FLOP/s of the
    chip's best unit in this dtype.
    """

    chip: str
    layer: str
    batch: int
    dtype: str
    train: bool
    time_s: float
    flops: float
    vector_ops: float
    bytes: float
    bytes_by_level: Mapping[str, float]
    arithmetic_intensity: float
    achieved_flop_s: float
    bandwidth_b_s: float
    utilisation: float
    bound: str
    unit: str
    memory_level: str
    fits: bool
    working_set_bytes: float
    capacity_bytes: float
    activation_bytes_kept: float
    terms: Mapping[str, Term]
    phases: tuple[Phase, ...]
    plan: "Plan | None" = None  # how the step is laid out (models.plan); None: one chip, one batch

    def phase(self, name: str) -> Phase:
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(f"no phase {name!r}; have {[p.name for p in self.phases]}")

    def to_dict(self) -> dict:
        return {
            "chip": self.chip,
            "layer": self.layer,
            "batch": self.batch,
            "dtype": self.dtype,
            "train": self.train,
            "time_s": self.time_s,  # the training step under train (all three passes)
            "throughput_img_s": self.batch / self.time_s if self.time_s else None,
            "flops": self.flops,
            "flops_counts": "2 x MACs",
            "vector_ops": self.vector_ops,
            "bytes": self.bytes,
            "bytes_by_level": dict(self.bytes_by_level),
            "arithmetic_intensity": self.arithmetic_intensity,
            "achieved_flop_s": self.achieved_flop_s,
            "bandwidth_b_s": self.bandwidth_b_s,
            "utilisation": self.utilisation,
            "bound": self.bound,
            "unit": self.unit,
            "memory_level": self.memory_level,
            "fits": self.fits,
            "working_set_bytes": self.working_set_bytes,
            "capacity_bytes": self.capacity_bytes,
            "activation_bytes_kept": self.activation_bytes_kept,
            "terms": {k: t.to_dict() for k, t in self.terms.items()},
            "phases": [p.to_dict() for p in self.phases],
            "plan": self.plan.to_dict() if self.plan is not None else None,
        }


def bound_of(time_by_bound: Mapping[str, float]) -> str:
    """The category that takes longest (ties go to the earlier in BOUNDS)."""
    best, best_t = BOUNDS[0], time_by_bound.get(BOUNDS[0], 0.0)
    for b in BOUNDS[1:]:
        t = time_by_bound.get(b, 0.0)
        if t > best_t:
            best, best_t = b, t
    return best
