"""Segment plans, as pure arithmetic: which frames each segment outputs, which it decodes, and where
each stage of the model starts.

A segment outputs frames [first, first + count) of one input. Its restorers start on the batch grid
(batches of ``grid`` centre frames at multiples of ``grid``, as in a one-pass run) with the temporal
context each stage needs before it, and read far enough past it that its last batches are whole, so
a segment is the very same frames whichever worker makes it, in whatever order, in one run or across
several.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Frames per segment: the unit of parallel work and the most work an interruption can cost.
SEGMENT_FRAMES = 300
#: A clip's last segment takes in a remainder shorter than this (a tiny encode is no use to anyone,
#: and encoders such as x265 mistime streams shorter than their B-frame delay).
SHORTEST_TAIL = 8


@dataclass(frozen=True)
class SegmentSpec:
    """Segment ``index`` outputs frames ``first`` .. ``first + count - 1``."""

    index: int
    first: int
    count: int

    @property
    def stop(self) -> int:
        return self.first + self.count


def align_down(n: int, grid: int) -> int:
    return n - n % max(1, grid)


def align_up(n: int, grid: int) -> int:
    return -(-n // max(1, grid)) * max(1, grid)


def segment_frames_on_grid(segment_frames: int, grid: int) -> int:
    """Frames per segment rounded up to a whole number of batches (segment boundaries on the batch grid)."""
    return align_up(max(1, int(segment_frames)), grid)


def plan_segments(total: int, segment_frames: int, shortest_tail: int | None = None,
                  cuts: Sequence[int] = (), grid: int = 1) -> list[SegmentSpec]:
    """Segments of ``segment_frames`` covering ``total`` frames; the last takes in a remainder shorter
    than ``shortest_tail`` (default :data:`SHORTEST_TAIL`). A boundary moves to a scene cut on the batch
    ``grid`` within a quarter of a segment of it (the nearest), so segments end where shots do."""
    n = max(1, int(segment_frames))
    shortest_tail = SHORTEST_TAIL if shortest_tail is None else shortest_tail
    on_grid = sorted(c for c in set(cuts) if 0 < c < total and c % max(1, grid) == 0)
    specs: list[SegmentSpec] = []
    first = 0
    while first < total:
        count = min(n, total - first)
        near = [c for c in on_grid if abs(c - (first + count)) <= n // 4 and c - first > n // 2]
        if near and first + count < total:
            count = min(near, key=lambda c: (abs(c - (first + count)), c)) - first
        if 0 < total - (first + count) < shortest_tail:
            count = total - first
        specs.append(SegmentSpec(len(specs), first, count))
        first += count
    return specs


@dataclass(frozen=True)
class StageStarts:
    """Where the restorers of a segment begin: ``decode`` is the first clip frame read, ``outputs[j]``
    the first centre stage ``j`` outputs (the last stage's is the segment's first frame)."""

    decode: int
    outputs: tuple[int, ...]


def stage_starts(first: int, aheads: Sequence[int], grid: int, lowest: int = 0) -> StageStarts:
    """Each stage starts on the batch grid, early enough for the next stage's context (``aheads[j]``: the
    frames stage ``j`` needs on either side of a centre), and decoding starts on it too (features are
    computed a block of the grid at a time); nothing starts below ``lowest``, the clip's first frame."""
    def start(n: int) -> int:
        return max(lowest, align_down(max(lowest, n), grid))

    outputs = [first]
    for j in range(len(aheads) - 1, 0, -1):
        outputs.insert(0, start(outputs[0] - aheads[j]))
    return StageStarts(start(outputs[0] - aheads[0]), tuple(outputs))


def context_before(aheads: Sequence[int], grid: int) -> int:
    """Frames read before a span's first frame so that its windows use the frames that exist there, as
    a run of the whole clip would (fewer where the clip begins sooner)."""
    return -stage_starts(0, aheads, grid, lowest=-(sum(aheads) + len(aheads) * max(1, grid))).decode


def reach(aheads: Sequence[int], grid: int) -> int:
    """Frames a segment reads past its last frame: every stage's context rounded up to whole batches,
    and one batch more, so no batch that an output depends on is cut short by the end of the read."""
    return sum(align_up(a, grid) for a in aheads) + max(1, grid)


def decode_range(spec: SegmentSpec, total: int, aheads: Sequence[int], grid: int, lowest: int = 0) -> tuple[int, int]:
    """The frames [start, stop) a segment decodes, within the clip (none below ``lowest``: a segment
    that begins a shot needs nothing before it)."""
    return stage_starts(spec.first, aheads, grid, lowest).decode, min(total, spec.stop + reach(aheads, grid))
