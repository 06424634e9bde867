"""Chip specifications as frozen dataclasses, and the schema their TOML files follow.

Every figure in a spec file is either a bare number (users' own files) or an inline table
``{ value = ..., tag = "V", src = "a,b" }`` whose ``src`` names entries of the file's
``[sources]`` table. Tags follow ../shared/hardware/chips.md: ``V`` read in the source,
``S`` a secondary summary, ``D`` arithmetic from V/S figures, ``U`` unverified, plus ``M``
measured on the machine (the host) and ``A`` an assumption of this project, stated.

Units are in every field name (``clock_ghz``, ``hbm_bw_gb_s``) and each field has a
plausible range: a value outside it is almost always a unit slip (bytes/s written into a
GB/s field), so the loader rejects it naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Mapping

FAMILIES = ("ipu", "gpu", "cpu", "system")
TAGS = {
    "V": "read in the source",
    "S": "secondary summary of a primary source",
    "D": "arithmetic from V/S figures",
    "U": "unverified",
    "M": "measured on this machine",
    "A": "assumption of this project, stated in the source note",
}


@dataclass(frozen=True)
class Figure:
    """Provenance of one figure: its tag and the source text it came from."""

    tag: str
    source: str


@dataclass(frozen=True)
class IpuSpec:
    """One Graphcore IPU (not a card or a pod)."""

    tiles: int
    workers_per_tile: int
    clock_ghz: float
    sram_per_tile_kib: float
    sram_bw_tb_s: float
    exchange_b_per_cycle_per_tile: float
    amp_fp16_macs_per_cycle_per_tile: float
    amp_fp32_macs_per_cycle_per_tile: float
    amp_fp16_input_channels_per_pass: int
    amp_fp32_input_channels_per_pass: int
    amp_fp16_conv_engines: int
    amp_fp32_conv_engines: int
    vector_fp16_macs_per_cycle_per_tile: float
    vector_fp32_macs_per_cycle_per_tile: float
    slic_available: int  # 1 if poplibs has the SLIC vertex for this chip, else 0
    vmac_available: int  # 1 if poplibs has the depthwise VMAC vertex (half), else 0
    sync_cycles: float
    sram_usable_fraction: float
    streaming_bw_gb_s: float
    streaming_capacity_gb: float
    peak_fp16_tflop_s: float
    peak_fp32_tflop_s: float
    # 1 where the IPU has streaming memory the software can offload weights and optimizer
    # state to (Mk2/Bow: DRAM behind the gateway); Mk1's only off-chip memory is the host's
    streaming_memory: int = 0
    # AMP conv units with half inputs and fp32 partial sums (poplibs' partialsType float);
    # 0: as many as with half partials (amp_fp16_conv_engines)
    amp_fp16_float_partials_conv_engines: int = 0

    @property
    def sram_total_bytes(self) -> float:
        return self.tiles * self.sram_per_tile_kib * 1024

    @property
    def exchange_bw_b_s(self) -> float:
        return self.exchange_b_per_cycle_per_tile * self.tiles * self.clock_ghz * 1e9


@dataclass(frozen=True)
class GpuSpec:
    """One NVIDIA GPU."""

    sms: int
    clock_ghz: float
    peak_fp32_tflop_s: float  # CUDA cores
    peak_fp16_tensor_tflop_s: float
    peak_tf32_tensor_tflop_s: float  # 0 would be invalid: omit the field when there is no TF32
    hbm_gb: float
    hbm_bw_gb_s: float
    l2_mb: float
    l2_bw_tb_s: float
    launch_overhead_us: float
    tensor_core_efficiency: float
    cuda_core_efficiency: float
    hbm_efficiency: float
    # The software the GPU runs (its era), as mechanisms; models/gpu_kernels.py uses them.
    # Rate a framework's direct depthwise kernel moves its operands, as a fraction of peak
    # DRAM bandwidth wherever they live (0: it streams like any kernel, at hbm_efficiency);
    # the backward kernels' own rate (0: as the forward's).
    depthwise_bw_efficiency: float = 0.0
    depthwise_grad_bw_efficiency: float = 0.0
    # A latency-bound kernel's rate per SM (bytes in flight per SM / DRAM latency, Little's
    # law), from the same measurement: on another GPU it moves at most SMs x this (0: no cap)
    depthwise_gb_s_per_sm: float = 0.0
    depthwise_grad_gb_s_per_sm: float = 0.0
    # Time of the framework's own depthwise kernel over the library's (cuDNN's) above, forward
    # and backward, where the software sends a run's depthwise layers to its own kernel: fp32
    # runs kept NCHW (nchw_layout_fp32), which PyTorch's use_cudnn_depthwise does not give to
    # cuDNN (fp16 or channels_last only); 0: every depthwise layer runs the library's kernel
    depthwise_native_slowdown: float = 0.0
    depthwise_native_grad_slowdown: float = 0.0
    nchw_layout: int = 0  # 1: activations NCHW, tensor-core convs transpose them to NHWC
    # 1: fp32 (TF32) runs keep the framework's default NCHW activations even where fp16 runs
    # are channels_last (the configs set channels_last only with AMP), and transpose likewise
    nchw_layout_fp32: int = 0
    grouped_tensor_cores: int = 1  # 0: grouped convs never use tensor cores (cuDNN 7)
    group_loop: int = 0  # 1: groups without a grouped kernel run one kernel each (cuDNN 7)
    # Host time a framework spends issuing one op of the forward pass (Python, dispatcher,
    # launch) on the machine the GPU sits in; the GPU cannot run ahead of it (0: not modelled)
    host_dispatch_us: float = 0.0
    # The same for an fp32 (TF32) run, whose ops skip autocast's dispatch and weight casts
    # (0: as host_dispatch_us)
    host_dispatch_fp32_us: float = 0.0
    # Host time to issue one bare framework op from Python (an optimizer's per-tensor loop);
    # 0: only the launch counts
    host_op_us: float = 0.0
    # 1: the framework's mixed precision keeps an fp16 copy of the weights (apex O2, a
    # model.half()), so no forward casts them; 0: autocast casts each weight every forward
    fp16_weights: int = 0
    # 1: the data loader turns each uint8 image batch into floats and normalises it on the GPU
    # inside the timed step (NVIDIA's PyTorch loader); 0: the images arrive ready (a benchmark's
    # synthetic input, or a loader doing it elsewhere)
    input_normalise_on_gpu: int = 0
    # NVIDIA's MLPerf stack (MXNet NormConvolution, NHWC fused batch norm; models/gpu_kernels.py):
    # 1: the convolution before a batch norm writes the norm's per-channel sums in its epilogue,
    # so a training batch norm reads its input once (no statistics pass)
    bn_stats_in_conv: int = 0
    # 1: batch norm, the residual addition and ReLU run as one kernel each way (ReLU's mask
    # kept as a bitmask): the ReLU and the addition have no kernels of their own
    fused_bn_add_relu: int = 0
    # 1: a tensor's further gradients are added by the kernels producing them (the framework's
    # in-place accumulation), not by an add kernel of their own
    grad_accumulate_in_place: int = 0
    # parameter tensors one launch of a multi-tensor mixed-precision update takes (it reads the
    # fp16 gradients, unscales them, writes the fp16 weights); 0: a per-tensor optimizer
    multi_tensor_update: int = 0
    # channels the images are padded to so the first (stride-2) convolution runs on tensor
    # cores (0: not padded)
    stem_pad_channels: int = 0
    # 1: the framework replays the step as CUDA graphs captured once, so no host issues its
    # ops one by one (no host floor, whatever host_dispatch_us says)
    cuda_graphs: int = 0
    # 1: a batch norm followed by ReLU and one convolution is applied in that convolution's
    # main loop (scale, bias, ReLU on the operand as it is loaded): no kernel of its own
    bn_apply_in_conv: int = 0


@dataclass(frozen=True)
class CpuSpec:
    """The host CPU (the machine the engine runs on)."""

    cores: int
    peak_fp32_gflop_s: float
    simd_fp32_lanes: int
    dram_bw_gb_s: float
    l3_bw_gb_s: float
    l3_mb: float
    dram_gb: float
    call_overhead_us: float
    # fraction of the FMA peak each of the engine's conv kernels reaches (after the lane and
    # register-block fills the model charges itself): fitted to engine measurements (host.toml
    # says to which); 1.0, the ideal kernel, when a spec leaves them out
    depthwise_kernel_efficiency: float = 1.0
    row_kernel_efficiency: float = 1.0
    channel_kernel_efficiency: float = 1.0
    # the same for the channel kernel's 1x1 path (kernel_pointwise.c) and for depthwise layers
    # off the 3x3 stride-1 path: 5x5 stride 1, and stride 2 (3x3 or 5x5), the row kernel's other
    # depthwise paths or the channel-blocked kernel on small maps; 0: the channel / row
    # kernel's figure stands in
    pointwise_kernel_efficiency: float = 0.0
    depthwise_5x5_efficiency: float = 0.0
    depthwise_strided_efficiency: float = 0.0
    # time per output element per core of the activations built on exp (SiLU / swish,
    # sigmoid) as the engine computes them (an exp polynomial and a division, activations.h),
    # measured (0: counted as their element-wise operations at half the FMA rate)
    exp_activation_ns: float = 0.0
    # 1: a network runs as the engine's fused session (networks.HostSession) at inference:
    # batch norm folded into the convolution before it, activations and residual additions in
    # its write, squeeze-excite's pooling and scale in the convolutions around it (0: every
    # layer a pass of its own, as the engine runs them one by one)
    fused_epilogues: int = 0


@dataclass(frozen=True)
class SystemSpec:
    """Several chips of one kind joined by links: a card, a DGX or an IPU-POD.

    A node is the group of chips sharing the fast links (IPU-Links, NVLink); nodes talk
    over the slower inter-node links (GW-Links, InfiniBand). Bandwidths are per direction.
    """

    devices: int  # chips in the system
    devices_per_node: int  # chips sharing the fast in-node links
    intra_node_link_gb_s: float  # per device, usable by one ring step inside a node
    host_link_gb_s: float  # per node, input images from the host
    collective_step_latency_us: float  # latency of one step of a ring all-reduce
    inter_node_link_gb_s: float = 0.0  # per node between nodes (0: a single node)
    io_overlap: int = 0  # 1 when the software overlaps host I/O with compute (I/O tiles, prefetching loaders)
    # the host CPU's data loader (decode and augmentation in worker processes, models.netplan):
    host_threads: int = 0  # hardware threads of the host's CPUs (0: not given, the workers' count stands)
    loader_workers_per_device: int = 0  # loader worker processes per GPU (0: no CPU loader, e.g. DALI or synthetic)
    loader_img_s_per_core: float = 0.0  # images per second one worker makes on a core of its own

    @property
    def nodes(self) -> int:
        return -(-self.devices // self.devices_per_node)


SPEC_CLASSES = {"ipu": IpuSpec, "gpu": GpuSpec, "cpu": CpuSpec, "system": SystemSpec}


# Plausible ranges per field (inclusive). A value outside is rejected as a likely unit slip.
RANGES: dict[str, tuple[float, float]] = {
    # IPU
    "tiles": (1, 1e6),
    "workers_per_tile": (1, 64),
    "clock_ghz": (0.05, 10),
    "sram_per_tile_kib": (1, 1e5),
    "sram_bw_tb_s": (0.01, 1e4),
    "exchange_b_per_cycle_per_tile": (0.1, 1024),
    "amp_fp16_macs_per_cycle_per_tile": (1, 4096),
    "amp_fp32_macs_per_cycle_per_tile": (1, 4096),
    "amp_fp16_input_channels_per_pass": (1, 1024),
    "amp_fp32_input_channels_per_pass": (1, 1024),
    "amp_fp16_conv_engines": (1, 1024),
    "amp_fp16_float_partials_conv_engines": (0, 1024),
    "amp_fp32_conv_engines": (1, 1024),
    "vector_fp16_macs_per_cycle_per_tile": (0.1, 1024),
    "vector_fp32_macs_per_cycle_per_tile": (0.1, 1024),
    "slic_available": (0, 1),
    "vmac_available": (0, 1),
    "sync_cycles": (1, 1e6),
    "streaming_memory": (0, 1),
    "sram_usable_fraction": (0.01, 1),
    "streaming_bw_gb_s": (0.1, 1e5),
    "streaming_capacity_gb": (0.1, 1e6),
    "peak_fp16_tflop_s": (0.001, 1e5),
    "peak_fp32_tflop_s": (0.001, 1e5),
    # GPU
    "sms": (1, 1e4),
    "peak_fp16_tensor_tflop_s": (0.01, 1e5),
    "peak_tf32_tensor_tflop_s": (0.01, 1e5),
    "hbm_gb": (0.1, 1e5),
    "hbm_bw_gb_s": (1, 1e6),
    "l2_mb": (0.01, 1e4),
    "l2_bw_tb_s": (0.01, 1e4),
    "launch_overhead_us": (0.01, 1e4),
    "tensor_core_efficiency": (0.01, 1),
    "cuda_core_efficiency": (0.01, 1),
    "hbm_efficiency": (0.01, 1),
    "depthwise_bw_efficiency": (0.01, 1),
    "depthwise_grad_bw_efficiency": (0.01, 1),
    "depthwise_gb_s_per_sm": (0.01, 1e3),
    "depthwise_grad_gb_s_per_sm": (0.01, 1e3),
    "depthwise_native_slowdown": (1, 100),
    "depthwise_native_grad_slowdown": (1, 100),
    "nchw_layout": (0, 1),
    "nchw_layout_fp32": (0, 1),
    "grouped_tensor_cores": (0, 1),
    "group_loop": (0, 1),
    "host_dispatch_us": (0.01, 1e4),
    "host_dispatch_fp32_us": (0.01, 1e4),
    "host_op_us": (0.01, 1e4),
    "fp16_weights": (0, 1),
    "input_normalise_on_gpu": (0, 1),
    "bn_stats_in_conv": (0, 1),
    "fused_bn_add_relu": (0, 1),
    "grad_accumulate_in_place": (0, 1),
    "multi_tensor_update": (0, 1e4),
    "stem_pad_channels": (0, 8),
    "cuda_graphs": (0, 1),
    "bn_apply_in_conv": (0, 1),
    # CPU
    "cores": (1, 1e5),
    "peak_fp32_gflop_s": (0.1, 1e6),
    "simd_fp32_lanes": (1, 64),
    "dram_bw_gb_s": (0.1, 1e5),
    "l3_bw_gb_s": (0.1, 1e6),
    "l3_mb": (0.01, 1e5),
    "dram_gb": (0.01, 1e6),
    "call_overhead_us": (0.001, 1e5),
    "fused_epilogues": (0, 1),
    "pointwise_kernel_efficiency": (0.001, 1),
    "depthwise_5x5_efficiency": (0.001, 1),
    "depthwise_strided_efficiency": (0.001, 1),
    "exp_activation_ns": (0.001, 100),
    "depthwise_kernel_efficiency": (0.001, 1),
    "row_kernel_efficiency": (0.001, 1),
    "channel_kernel_efficiency": (0.001, 1),
    # system
    "devices": (1, 1e6),
    "devices_per_node": (1, 1e4),
    "intra_node_link_gb_s": (0.01, 1e5),
    "inter_node_link_gb_s": (0, 1e5),
    "host_link_gb_s": (0.01, 1e5),
    "collective_step_latency_us": (0.001, 1e5),
    "io_overlap": (0, 1),
    "host_threads": (0, 1e5),
    "loader_workers_per_device": (0, 1e3),
    "loader_img_s_per_core": (0, 1e5),
}

# Fields that may be left out, with the value that then applies (and why).
OPTIONAL: dict[str, dict[str, float]] = {
    "ipu": {
        "streaming_memory": 0.0,  # no off-chip memory to offload to
    },
    "gpu": {
        "peak_tf32_tensor_tflop_s": 0.0,  # pre-Ampere GPUs have no TF32 tensor cores
        "depthwise_bw_efficiency": 0.0,  # a depthwise kernel streams like any other (no extra term)
        "depthwise_grad_bw_efficiency": 0.0,  # backward depthwise kernels as the forward's
        "depthwise_gb_s_per_sm": 0.0,  # no per-SM cap on the depthwise kernel's rate
        "depthwise_grad_gb_s_per_sm": 0.0,  # backward: as the forward's
        "depthwise_native_slowdown": 0.0,  # every depthwise layer runs the library's kernel
        "depthwise_native_grad_slowdown": 0.0,  # backward: as the forward's
        "nchw_layout": 0,  # channels_last (NHWC) activations: no transposes
        "nchw_layout_fp32": 0,  # fp32 runs channels_last too
        "grouped_tensor_cores": 1,  # grouped convs use tensor cores where channels per group allow
        "group_loop": 0,  # one grouped kernel for all groups
        "host_dispatch_us": 0.0,  # no host floor: the GPU never waits for its host
        "host_dispatch_fp32_us": 0.0,  # fp32 runs' host as mixed precision's
        "host_op_us": 0.0,  # an optimizer's ops cost their launches only
        "fp16_weights": 0,  # autocast: fp32 weights cast to fp16 in every forward
        "input_normalise_on_gpu": 0,  # the images arrive on the GPU ready to use
        "bn_stats_in_conv": 0,  # a training batch norm reads its input for statistics, then to normalise
        "fused_bn_add_relu": 0,  # batch norm, addition and ReLU each their own kernels
        "grad_accumulate_in_place": 0,  # further gradients of a tensor added by add kernels
        "multi_tensor_update": 0,  # a per-tensor optimizer
        "stem_pad_channels": 0,  # the images keep their 3 channels
        "cuda_graphs": 0,  # the host issues every op (host_dispatch_us, where given)
        "bn_apply_in_conv": 0,  # a norm's forward is a kernel of its own
    },
    "cpu": {  # an ideal kernel unless fitted to the engine (host.toml)
        "depthwise_kernel_efficiency": 1.0,
        "row_kernel_efficiency": 1.0,
        "channel_kernel_efficiency": 1.0,
        "fused_epilogues": 0,  # every layer a pass of its own
        "pointwise_kernel_efficiency": 0.0,  # the channel kernel's figure stands in
        "depthwise_5x5_efficiency": 0.0,  # the row kernel's figure stands in
        "depthwise_strided_efficiency": 0.0,  # the row kernel's figure stands in
        "exp_activation_ns": 0.0,  # exp-based activations counted as their element-wise ops
    },
    "system": {
        "inter_node_link_gb_s": 0.0,  # a single node has no inter-node links
        "io_overlap": 0.0,  # host transfers are a phase of their own
        "host_threads": 0,  # no host CPU given: loader workers never wait for a thread
        "loader_workers_per_device": 0,  # no CPU loader priced (DALI, synthetic data, or not known)
        "loader_img_s_per_core": 0.0,
    },
}

INT_FIELDS = {
    f.name
    for cls in SPEC_CLASSES.values()
    for f in fields(cls)
    if f.type in ("int", int)
}


@dataclass(frozen=True)
class Chip:
    """A chip: id, family, its family's spec and where every figure came from."""

    id: str
    name: str
    family: str
    spec: IpuSpec | GpuSpec | CpuSpec
    figures: Mapping[str, Figure] = field(default_factory=lambda: MappingProxyType({}))
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    notes: str = ""
    path: str = ""  # file it was loaded from ("" for built-in defaults)
    # a system (card, DGX, IPU-POD) is its device's family and spec plus its topology
    system: SystemSpec | None = None
    device: str = ""  # the chip id a system is made of ("" for a single chip)

    @property
    def devices(self) -> int:
        """Chips this target has (1 for a single chip)."""
        return self.system.devices if self.system is not None else 1


    # ---- family-independent views, for tables and the UI -------------------------------
    def peak_flop_s(self, dtype: str = "fp16") -> float:
        """The highest FLOP/s (2 x MACs) the chip's best unit reaches in this dtype."""
        s = self.spec
        if isinstance(s, IpuSpec):
            return (s.peak_fp16_tflop_s if dtype == "fp16" else s.peak_fp32_tflop_s) * 1e12
        if isinstance(s, GpuSpec):
            if dtype == "fp16":
                return s.peak_fp16_tensor_tflop_s * 1e12
            return max(s.peak_fp32_tflop_s, s.peak_tf32_tensor_tflop_s) * 1e12
        return s.peak_fp32_gflop_s * 1e9  # the host computes fp16 layers in fp32

    def memory_levels(self) -> tuple[tuple[str, float, float], ...]:
        """(name, capacity_bytes, bandwidth_b_s) from fastest to slowest."""
        s = self.spec
        if isinstance(s, IpuSpec):
            return (
                ("sram", s.sram_total_bytes, s.sram_bw_tb_s * 1e12),
                ("streaming", s.streaming_capacity_gb * 1e9, s.streaming_bw_gb_s * 1e9),
            )
        if isinstance(s, GpuSpec):
            return (
                ("l2", s.l2_mb * 1e6, s.l2_bw_tb_s * 1e12),
                ("hbm", s.hbm_gb * 1e9, s.hbm_bw_gb_s * 1e9),
            )
        return (
            ("l3", s.l3_mb * 1e6, s.l3_bw_gb_s * 1e9),
            ("dram", s.dram_gb * 1e9, s.dram_bw_gb_s * 1e9),
        )

    def source_of(self, name: str) -> str:
        """'[tag] source text' for a figure, for tooltips and reports."""
        fig = self.figures.get(name)
        return f"[{fig.tag}] {fig.source}" if fig else "[?] no source"
