"""Data-parallel gradient all-reduce over a system's links (IPU-Links, GW-Links, NVLink, InfiniBand).

Ring all-reduce (Patarasuk and Yuan, "Bandwidth optimal all-reduce algorithms for clusters
of workstations", J. Parallel Distrib. Comput. 69(2), 2009; the reduce-scatter + all-gather
form in Thakur, Rabenseifner and Gropp, "Optimization of collective communication
operations in MPICH", IJHPCA 19(1), 2005): each of ``p`` devices sends and receives
``2 (p-1)/p x bytes`` over its link in ``2 (p-1)`` steps, so

    time = 2 (p-1)/p x bytes / link_bandwidth + 2 (p-1) x step_latency.

With several nodes the collective is hierarchical (as Horovod's and NCCL's hierarchical
all-reduce do, and Graphcore's GCL across IPU-Link domains: its release notes, SDK 3.0, speak
of "three-phase collective operations ... for consecutive communication groups that span
multiple ILDs", docs.graphcore.ai/projects/release-notes/en/3.1.0/release_notes/gcl.html): a ring inside each node over the fast
links, then a ring across the nodes, in which each node's share of the bytes crosses its
inter-node link (every device of a node sends its 1/k slice, so the node moves the whole
buffer once), then the all-gather back inside the node, which the in-node ring term
already counts. GCL's API names that cross-node group: ORTHOGONAL groups whose size is the
number of IPU-Link domains, "using GW-links only" (gcl::CommGroup, Poplar API reference),
each IPU with its counterparts in the other domains. The across-node rate is the links'
datasheet figure: the rate GCL achieves over GW-Links is not published.
"""

from __future__ import annotations

from ipuexplore.hardware import SystemSpec


def ring_allreduce_s(nbytes: float, devices: int, link_gb_s: float, step_latency_s: float) -> float:
    """Time of a ring all-reduce of ``nbytes`` over ``devices`` with per-device ``link_gb_s``."""
    if devices < 1:
        raise ValueError(f"devices must be >= 1, got {devices}")
    if devices == 1 or nbytes <= 0:
        return 0.0
    if link_gb_s <= 0:
        raise ValueError(f"link_gb_s must be > 0, got {link_gb_s}")
    p = devices
    return 2 * (p - 1) / p * nbytes / (link_gb_s * 1e9) + 2 * (p - 1) * step_latency_s


def allreduce_s(nbytes: float, replicas: int, system: SystemSpec | None, devices_per_replica: int = 1) -> float:
    """All-reduce of ``nbytes`` of gradients across ``replicas`` of a model spread over
    ``devices_per_replica`` chips each (pipeline stages: each stage reduces its own weights,
    all stages at once, so ``nbytes`` is one stage's share)."""
    if replicas <= 1 or system is None:
        return 0.0
    latency = system.collective_step_latency_us * 1e-6
    # replicas whose devices share one node's fast links
    per_node = max(1, min(replicas, system.devices_per_node // max(1, devices_per_replica)))
    nodes = -(-replicas // per_node)
    inside = ring_allreduce_s(nbytes, per_node, system.intra_node_link_gb_s, latency)
    if nodes == 1:
        return inside
    # every stage's share crosses the node's inter-node link
    across = ring_allreduce_s(nbytes * max(1, devices_per_replica), nodes, system.inter_node_link_gb_s, latency)
    return inside + across
