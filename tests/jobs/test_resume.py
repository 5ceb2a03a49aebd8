"""Resumable runs: segments in a work folder, continuing after an interruption, refusing to mix runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from edvr_cli.jobs import segplan, workfolder
from edvr_cli.cli import main
from edvr_cli.errors import OutputBusyError, ResumeError
from edvr_cli.jobs.join import continuous_dts, needed_delay
from edvr_cli.jobs.run import restore_video
from edvr_cli.jobs.settings import RestoreSettings
from edvr_cli.jobs.workfolder import RESUME_MIN_FRAMES, Segment, WorkFolder, work_dir
from edvr_cli.video import FrameReader

from clips import VFR_PTS_MS, frame_times, make_clip, packets
from conftest import GOLDEN

SR = str(GOLDEN / "basicsr_sr_tsa.pth")
STAGE2 = str(GOLDEN / "original_stage2_hrin.pth")


def settings(**kw) -> RestoreSettings:
    # one window per forward: segments of 3 frames stay 3 (segments are whole numbers of batches)
    base = dict(model=SR, device="cpu", precision="fp32", tile=0, quiet=True, resume=True, segment_frames=3, batch=1)
    base.update(kw)
    return RestoreSettings(**base)


def decoded(path: Path) -> np.ndarray:
    with FrameReader(path) as reader:
        return np.stack([f.rgb for f in reader])


@pytest.fixture(autouse=True)
def _short_tails(monkeypatch):
    """Tiny clips, tiny segments: a last segment of one frame is allowed here (not in real runs)."""
    monkeypatch.setattr(segplan, "SHORTEST_TAIL", 1)


def interrupt_at_write(monkeypatch, n: int) -> None:
    """Ctrl-C while the encoder writes the ``n``-th frame (segments are handed over in order before it)."""
    from edvr_cli.video import writer

    calls = {"n": 0}
    for cls in (writer.VideoWriter, writer.ImageSequenceWriter):
        real = cls.write

        def write(self, *args, real=real, **kw):
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt
            return real(self, *args, **kw)

        monkeypatch.setattr(cls, "write", write)


def run(src, out, progress: list | None = None, **kw):
    """``restore_video`` recording the frame counts it reports."""
    return restore_video(src, out, settings(**kw), on_progress=None if progress is None else
                         (lambda done, total: progress.append(done)))


# -- pure parts -------------------------------------------------------------------------------------------

def wants_resume(settings, frames, out, kind=None, pipe=False):
    from types import SimpleNamespace

    from edvr_cli.jobs.runplan import decide_resume
    from edvr_cli.video.paths import OutputKind

    info = SimpleNamespace(is_pipe=pipe)
    return decide_resume(settings, kind or OutputKind.FILE, info, frames, work_dir(out))[0]


def test_resume_policy(tmp_path):
    from edvr_cli.video.paths import OutputKind

    out = tmp_path / "out.mp4"
    auto = RestoreSettings()
    # standard output and standard input are never resumable, even when asked (said in the plan's note)
    assert not wants_resume(RestoreSettings(workers=2), None, out, kind=OutputKind.STDOUT)
    assert not wants_resume(RestoreSettings(resume=True), None, out, pipe=True)
    assert wants_resume(auto, RESUME_MIN_FRAMES + 1, out) and wants_resume(auto, None, out)
    assert not wants_resume(auto, 100, out)
    assert not wants_resume(RestoreSettings(resume=False), 10**6, out)
    assert wants_resume(RestoreSettings(resume=True), 2, out)
    work_dir(out).mkdir()  # an unfinished run of this output is continued even when short
    assert wants_resume(auto, 100, out)
    assert work_dir(out).name == ".out.mp4.edvr-work"


def test_continuous_dts_is_one_encoders_timing():
    # x264-like decode order with two B-frames: I P B b | I P B b ... (pts in ticks of 512)
    pts = [0, 1536, 512, 1024, 2048, 3584, 2560, 3072]
    assert needed_delay(pts) == 1
    dts = continuous_dts(pts, 2)
    assert dts == [-1024, -512, 0, 512, 1024, 1536, 2048, 2560]
    assert all(a < b for a, b in zip(dts, dts[1:])) and all(d <= p for d, p in zip(dts, pts))
    assert continuous_dts([0, 10, 20], 0) == [0, 10, 20]
    assert continuous_dts([0, 40, 40, 80], 0) == [0, 40, 40, 80]  # times Matroska rounded together
    with pytest.raises(ValueError):
        continuous_dts([0, 1536, 512], 0)


def test_work_folder_discards_what_was_not_recorded(tmp_path):
    out = tmp_path / "out.mkv"
    run = {"input": 1}
    with WorkFolder(out, run, frames_output=False).open() as work:
        work.part_path(0).write_bytes(b"segment 0")
        work.commit(Segment(0, 0, 3, 2))
        work.part_path(1).write_bytes(b"half a segment")  # killed while writing segment 1
    (work.path / "seg-000002.mkv").write_bytes(b"renamed but never recorded")
    (work.path / "assembly.mkv").write_bytes(b"half an assembly")
    with WorkFolder(out, run, frames_output=False).open() as again:
        assert [s.index for s in again.segments] == [0] and again.frames_done == 3
        assert sorted(p.name for p in again.path.iterdir()) == ["lock", "manifest.json", "seg-000000.mkv"]
        with pytest.raises(OutputBusyError, match="another edvr process"):
            WorkFolder(out, run, frames_output=False).open()
    with pytest.raises(ResumeError, match="--overwrite"):
        WorkFolder(out, {"input": 2}, frames_output=False).open()
    (work.path / "seg-000000.mkv").unlink()  # a recorded segment lost: the work after it cannot be used
    with WorkFolder(out, run, frames_output=False).open() as third:
        assert third.segments == []


# -- whole runs -------------------------------------------------------------------------------------------

def test_segments_restore_exactly_like_one_pass(tmp_path):
    """Windows use clip indices: every segment's first frames see the frames before it."""
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=8)
    # automatic batches (4 windows with 2 threads): segments are rounded up to whole batches
    restore_video(src, tmp_path / "whole", settings(resume=False, batch=None))
    restore_video(src, tmp_path / "segments", settings(batch=None))
    assert np.array_equal(decoded(tmp_path / "whole"), decoded(tmp_path / "segments"))
    assert not work_dir(tmp_path / "segments").exists()


