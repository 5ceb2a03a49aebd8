"""Provenance: every output records the edvr version, the models and the settings that change pixels;
``edvr info`` reads it back; segmented runs keep it; hostile tags are refused with one line."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import av
import numpy as np
import pytest

from clips import make_clip
from edvr_cli import __version__
from edvr_cli.cli import main
from edvr_cli.digest import sha256_file
from edvr_cli.errors import InputError
from edvr_cli.jobs import segplan
from edvr_cli.jobs.provenance import MAX_BYTES, provenance, read_provenance, tags
from edvr_cli.jobs.run import restore_video
from edvr_cli.jobs.settings import RestoreSettings
from edvr_cli.jobs.workfolder import work_dir
from edvr_cli.video.images import png_bytes
from edvr_cli.video.pngtext import read_text, with_text

FAST = ["--model", "edvr-tiny", "--device", "cpu", "--precision", "fp32", "--tile", "0", "-q"]


def settings(**kw) -> RestoreSettings:
    return RestoreSettings(**{**dict(model="edvr-tiny", device="cpu", precision="fp32", tile=0, quiet=True), **kw})


def tiny_sha256() -> str:
    from edvr_cli.zoo.registry import default_registry

    entry = default_registry().get("edvr-tiny")
    return sha256_file(entry.bundled_path())


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("prov") / "in.mp4", width=16, height=16, frames=7)


def expect_recorded(record: dict | None, **settings_) -> None:
    assert record is not None
    assert record["version"] == __version__ and record["task"] == "upscale"
    assert record["models"] == [{"name": "edvr-tiny", "sha256": tiny_sha256()}]
    assert record["precision"] == "fp32" and record["tile"] == [0] and record["tile_overlap"] == 16
    assert record["size"] == [64, 64] and record["padding"]
    assert record["deinterlace"] == "auto" and record["deinterlaced"] is False
    assert record["shots"] == "auto" and record["strength"] == 1.0
    for key, value in settings_.items():
        assert record[key] == value


# -- round trips ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["o.mp4", "o.mov", "o.mkv", "frames"])
def test_round_trip(clip, tmp_path, name):
    out = tmp_path / name
    restore_video(clip, out, settings())
    record = read_provenance(out)
    expect_recorded(record)
    if out.is_dir():  # every frame carries it, not only the first
        files = sorted(out.iterdir())
        assert len(files) == 7 and all(read_provenance(f) == record for f in files)
    else:
        with av.open(str(out)) as c:
            comment = {k.lower(): v for k, v in c.metadata.items()}["comment"]
        assert comment.startswith(f"restored with edvr {__version__} upscale, edvr-tiny (sha256 ")


def test_the_tags_are_what_the_plan_says(clip, tmp_path):
    from edvr_cli.jobs.models import load_models
    from edvr_cli.jobs.runplan import make_plan

    s = settings(strength=0.5, shots="off")
    models = load_models(s)
    plan = make_plan(clip, tmp_path / "o.mkv", s, models)
    record = provenance(plan)
    assert record["strength"] == 0.5 and record["shots"] == "off"
    assert json.loads(tags(record)["edvr"]) == record and len(tags(record)["edvr"]) < 1000
    from edvr_cli.jobs.run import execute

    execute(plan, models)
    assert read_provenance(tmp_path / "o.mkv") == record


def test_both_stages_are_recorded(clip, tmp_path):
    from conftest import GOLDEN
    from edvr_cli.jobs.plan import dry_plan
    from edvr_cli.jobs.provenance import describe

    sr, stage2 = GOLDEN / "basicsr_sr_tsa.pth", GOLDEN / "original_stage2_hrin.pth"
    record = provenance(dry_plan(clip, tmp_path / "o.mkv", settings(model=str(sr), stage2=str(stage2))))
    assert [m["sha256"] for m in record["models"]] == [sha256_file(sr), sha256_file(stage2)]
    assert record["tile"] == [0, 0]
    lines = describe(record)
    assert f"stage 2: {record['models'][1]['name']}, sha256 {sha256_file(stage2)}" in lines


def test_a_file_of_cuts_is_recorded_by_its_digest_not_its_path(clip, tmp_path):
    cuts = tmp_path / "my secret cuts.txt"
    cuts.write_text("0.12\n")
    s = settings(shots=str(cuts))
    from edvr_cli.jobs.plan import dry_plan

    record = provenance(dry_plan(clip, tmp_path / "o.mkv", s))
    assert record["shots"] == "file" and record["shots_sha256"] == sha256_file(cuts)
    assert "secret" not in json.dumps(record)


@pytest.mark.parametrize("name", ["o.mp4", "frames"])
def test_no_provenance_leaves_none(clip, tmp_path, name):
    out = tmp_path / name
    assert main(["upscale", str(clip), str(out), *FAST, "--no-provenance"]) == 0
    assert read_provenance(out) is None
    if out.is_file():
        with av.open(str(out)) as c:
            assert not {"edvr", "comment"} & {k.lower() for k in c.metadata}


# -- segmented runs --------------------------------------------------------------------------------------

@pytest.fixture
def short_tails(monkeypatch):
    monkeypatch.setattr(segplan, "SHORTEST_TAIL", 1)


@pytest.mark.slow
@pytest.mark.parametrize("name, kw", [
    ("o.mkv", {}),  # independent segments, joined by packet copy
    ("o.mp4", dict(start="0.04")),  # a span: one sequential pass cut into segments
    ("frames", {}),  # frames of every segment linked into the folder
    ("workers", dict(workers=2)),  # frames made by worker processes
])
def test_a_segmented_run_keeps_it(clip, tmp_path, short_tails, name, kw):
    out = tmp_path / name
    result = restore_video(clip, out, settings(resume=True, segment_frames=3, batch=1, **kw))
    assert not work_dir(out).exists()
    record = read_provenance(out)
    expect_recorded(record)
    if out.is_dir():
        files = sorted(out.iterdir())
        assert len(files) == result.frames == 7 and all(read_provenance(f) == record for f in files)


# -- edvr info --------------------------------------------------------------------------------------------

def test_info_prints_the_provenance_and_the_container(clip, tmp_path, capfd):
    out = tmp_path / "o.mkv"
    assert main(["upscale", str(clip), str(out), *FAST]) == 0
    capfd.readouterr()
    assert main(["info", str(out)]) == 0
    lines = capfd.readouterr().out.splitlines()
    assert lines[0].startswith("o.mkv: mkv, h264 64x64, ") and lines[0].endswith(" frames, 0.280 s")
    assert lines[1:] == [
        f"edvr version: {__version__}",
        "task: upscale",
        f"model: edvr-tiny, sha256 {tiny_sha256()}",
        "precision: fp32",
        "tiles: whole frames",
        "output size: 64x64",
        f"padding: {read_provenance(out)['padding']}",
        "deinterlace: auto (not applied)",
        "shots: auto",
        "strength: 1",
    ]
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capfd.readouterr().out) == read_provenance(out)


def test_info_of_a_folder_of_frames_and_of_a_file_without_provenance(clip, tmp_path, capfd):
    out = tmp_path / "frames"
    assert main(["upscale", str(clip), str(out), *FAST]) == 0
    capfd.readouterr()
    assert main(["info", str(out)]) == 0
    lines = capfd.readouterr().out.splitlines()
    assert lines[0] == "frames/: 7 frames (png), 64x64" and f"model: edvr-tiny, sha256 {tiny_sha256()}" in lines
    assert main(["info", str(clip)]) == 0
    captured = capfd.readouterr()
    assert captured.out.splitlines() == ["in.mp4: mp4, h264 16x16, 7 frames, 0.280 s",
                                         "provenance: none recorded (not made by edvr, made with --no-provenance, "
                                         "or in a container that keeps no tags)"]
    assert captured.err == ""
    assert main(["info", str(clip), "--json"]) == 0
    assert capfd.readouterr().out.strip() == "null"


def test_info_of_a_file_that_is_no_video_is_one_line(tmp_path, capfd):
    junk = tmp_path / "notes.mp4"
    junk.write_bytes(b"this is not a video\n" * 10)
    assert main(["info", str(junk)]) == 1
    err = capfd.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("edvr: error: cannot read ") and "not a video" in err[0]
    assert main(["info", str(tmp_path / "missing.mkv")]) == 1
    assert capfd.readouterr().err.startswith("edvr: error: input ")


def test_dry_run_says_what_is_recorded(clip, tmp_path, capfd):
    for name, extra, said in [
        ("o.mkv", [], "provenance: as the matroska container tag 'edvr': edvr "),
        ("frames", [], "provenance: as the PNG text chunk 'edvr' of every frame: edvr "),
        ("o.mkv", ["--no-provenance"], "provenance: off (--no-provenance)"),
        ("o.avi", [], "provenance: not recorded (avi keeps no tags of its own"),
        ("-", [], "provenance: not recorded (standard output is YUV4MPEG2"),
    ]:
        assert main(["upscale", str(clip), str(tmp_path / name) if name != "-" else "-", *FAST, "--dry-run",
                     *extra]) == 0
        lines = [line for line in capfd.readouterr().out.splitlines() if line.startswith("provenance:")]
        assert len(lines) == 1 and lines[0].startswith(said), lines
    assert not list(tmp_path.iterdir())


def test_a_container_that_cannot_carry_it_says_so(clip, tmp_path):
    warnings: list[str] = []
    restore_video(clip, tmp_path / "o.avi", settings(), on_warning=warnings.append)
    assert any("avi output cannot carry the provenance tag" in w for w in warnings)
    assert read_provenance(tmp_path / "o.avi") is None
    warnings.clear()
    restore_video(clip, tmp_path / "o2.avi", settings(provenance=False), on_warning=warnings.append)
    assert not any("provenance" in w for w in warnings)


# -- hostile files -----------------------------------------------------------------------------------------

def tagged_mkv(path: Path, value: str) -> Path:
    with av.open(str(path), "w") as out:
        video = out.add_stream("ffv1", rate=25, width=16, height=16)
        video.pix_fmt = "yuv420p"
        out.metadata["edvr"] = value
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
        frame.pts = 0
        out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def tagged_png(path: Path, value: str) -> Path:
    path.write_bytes(with_text(png_bytes(np.zeros((4, 4, 3), np.uint8)), {"edvr": value}))
    return path


DEEP = "[" * 5000 + "]" * 5000
HUGE = json.dumps({"version": "x" * (2 * MAX_BYTES)})


@pytest.mark.parametrize("make", [tagged_mkv, tagged_png])
@pytest.mark.parametrize("value, said", [
    (DEEP, "nested more than 8 levels deep"),
    (HUGE, f"more than the {MAX_BYTES} edvr writes at most"),
    ("[1, 2]", "not a JSON object"),
    ("{not json", "not valid"),
])
def test_a_hostile_tag_is_refused_with_one_line(tmp_path, capfd, make, value, said):
    path = make(tmp_path / ("h.mkv" if make is tagged_mkv else "h.png"), value)
    with pytest.raises(InputError, match=said):
        read_provenance(path)
    assert main(["info", str(path)]) == 1
    err = capfd.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("edvr: error: ") and said in err[0]


def test_a_huge_png_text_chunk_is_not_read(tmp_path, monkeypatch):
    """The size is checked from the chunk header: the text itself is never read."""
    path = tagged_png(tmp_path / "h.png", "x" * 100_000)
    reads: list[int] = []
    real_open = open

    def counting_open(*args, **kw):
        f = real_open(*args, **kw)
        real_read = f.read
        f.read = lambda n=-1: reads.append(n) or real_read(n)  # type: ignore[method-assign]
        return f

    monkeypatch.setattr("builtins.open", counting_open)
    with pytest.raises(InputError, match="holds 100005 bytes"):  # the keyword, its NUL and the text
        read_provenance(path)
    assert all(0 <= n <= 64 for n in reads)


# -- PNG text chunks ---------------------------------------------------------------------------------------

def test_png_text_chunks_round_trip_and_stay_valid_png(tmp_path):
    rgb = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    data = with_text(png_bytes(rgb), {"edvr": '{"a":1}', "comment": "naïve ✓"})
    path = tmp_path / "t.png"
    path.write_bytes(data)
    assert read_text(path, "edvr", 100) == '{"a":1}'
    assert read_text(path, "comment", 100) == "naïve ✓"  # iTXt: UTF-8 beyond Latin-1
    assert b"Comment\x00" in data  # PNG's registered keyword
    length = int.from_bytes(data[33:37], "big")  # the first chunk after the header, with a valid CRC
    assert data[37:41] == b"tEXt"
    assert data[41 + length:45 + length] == zlib.crc32(data[37:41 + length]).to_bytes(4, "big")
    assert read_text(path, "other", 100) is None
    with av.open(str(path)) as c:  # FFmpeg still decodes it, to the same pixels
        frame = next(c.decode(video=0))
    assert np.array_equal(frame.to_ndarray(format="rgb24"), rgb)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError):
        read_text(tmp_path / "bad.png", "edvr", 100)
