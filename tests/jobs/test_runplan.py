"""The one plan: ``--dry-run`` prints the plan the run executes, for every option; the input is read a
bounded number of times; split runs give byte-identical frames."""

from __future__ import annotations

import dataclasses
import os
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from clips import make_clip, make_interlaced_clip
from conftest import GOLDEN
from edvr_cli.cli import main
from edvr_cli.errors import EDVRError, OutputBusyError, OutputError
from edvr_cli.jobs.models import load_models
from edvr_cli.jobs.plan import dry_plan
from edvr_cli.jobs.run import execute
from edvr_cli.jobs.runplan import make_plan
from edvr_cli.jobs.settings import RestoreSettings
from edvr_cli.jobs.workfolder import work_dir
from edvr_cli.video.paths import OutputKind

SR = str(GOLDEN / "basicsr_sr_tsa.pth")
BASE = dict(model=SR, device="cpu", precision="fp32", tile=0, quiet=True)


def settings(**kw) -> RestoreSettings:
    return RestoreSettings(**{**BASE, **kw})


def facts(path: Path) -> tuple[int, Fraction | None, tuple[int, int], str, int]:
    """(frames, average rate, size, codec, streams) of a written video."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = sum(1 for _ in c.decode(v))
        return frames, v.average_rate, (v.width, v.height), v.codec_context.name, len(c.streams)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan")
    return {
        "plain": make_clip(root / "plain.mp4", width=32, height=24, frames=12),
        "av": make_clip(root / "av.mkv", width=32, height=24, frames=12, audio=True, subtitles=[(0, 200, "hi")]),
        "interlaced": make_interlaced_clip(root / "int.mp4", width=32, height=24, frames=6),
    }


CASES = {
    "default": ("plain", "o.mp4", {}),
    "workers": ("plain", "o.mp4", dict(workers=2, segment_frames=4)),
    "resume": ("plain", "o.mkv", dict(resume=True, segment_frames=4)),
    "span": ("plain", "o.mp4", dict(start="0.12", end="0.36")),
    "span-resume": ("plain", "o.mkv", dict(start="0.12", resume=True, segment_frames=4)),
    "field": ("interlaced", "o.mp4", dict(deinterlace="field")),
    "field-resume": ("interlaced", "o.mkv", dict(deinterlace="field", resume=True, segment_frames=4)),
    "size": ("plain", "o.mp4", dict(size=(48, -1))),
    "streams": ("av", "o.mp4", {}),
    "codec": ("av", "o.mkv", dict(codec="ffv1")),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_the_run_does_what_the_dry_run_planned(clips, tmp_path, case):
    src_name, out_name, kw = CASES[case]
    src, out = clips[src_name], tmp_path / out_name
    s = settings(**kw)
    planned = dry_plan(src, out, s)
    assert not out.exists() and not work_dir(out).exists()
    models = load_models(s)
    plan = make_plan(src, out, s, models)
    # the dry run and the run plan alike (the models' digests, the execution, segments ...)
    assert dataclasses.replace(planned, settings=s) == plan
    result = execute(plan, models)
    frames, rate, size, codec, streams = facts(out)
    assert frames == plan.frames == result.frames
    assert rate == plan.fps
    assert size == (plan.width, plan.height)
    assert codec == plan.encoder.codec.replace("lib", "").replace("x264", "h264")
    assert streams == 1 + len(plan.streams.copied) + len(plan.streams.converted)
    assert plan.segment_count == (len(plan.segments.specs) if plan.segments else 1)


def test_plan_lines_name_what_the_options_change(clips, tmp_path, capfd):
    common = ["--model", SR, "--device", "cpu", "--tile", "0", "-q", "--dry-run"]
    assert main(["upscale", str(clips["interlaced"]), str(tmp_path / "o.mp4"), "--deinterlace", "field",
                 *common]) == 0
    out = capfd.readouterr().out
    assert "50 fps, 12 frames" in out and "deinterlaced (bwdif, one frame per field)" in out
    assert main(["upscale", str(clips["plain"]), str(tmp_path / "o.mp4"), "--start", "0.12", "--end", "0.36",
                 *common]) == 0
    out = capfd.readouterr().out
    assert "25 fps, 6 frames, span" in out
    assert main(["upscale", str(clips["plain"]), str(tmp_path / "o.mkv"), "--workers", "2", "--segment-frames", "4",
                 *common]) == 0
    out = capfd.readouterr().out
    assert "run: resumable (segments are how parallel work is joined), 2 segment(s) of 4 frames" in out
    assert "on 2 local worker(s)" in out
    assert not [p for p in tmp_path.iterdir()]


def test_strict_streams_refused_by_the_dry_run_too(clips, tmp_path, capfd):
    rc = main(["upscale", str(clips["av"]), str(tmp_path / "o.mp4"), "--strict-streams", "--model", SR, "--dry-run"])
    err = [line for line in capfd.readouterr().err.splitlines() if line]
    assert rc != 0 and len(err) == 1 and err[0].startswith("edvr: error:") and "mov_text" in err[0]


def test_dry_run_of_standard_input(clips, tmp_path):
    import subprocess

    y4m = tmp_path / "in.y4m"
    with av.open(str(clips["plain"])) as inp, av.open(str(y4m), "w", format="yuv4mpegpipe") as out:
        s = out.add_stream("rawvideo", rate=25)
        s.width, s.height, s.pix_fmt = 32, 24, "yuv420p"
        for f in inp.decode(video=0):
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    cmd = [sys.executable, "-m", "edvr_cli", "upscale", "-", str(tmp_path / "o.mkv"), "--model", SR, "--dry-run",
           "--workers", "2"]
    done = subprocess.run(cmd, stdin=y4m.open("rb"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "input: standard input: rawvideo 32x24" in done.stdout
    assert "note: --workers is not used: standard input can be read only once" in done.stdout
    assert not (tmp_path / "o.mkv").exists()


# -- the input is read a bounded number of times ------------------------------------------------------------

@pytest.fixture
def opens(monkeypatch):
    """Counts ``av.open`` calls on each path (every module opens media through ``av.open``)."""
    counted: dict[str, int] = {}
    real = av.open

    def counting(target, *args, **kw):
        if isinstance(target, (str, os.PathLike)):
            key = os.fspath(target)
            counted[key] = counted.get(key, 0) + 1
        return real(target, *args, **kw)

    monkeypatch.setattr(av, "open", counting)
    return counted


@pytest.mark.parametrize("kw, segments", [({}, 0), (dict(resume=True, segment_frames=4), 3),
                                          (dict(resume=True, segment_frames=4, start="0.04"), 3)])
def test_the_input_is_opened_at_most_three_times_plus_once_per_segment(clips, tmp_path, opens, kw, segments):
    from edvr_cli.jobs.run import restore_video

    src = clips["av"]
    result = restore_video(src, tmp_path / "o.mkv", settings(**kw))
    assert result.frames
    assert 0 < opens[str(src)] <= 3 + segments, opens


# -- deletions go through the work folder's checks ------------------------------------------------------------

def test_overwrite_without_resume_never_removes_a_foreign_work_folder(clips, tmp_path):
    from edvr_cli.jobs.run import restore_video

    out = tmp_path / "o.mp4"
    folder = work_dir(out)
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"mine")
    with pytest.raises(OutputError, match="holiday.jpg"):
        restore_video(clips["plain"], out, settings(resume=False, overwrite=True))
    assert (folder / "holiday.jpg").read_bytes() == b"mine" and not out.exists()


def test_overwrite_without_resume_never_removes_a_live_runs_work_folder(clips, tmp_path):
    from filelock import FileLock

    from edvr_cli.jobs.run import restore_video
    from edvr_cli.jobs.workfolder import FORMAT, MANIFEST, VERSION

    out = tmp_path / "o.mp4"
    folder = work_dir(out)
    folder.mkdir()
    (folder / MANIFEST).write_text(f'{{"format": "{FORMAT}", "version": {VERSION}, "segments": []}}')
    lock = FileLock(str(folder / "lock"), timeout=0)
    lock.acquire()
    try:
        with pytest.raises(OutputBusyError):
            restore_video(clips["plain"], out, settings(resume=False, overwrite=True))
        assert (folder / MANIFEST).exists()
    finally:
        lock.release()
    restore_video(clips["plain"], out, settings(resume=False, overwrite=True))  # no one holds it now: removed
    assert out.exists() and not folder.exists()


def test_standard_output_never_touches_a_work_folder(clips, tmp_path, monkeypatch, capfdbinary):
    monkeypatch.chdir(tmp_path)
    hidden = tmp_path / ".-.edvr-work"
    hidden.mkdir()
    (hidden / "note.txt").write_text("mine")
    assert main(["upscale", str(clips["plain"]), "-", "--model", SR, "--overwrite", "--no-resume", "-q"]) == 0
    assert capfdbinary.readouterr().out.startswith(b"YUV4MPEG2")
    assert (hidden / "note.txt").read_text() == "mine"


# -- split runs are identical ----------------------------------------------------------------------------

def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.mark.slow
def test_default_thread_policy_makes_two_workers_equal_one_worker(tmp_path):
    """``--workers 2`` (each worker its share of the cores) equals ``--workers 1 --threads <that share>``
    and a one-pass run with those threads, frame for frame: batches and feature blocks on one grid."""
    src = str(make_clip(tmp_path / "in.mp4", width=64, height=48, frames=48))  # where feature blocks matter
    share = str(max(1, (os.cpu_count() or 1) // 2))
    common = ["--model", "edvr-tiny", "--device", "cpu", "--precision", "fp32", "--tile", "0", "--codec", "ffv1",
              "-q", "--segment-frames", "16"]
    assert main(["upscale", src, str(tmp_path / "two.mkv"), "--workers", "2", *common]) == 0
    assert main(["upscale", src, str(tmp_path / "one.mkv"), "--workers", "1", "--resume", "--threads", share,
                 *common]) == 0
    assert main(["upscale", src, str(tmp_path / "pass.mkv"), "--no-resume", "--threads", share, *common]) == 0
    two, one, whole = (decoded(tmp_path / n) for n in ("two.mkv", "one.mkv", "pass.mkv"))
    assert len(two) == len(one) == len(whole) == 48
    assert all(np.array_equal(a, b) and np.array_equal(a, c) for a, b, c in zip(two, one, whole, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("batch", ["3", "4"])
def test_segments_equal_one_pass_with_batches_and_two_stages(tmp_path, batch):
    """Segments start on the batch grid with each stage's context: byte-identical to one pass."""
    src = str(make_clip(tmp_path / "in.mp4", width=16, height=16, frames=30))
    common = ["--model", SR, "--stage2", str(GOLDEN / "original_stage2_hrin.pth"), "--padding", "replicate",
              "--device", "cpu", "--precision", "fp32", "--tile", "0", "--codec", "ffv1", "-q", "--threads", "1",
              "--batch", batch, "--segment-frames", "9"]
    assert main(["upscale", src, str(tmp_path / "seg.mkv"), "--resume", *common]) == 0
    assert main(["upscale", src, str(tmp_path / "pass.mkv"), "--no-resume", *common]) == 0
    seg, whole = decoded(tmp_path / "seg.mkv"), decoded(tmp_path / "pass.mkv")
    assert len(seg) == len(whole) == 30
    assert all(np.array_equal(a, b) for a, b in zip(seg, whole, strict=True))


