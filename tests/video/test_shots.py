"""Scene cuts: the detection rule, its locality (segments agree with one pass), and cut files."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from clips import scene_rgb as scene
from edvr_cli.model.padding import shot_window, window_indices
from edvr_cli.video.planes import YUVFrame
from edvr_cli.video.shots import (
    CutDetector,
    ShotPlan,
    Shots,
    cuts_at,
    find_cuts,
    format_cut,
    parse_cut_times,
    signature,
)


def joined(lengths: list[int], kinds: list[int] | None = None) -> list[np.ndarray]:
    kinds = kinds or list(range(len(lengths)))
    return [scene(kd, k) for kd, n in zip(kinds, lengths, strict=True) for k in range(n)]


def test_cuts_between_scenes_are_found_and_nothing_else():
    assert find_cuts(joined([7, 9, 6])) == [7, 16]
    assert find_cuts(joined([12])) == []


def test_a_one_frame_flash_and_a_fade_are_not_cuts():
    frames = joined([12])
    frames[5] = np.full_like(frames[5], 255)  # a flash
    assert find_cuts(frames) == []
    fade = [(f.astype(np.float32) * (1 - k / 11)).astype(np.uint8) for k, f in enumerate(joined([12]))]
    assert find_cuts(fade) == []


def test_fast_motion_is_not_a_cut():
    frames = [scene(2, 5 * k) for k in range(12)]  # the checker jumps most of a square each frame
    assert find_cuts(frames) == []


def test_yuv_planes_and_rgb_give_the_same_cuts():
    rgb = joined([6, 6])

    def planes(a: np.ndarray) -> YUVFrame:
        yy = (a.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)).round().astype(np.uint8)
        return YUVFrame(yy, None, None, 8, 1, True)

    assert find_cuts([planes(a) for a in rgb]) == find_cuts(rgb) == [6]
    assert signature(planes(rgb[0])).thumb.shape == (18, 32)


@pytest.mark.parametrize("first", [1, 2, 3, 5, 8])
def test_a_detector_started_mid_clip_agrees_with_one_pass(first):
    """Cuts depend on frames i-2 .. i+1 only: a segment read from any frame decides every cut from
    ``first + 2`` on as the whole clip does (and none where it lacks the frames before)."""
    frames = joined([4, 5, 3, 6])
    whole = find_cuts(frames)
    d = CutDetector(first, clip_start=False)
    cuts: list[int] = []
    for f in frames[first:]:
        cuts += d.push(f)
    cuts += d.finish()
    assert [c for c in cuts if c >= first + 2] == [c for c in whole if c >= first + 2]
    assert all(c >= first + 2 for c in cuts)


def test_shots_give_each_centre_its_shot():
    shots = Shots([5, 9])
    assert shots.bounds(0, 0, None) == (0, 5)
    assert shots.bounds(5, 0, None) == (5, 9)
    assert shots.bounds(12, 0, 14) == (9, 14)
    assert shots.bounds(4, 2, 4) == (2, 4)


def test_a_shot_window_is_the_whole_clip_window_shifted():
    for padding in ("reflection_circle", "replicate", "reflection", "circle"):
        for c in range(5, 9):
            assert shot_window(c, 5, 9, 5, padding) == [5 + i for i in window_indices(c - 5, 4, 5, padding)]
    assert shot_window(6, 5, 20, 5) == [9, 5, 6, 7, 8]  # reflection_circle at the shot's start


def test_cut_files_read_start_s_time_syntax():
    text = "# cuts\n1.5\n00:00:02.250  # frame 56\n\n1:03.5\n250ms\n"
    assert parse_cut_times(text) == [Fraction(3, 2), Fraction(9, 4), Fraction(127, 2), Fraction(1, 4)]
    for bad, why in (("1.5x", "cannot read time"), ("00:61:00", "60 or more"), ("1:75", "60 or more"),
                     ("-1", "negative")):
        with pytest.raises(ValueError, match=f"line 2: .*{why}"):
            parse_cut_times(f"0.5\n{bad}\n")


def test_cut_times_become_the_first_frame_shown_at_or_after_them():
    times = [Fraction(k, 25) for k in range(50)]
    assert cuts_at([Fraction(1), Fraction(1, 50), Fraction(0), Fraction(10)], times) == [1, 25]


def test_format_cut_reads_back():
    line = format_cut(1523, Fraction(37234567, 10000))
    assert line == "1:02:03.457  # frame 1523"
    assert parse_cut_times(line) == [Fraction(3723457, 1000)]


def test_shot_plans_describe_themselves():
    assert ShotPlan("off").make() is None
    assert ShotPlan("file", (3, 7), "/x/cuts.txt").make().cuts == [3, 7]
    assert "2 cuts from 'cuts.txt'" in ShotPlan("file", (3, 7), "/x/cuts.txt").describe()
    assert ShotPlan("auto").live and not ShotPlan("file", ()).live