@pytest.mark.slow
def test_two_stage_segments_restore_exactly_like_one_pass(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=16, height=16, frames=11)
    two = dict(stage2=STAGE2, padding="replicate")
    restore_video(src, tmp_path / "whole", settings(resume=False, batch=None, **two))
    # batches of 2: segments of 6; the last starts at 6: stage 2 outputs from 6 on, stage 1 from 2 on
    restore_video(src, tmp_path / "segments", settings(segment_frames=5, batch=2, **two))
    restore_video(src, tmp_path / "whole2", settings(resume=False, batch=2, **two))
    assert np.array_equal(decoded(tmp_path / "whole2"), decoded(tmp_path / "segments"))
    assert np.array_equal(decoded(tmp_path / "whole"), decoded(tmp_path / "segments"))


def test_interrupted_run_continues_after_its_last_segment(tmp_path, monkeypatch):
    src = make_clip(tmp_path / "in.mkv", width=32, height=24, frames=len(VFR_PTS_MS[:8]), pts=VFR_PTS_MS[:8],
                    audio=True, subtitles=[(0, 300, "hello"), (400, 200, "world")])
    reference = tmp_path / "reference.mkv"
    restore_video(src, reference, settings())

    out = tmp_path / "out.mkv"
    interrupt_at_write(monkeypatch, 8)  # in the third segment (frames 6, 7)
    with pytest.raises(KeyboardInterrupt):
        restore_video(src, out, settings())
    monkeypatch.undo()
    monkeypatch.setattr(segplan, "SHORTEST_TAIL", 1)
    work = work_dir(out)
    assert not out.exists()
    assert sorted(p.name for p in work.iterdir()) == ["lock", "manifest.json", "seg-000000.mkv", "seg-000001.mkv"]
    manifest = json.loads((work / "manifest.json").read_text())
    assert [s["first"] for s in manifest["segments"]] == [0, 3] and not manifest["finished"]

    progress: list[int] = []
    result = run(src, out, progress)
    # the total first, then where the earlier run stopped, then only frames 6 and 7 restored again
    assert progress == [0, 6, 7, 8] and result.frames == 8
    assert not work.exists()
    assert np.array_equal(decoded(out), decoded(reference))
    assert frame_times(out) == frame_times(src)
    assert [p for _, p in packets(out, "audio")] == [p for _, p in packets(src, "audio")]
    assert packets(out, "subtitle") == packets(src, "subtitle")
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["in.mkv", "out.mkv", "reference.mkv"]