def test_workers_receive_the_plan_and_read_no_fact_again(clips, tmp_path, monkeypatch):
    """A worker loads the models from the plan's files with the plan's digests (no re-hash)."""
    from edvr_cli.jobs.piece import PieceMaker

    s = settings(resume=True, segment_frames=4)
    plan = make_plan(clips["plain"], tmp_path / "o.mkv", s, load_models(s))

    def no_hash(path):
        raise AssertionError(f"{path} hashed again")

    import edvr_cli.model.descriptor as descriptor

    monkeypatch.setattr(descriptor, "sha256_file", no_hash)
    maker = PieceMaker(plan, device="cpu")
    spec = plan.segments.specs[1]
    segment = maker.make(spec, tmp_path / "piece.mkv")
    assert (segment.first, segment.frames) == (spec.first, spec.count) == (4, 8)  # the last takes the tail
    assert maker.models.stage1.sha256 == plan.stage1.sha256


def test_a_model_name_that_is_a_path_is_refused_in_one_line(tmp_path, capfd):
    victim = tmp_path / "report.safetensors"
    victim.write_bytes(b"x")
    rc = main(["weights", "remove", str(tmp_path / "report")])
    err = [line for line in capfd.readouterr().err.splitlines() if line]
    assert rc != 0 and len(err) == 1 and err[0].startswith("edvr: error:")
    assert victim.exists()


