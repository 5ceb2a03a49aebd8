"""The segment grid: segments are whole batches, each stage starts on the grid with its context."""

from __future__ import annotations

from edvr_cli.jobs.segplan import (
    SegmentSpec,
    StageStarts,
    align_down,
    align_up,
    decode_range,
    plan_segments,
    reach,
    segment_frames_on_grid,
    stage_starts,
)


def test_alignment():
    assert [align_down(n, 4) for n in (0, 3, 4, 7)] == [0, 0, 4, 4]
    assert [align_up(n, 4) for n in (0, 1, 4, 5)] == [0, 4, 4, 8]
    assert align_up(5, 1) == 5 and align_down(5, 1) == 5


def test_segments_are_whole_batches():
    assert segment_frames_on_grid(300, 4) == 300
    assert segment_frames_on_grid(3, 4) == 4
    assert segment_frames_on_grid(5, 2) == 6
    assert segment_frames_on_grid(7, 1) == 7


def test_one_stage_starts_with_its_context():
    assert stage_starts(0, [4], 4) == StageStarts(0, (0,))
    assert stage_starts(8, [4], 4) == StageStarts(4, (8,))
    assert stage_starts(8, [6], 4) == StageStarts(0, (8,))  # 7-frame windows: decoding starts on the grid too


def test_stage_one_of_two_starts_on_the_grid():
    # stage 2 outputs from 12 and needs stage-1 frames from 8; stage 1 then needs input from 4
    assert stage_starts(12, [4, 4], 4) == StageStarts(4, (8, 12))
    # with batches of 3, stage 1 starts at the grid point below 12 - 4 = 8: 6, and decoding at the one below 2
    assert stage_starts(12, [4, 4], 3) == StageStarts(0, (6, 12))
    assert stage_starts(15, [4, 4], 3) == StageStarts(3, (9, 15))
    assert stage_starts(2, [4, 4], 2) == StageStarts(0, (0, 2))


def test_reach_covers_whole_batches_of_every_stage():
    assert reach([4], 4) == 8
    assert reach([4, 4], 4) == 12
    assert reach([4], 3) == 6 + 3


def test_decode_range_within_the_clip():
    assert decode_range(SegmentSpec(1, 8, 8), 100, [4], 4) == (4, 24)
    assert decode_range(SegmentSpec(2, 16, 4), 20, [4], 4) == (12, 20)


def test_plan_segments_reads_the_shortest_tail_when_called(monkeypatch):
    from edvr_cli.jobs import segplan

    monkeypatch.setattr(segplan, "SHORTEST_TAIL", 1)
    assert plan_segments(9, 4) == [SegmentSpec(0, 0, 4), SegmentSpec(1, 4, 4), SegmentSpec(2, 8, 1)]
    monkeypatch.setattr(segplan, "SHORTEST_TAIL", 3)
    assert plan_segments(9, 4) == [SegmentSpec(0, 0, 4), SegmentSpec(1, 4, 5)]


def test_segment_boundaries_move_to_nearby_cuts_on_the_grid():
    from edvr_cli.jobs.segplan import plan_segments

    def firsts(**kw):
        return [s.first for s in plan_segments(100, 20, **kw)]

    assert firsts() == [0, 20, 40, 60, 80]
    assert firsts(cuts=[23, 58], grid=1) == [0, 23, 43, 58, 78]  # within a quarter segment: moved
    assert firsts(cuts=[23, 57], grid=4) == [0, 20, 40, 60, 80]  # cuts off the batch grid: kept
    assert firsts(cuts=[24], grid=4) == [0, 24, 44, 64, 84]
    assert firsts(cuts=[9, 33], grid=1) == [0, 20, 40, 60, 80]  # too far from any boundary
    assert sum(s.count for s in plan_segments(100, 20, cuts=[23, 58, 97], grid=1)) == 100