def test_last_segment_takes_a_short_remainder(tmp_path, monkeypatch):
    from edvr_cli.jobs import workfolder

    made: list[tuple[int, int]] = []
    real = workfolder.WorkFolder.commit

    def commit(self, segment):
        made.append((segment.first, segment.frames))
        real(self, segment)

    monkeypatch.setattr(workfolder.WorkFolder, "commit", commit)
    monkeypatch.setattr(segplan, "SHORTEST_TAIL", 3)
    src = make_clip(tmp_path / "in.mp4", width=16, height=16, frames=8)
    progress: list[int] = []
    run(src, tmp_path / "out", progress)
    assert made == [(0, 3), (3, 5)] and progress == list(range(9))  # not [0, 3), [3, 6), [6, 8)
    assert len(list((tmp_path / "out").iterdir())) == 8


def test_mp4_output_timing_matches_one_pass(tmp_path):
    """Joined segments keep the frame rate and timing one encode would have (B-frames, edit list)."""
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=8, rotation=90)
    restore_video(src, tmp_path / "one.mp4", settings(resume=False))
    restore_video(src, tmp_path / "joined.mp4", settings(segment_frames=3))
    for name in ("one.mp4", "joined.mp4"):
        with av.open(str(tmp_path / name)) as c:
            v = c.streams.video[0]
            assert v.average_rate == 25 and v.frames == 8, name
    assert frame_times(tmp_path / "joined.mp4") == frame_times(src)
    from edvr_cli.video import probe

    assert probe(tmp_path / "joined.mp4").rotation == 90


def interrupted_run(src, out, monkeypatch) -> None:
    """A resumable run of ``src`` into ``out`` stopped by Ctrl-C at its 5th write (its first segments kept)."""
    interrupt_at_write(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        restore_video(src, out, settings())
    monkeypatch.undo()
    monkeypatch.setattr(segplan, "SHORTEST_TAIL", 1)


def test_other_arguments_refuse_to_mix_and_overwrite_starts_afresh(tmp_path, monkeypatch, capfd):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=7)
    out = tmp_path / "out.mp4"
    interrupted_run(src, out, monkeypatch)
    with pytest.raises(ResumeError, match=r"different --crf.*--overwrite"):
        restore_video(src, out, settings(crf=30))
    rc = main(["upscale", str(src), str(out), "--model", SR, "--device", "cpu", "--tile", "0", "-q", "--resume",
               "--precision", "fp32"])
    err = capfd.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and "segment length" in err and "--overwrite" in err  # CLI: 300
    assert work_dir(out).exists()
    progress: list[int] = []
    run(src, out, progress, crf=30, overwrite=True)
    assert progress == list(range(8)) and out.exists() and not work_dir(out).exists()  # total first