def test_plan_refuses_what_the_run_would_refuse_first(clips, tmp_path):
    with pytest.raises(EDVRError):
        dry_plan(clips["plain"], tmp_path / "o.mp4", settings(size=(1, 1)))
    (tmp_path / "o.mp4").write_bytes(b"keep")
    with pytest.raises(EDVRError):
        dry_plan(clips["plain"], tmp_path / "o.mp4", settings())
    assert (tmp_path / "o.mp4").read_bytes() == b"keep"


def test_output_kind_is_one_rule():
    from edvr_cli.video.paths import output_kind

    assert output_kind("-") is OutputKind.STDOUT
    assert output_kind("a.mkv") is OutputKind.FILE
    assert output_kind("frames") is OutputKind.FRAMES


@pytest.mark.parametrize("kw", [dict(start="0.04"), dict(deinterlace="field")])
def test_sequential_segments_are_the_planned_ones(tmp_path, monkeypatch, kw):
    """Inputs that cannot be cut are segmented as the frames come: segments of n frames, the last taking a
    remainder shorter than the shortest tail, as planned (segments shorter than that tail included)."""
    from edvr_cli.jobs import workfolder

    made: list[tuple[int, int, int]] = []
    real = workfolder.WorkFolder.commit
    monkeypatch.setattr(workfolder.WorkFolder, "commit", lambda self, seg: made.append(
        (seg.index, seg.first, seg.frames)) or real(self, seg))
    src = make_clip(tmp_path / "in.mp4", width=16, height=16, frames=21)
    s = settings(model="edvr-tiny", resume=True, segment_frames=4, batch=1, **kw)
    plan = make_plan(src, tmp_path / "o.mkv", s, load_models(s))
    assert not plan.segments.independent
    execute(plan, load_models(s))
    assert made == [(x.index, x.first, x.count) for x in plan.segments.specs]
    assert [m[2] for m in made][:3] == [4, 4, 4] and len(made) >= 4  # before: 4, then all the rest in one


