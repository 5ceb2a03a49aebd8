"""The presentation-time rules, in their one module."""

from __future__ import annotations

from fractions import Fraction

from edvr_cli.video.timing import BestEffortTimestamp, Increasing, SourceTimes, output_times, rescale


def test_rescale_rounds_to_the_nearest_tick():
    assert rescale(3600, Fraction(1, 90000), Fraction(1, 1000)) == 40
    assert rescale(45, Fraction(1, 90000), Fraction(1, 1000)) == 0  # 0.5 ms: halves to even
    assert rescale(7, Fraction(1, 25), Fraction(1, 25)) == 7


def test_increasing_nudges_repeats_and_counts_them():
    keep = Increasing()
    assert [keep(t) for t in (0, 0, 1, 5, 4)] == [0, 1, 2, 5, 6]
    assert keep.nudged == 3 and keep.last == 6
    assert Increasing(floor=10)(3) == 11


def test_output_times_continue_after_a_floor():
    ms = Fraction(1, 1000)
    assert output_times([0, 3600, 7200], Fraction(1, 90000), ms) == [0, 40, 80]
    assert output_times([0, 10], Fraction(1, 90000), ms, floor=5) == [6, 7]


def test_source_times_repair_gaps_discontinuities_and_repeats():
    times = SourceTimes(step=40)
    assert times(None) == 0 and times.event is None
    assert times(40) == 40
    assert times(None) == 80  # a missing time: one frame on
    assert times(0) == 120 and times.event == "discontinuity"  # a jump back: the timeline continues
    assert times(40) == 160  # later times keep the shift
    assert times(150) == 270 and times.event is None
    assert times(140) == 271 and times.event == "nudge"  # a small step back: one tick on


def test_best_effort_timestamp_prefers_the_less_faulty_series():
    guess = BestEffortTimestamp()
    assert [guess(p, d) for p, d in ((0, 0), (80, 40), (40, 80))] == [0, 80, 80]
