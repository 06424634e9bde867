"""Messages the background workers post to the UI (post_message is thread-safe).

Progress and measurement messages define `can_replace` (as Textualize/toolong does) so a
fast engine loop cannot flood the message queue: a newer one replaces an unhandled older
one of the same kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from .live import Measurement


@dataclass
class LiveMeasured(Message):
    """A live engine run finished; `generation` ties it to the layer it measured."""

    generation: int
    measurement: Measurement

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, LiveMeasured)
            and message.measurement.algorithm == self.measurement.algorithm
        )


@dataclass
class LiveFailed(Message):
    """The live engine run cannot go on; `text` says why (engine missing, bad layer...)."""

    generation: int
    text: str
    algorithm: str = ""  # "" when the whole panel failed, else the one strategy that did


@dataclass
class SweepProgress(Message):
    """Host points measured so far for the throughput-vs-group-size chart."""

    generation: int
    points: dict  # channels per group -> GFLOP/s (direct strategy)
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SweepProgress)


@dataclass
class NetworkProgress(Message):
    generation: int
    done: int
    total: int
    layer_name: str = ""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, NetworkProgress)


@dataclass
class NetworkRunFinished(Message):
    """A host run of a network ended: `result` is a HostRun, or `error` says why not;
    `session` the fused HostSession's measurement (session_check.measure), or {"error": why}."""

    generation: int
    result: object = None
    error: str = ""
    cancelled: bool = False
    session: dict | None = None


@dataclass
class NetworkAnalysed(Message):
    """The models' per-layer analysis of a network, or why there is none."""

    generation: int
    network: object = None
    analysis: object = None
    error: str = ""
