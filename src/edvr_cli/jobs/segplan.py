"""Segment plans, as pure arithmetic: which frames each segment outputs, which it decodes, and its times.

A segment outputs frames [first, first + count) of one input. It is restored from the frames
``context`` before and ``reach`` after it (what the model's windows can need), so it is the same
frames whichever worker makes it, in whatever order, in one run or across several.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

#: Frames per segment: the unit of parallel work and the most work an interruption can cost.
SEGMENT_FRAMES = 300


@dataclass(frozen=True)
class SegmentSpec:
    """Segment ``index`` outputs frames ``first`` .. ``first + count - 1``."""

    index: int
    first: int
    count: int

    @property
    def stop(self) -> int:
        return self.first + self.count


def plan_segments(total: int, segment_frames: int, shortest_tail: int) -> list[SegmentSpec]:
    """Segments of ``segment_frames`` covering ``total`` frames; the last takes in a remainder shorter
    than ``shortest_tail`` (a tiny encode helps no one, and some encoders mistime very short streams)."""
    n = max(1, int(segment_frames))
    specs: list[SegmentSpec] = []
    first = 0
    while first < total:
        count = min(n, total - first)
        if 0 < total - (first + count) < shortest_tail:
            count = total - first
        specs.append(SegmentSpec(len(specs), first, count))
        first += count
    return specs


def context_frames(windows: Sequence[int]) -> int:
    """Frames a segment needs on each side: each stage's lookahead (2 x half-window), summed over stages."""
    return sum(2 * (w // 2) for w in windows)


def decode_range(spec: SegmentSpec, total: int, context: int, reach: int) -> tuple[int, int]:
    """The frames [start, stop) a segment decodes: ``context`` before it and ``reach`` after it, within the clip."""
    return max(0, spec.first - context), min(total, spec.stop + reach)


def output_times(src_pts: Sequence[int], src_tb: Fraction, out_tb: Fraction, floor: int | None = None) -> list[int]:
    """Presentation times in the output time base: rounded, then made strictly increasing.

    ``floor`` is the output time of the frame before the first (a time is never at or below it), so
    consecutive segments join without a repeated time.
    """
    out: list[int] = []
    last = floor
    for p in src_pts:
        t = round(Fraction(p) * src_tb / out_tb)
        if last is not None and t <= last:
            t = last + 1
        out.append(t)
        last = t
    return out