@pytest.mark.slow
def test_an_interrupted_run_continues_with_more_workers(tmp_path, monkeypatch):
    """The rerun takes the batch and threads the finished segments were made with (they are recorded), so
    ``--workers 2`` continues a one-process run instead of refusing it as made "with a different --batch"."""
    from edvr_cli.jobs.run import restore_video
    from edvr_cli.video import writer

    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=24)
    out = tmp_path / "o.mkv"
    calls = {"n": 0}
    real = writer.VideoWriter.write

    def write(self, *args, **kw):
        calls["n"] += 1
        if calls["n"] == 14:
            raise KeyboardInterrupt
        return real(self, *args, **kw)

    monkeypatch.setattr(writer.VideoWriter, "write", write)
    s = settings(model="edvr-tiny", resume=True, segment_frames=8, codec="ffv1")
    with pytest.raises(KeyboardInterrupt):
        restore_video(src, out, s)
    monkeypatch.undo()
    warnings: list[str] = []
    plan = make_plan(src, out, dataclasses.replace(s, workers=2), load_models(s))
    from edvr_cli.jobs.runplan import plan_lines

    first = make_plan(src, tmp_path / "other.mkv", s, load_models(s))  # what the interrupted run had
    assert plan.execution.executor == "processes" and plan.execution.batch == first.execution.batch
    assert "continuing the unfinished run" in plan_lines(plan)[-2]
    restore_video(src, out, dataclasses.replace(s, workers=2), on_warning=warnings.append)
    restore_video(src, tmp_path / "whole.mkv", dataclasses.replace(s, resume=False))
    assert all(np.array_equal(a, b) for a, b in zip(decoded(out), decoded(tmp_path / "whole.mkv"), strict=True))
