"""Presentation-time rules, in one place: rescaling between time bases and keeping times increasing.

Every component that hands out or writes frame times (the reader's repair of a source's times, the
writer, the segment plan, the segment sink) applies these two rules, so a time is computed the same
way whichever path a frame takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction


def rescale(pts: int, src_tb: Fraction, dst_tb: Fraction) -> int:
    """``pts`` ticks of ``src_tb`` in ticks of ``dst_tb``, rounded to the nearest (halves to even)."""
    if src_tb == dst_tb:
        return int(pts)
    return round(Fraction(pts) * src_tb / dst_tb)


def ticks(seconds: Fraction, tb: Fraction) -> int:
    """A time in seconds in ticks of ``tb``, rounded as :func:`rescale` rounds."""
    seconds = Fraction(seconds)
    return rescale(seconds.numerator, Fraction(1, seconds.denominator), tb)


class Increasing:
    """Makes a sequence of times strictly increasing: a time at or below the last becomes last + 1 tick.

    ``floor`` is the time of the frame before the first (a continuation starts after it).
    :attr:`nudged` counts the times moved.
    """

    def __init__(self, floor: int | None = None) -> None:
        self.last = floor
        self.nudged = 0

    def __call__(self, t: int) -> int:
        if self.last is not None and t <= self.last:
            t = self.last + 1
            self.nudged += 1
        self.last = t
        return t


def output_times(src_pts: Sequence[int], src_tb: Fraction, out_tb: Fraction, floor: int | None = None) -> list[int]:
    """Presentation times in the output time base: rescaled, then made strictly increasing after ``floor``."""
    keep = Increasing(floor)
    return [keep(rescale(p, src_tb, out_tb)) for p in src_pts]


class SourceTimes:
    """Repairs a source's frame times as they are decoded, so they increase: a missing time is one frame
    ``step`` after the last; a jump back by more than a frame starts a new timeline (later times are
    shifted to continue the old one); a smaller step back is nudged one tick forward.

    :attr:`last` is the last time handed out; :attr:`events` names what was repaired last
    (``'discontinuity'`` or ``'nudge'``), for the caller to report once.
    """

    def __init__(self, step: int) -> None:
        self.step = max(1, int(step))
        self.last: int | None = None
        self.offset = 0
        self.event: str | None = None

    def __call__(self, pts: int | None) -> int:
        self.event = None
        if pts is None:
            pts = 0 if self.last is None else self.last + self.step
        else:
            pts += self.offset
        last = self.last
        if last is not None and pts <= last:
            if last - pts > self.step:
                self.event = "discontinuity"
                self.offset += last + self.step - pts
                pts = last + self.step
            else:
                self.event = "nudge"
                pts = last + 1
        self.last = pts
        return pts


class BestEffortTimestamp:
    """Choose between a frame's pts and dts the way libavcodec's ``guess_correct_pts`` does.

    Containers without real presentation times (AVI with B-frames) hand decoded frames pts that
    go backwards while their dts increase; whichever of the two has been non-increasing less
    often so far wins.
    """

    def __init__(self) -> None:
        self.faulty_pts = self.faulty_dts = 0
        self._last_pts: int | None = None
        self._last_dts: int | None = None

    def __call__(self, pts: int | None, dts: int | None) -> int | None:
        if dts is not None:
            self.faulty_dts += self._last_dts is not None and dts <= self._last_dts
            self._last_dts = dts
        if pts is not None:
            self.faulty_pts += self._last_pts is not None and pts <= self._last_pts
            self._last_pts = pts
        if pts is not None and (self.faulty_pts <= self.faulty_dts or dts is None):
            return pts
        return dts