@pytest.mark.parametrize("changed, word", [({"strength": 0.5}, "--strength"), ({"shots": "off"}, "--shots")])
def test_a_changed_strength_or_shots_refuses_to_mix(tmp_path, monkeypatch, changed, word):
    """Every setting that changes pixels is in the run record: frames of two strengths never mix."""
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=7)
    out = tmp_path / "out.mp4"
    interrupted_run(src, out, monkeypatch)
    with pytest.raises(ResumeError, match=f"different {word}"):
        restore_video(src, out, settings(**changed))


def test_the_run_record_holds_every_setting_provenance_records(tmp_path):
    """The provenance lists the settings that change pixels; a resumed run must match each of them."""
    from edvr_cli.jobs.provenance import provenance
    from edvr_cli.jobs.runplan import make_plan
    from edvr_cli.jobs.segments import run_record

    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=7)
    plan = make_plan(src, tmp_path / "out.mp4", settings(dry_run=True))
    record = run_record(plan)
    covered = {"version": "edvr_cli", "models": "stage1_sha256", "deinterlaced": "deinterlace"}
    for key in provenance(plan):
        name = covered.get(key, key)
        assert name in record["settings"] or name in record, key


def test_changed_input_refuses(tmp_path, monkeypatch):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=5)
    out = tmp_path / "out.mp4"
    interrupted_run(src, out, monkeypatch)
    make_clip(src, width=32, height=24, frames=6)
    with pytest.raises(ResumeError, match="different input file"):
        restore_video(src, out, settings())


def test_ctrl_c_in_the_cli_says_what_was_kept(tmp_path, monkeypatch, capfd):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=5)
    interrupt_at_write(monkeypatch, 5)
    rc = main(["upscale", str(src), str(tmp_path / "out.mp4"), "--model", SR, "--device", "cpu", "--resume", "-q", "--batch", "1",
               "--segment-frames", "3"])
    err = capfd.readouterr().err
    assert rc == 130 and err.count("\n") == 1
    assert "interrupted (SIGINT); 3 finished frames" in err and "run the same command again" in err


@pytest.mark.slow
def test_kill_9_mid_run_then_resume(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=9, audio=True)
    out = tmp_path / "out.mp4"
    args = ["upscale", str(src), str(out), "--model", SR, "--device", "cpu", "--precision", "fp32", "--tile", "0",
            "-q", "--resume", "--segment-frames", "3", "--batch", "1"]
    shim = tmp_path / "run.py"  # the CLI with a slowed-down network
    shim.write_text(
        "import sys, time\n"
        "from edvr_cli.engine import restorer\n"
        "from edvr_cli.jobs import segplan\n"
        "segplan.SHORTEST_TAIL = 1\n"
        "real = restorer.StreamRestorer._quantize\n"
        "def slow(self, x):\n    time.sleep(float(sys.argv[1]))\n    return real(self, x)\n"
        "restorer.StreamRestorer._quantize = slow\n"

        "from edvr_cli.cli import main\n"
        "sys.exit(main(sys.argv[2:]))\n"
    )
    work = work_dir(out)
    proc = subprocess.Popen([sys.executable, str(shim), "0.5", *args], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            manifest = work / "manifest.json"
            if manifest.exists() and json.loads(manifest.read_text() or "{}").get("segments"):
                break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        else:
            pytest.fail("no segment was finished in time")
        time.sleep(0.6)  # now inside the next segment
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert not out.exists()
    done = [s["index"] for s in json.loads((work / "manifest.json").read_text())["segments"]]
    assert done and len(done) < 3
    rerun = subprocess.run([sys.executable, str(shim), "0", *args], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert not work.exists()
    restore_video(src, tmp_path / "reference.mp4", settings())
    assert np.array_equal(decoded(out), decoded(tmp_path / "reference.mp4"))
    assert frame_times(out) == frame_times(src)
    assert [p for _, p in packets(out, "audio")] == [p for _, p in packets(src, "audio")]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
