"""Hostile streams and folders, each answered in one clear line (issue: items 15, 17 and 18).

* 15: a YUV4MPEG2 stream on standard input cut inside a frame warns as a cut file does.
* 17: the output's folder moved (and replaced by a symlink) in the middle of a run.
* 18: options a stream cannot use are said to be unused; a bad YUV4MPEG2 header and an MP4 without its
  index are named for what they are.

Every case asserts the one ``edvr: error:`` / ``edvr: warning:`` line, the exit status, that the user's
files are unchanged and that nothing of edvr's (temporaries, work folders) is left.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import av
import pytest

from clips import make_clip, pattern_rgb, y4m_bytes
from conftest import GOLDEN
from edvr_cli.cli import main
from edvr_cli.errors import InputError
from edvr_cli.guard.output import FolderMovedError, guarded_output
from edvr_cli.video import isobmff, y4m

SR = str(GOLDEN / "basicsr_sr_tsa.pth")
FAST = ["--model", SR, "--device", "cpu", "--precision", "fp32", "--tile", "0", "-q"]
W = H = 32
FRAME = 6 + W * H * 3 // 2  # 'FRAME\n' and the 4:2:0 planes of one 32x32 frame


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (hidden ones included, links not followed): files by content."""
    out = {}
    for p in sorted(folder.rglob("*")):
        name = str(p.relative_to(folder))
        if p.is_symlink():
            out[name] = "-> " + os.readlink(p)
        elif p.is_file():
            out[name] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[name] = "folder"
    return out


def edvr_leftovers(folder: Path) -> list[str]:
    """Temporaries, partial files and work folders of edvr anywhere under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.name.startswith((".edvr-", "edvr-work")) or ".partial" in p.name or ".part" in p.name)


def one_line(err: str, kind: str = "error") -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"edvr: {kind}: "), err
    assert "Traceback" not in err
    return lines[0][len(f"edvr: {kind}: "):]


def stream(frames: int = 5, **kw) -> bytes:
    return y4m_bytes([pattern_rgb(k, W, H) for k in range(frames)], **kw)


def header_len(data: bytes) -> int:
    return data.index(b"\n") + 1


def frames_in(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.fixture
def stdin(monkeypatch, tmp_path_factory):
    """Put bytes on this process's file descriptor 0 (a real pipe), as a shell pipe would."""
    from edvr_cli.video import pipes

    saved = os.dup(0)
    monkeypatch.setattr(pipes, "_stdin", None)

    def put(data: bytes) -> None:
        assert len(data) < 60_000  # fits a pipe's buffer: written at once, then the end of the stream
        r, w = os.pipe()
        os.write(w, data)
        os.close(w)
        os.dup2(r, 0)
        os.close(r)

    yield put
    if pipes._stdin is not None:
        pipes._stdin.close()
    os.dup2(saved, 0)
    os.close(saved)


# -- 15: a YUV4MPEG2 stream cut inside a frame ------------------------------------------------------------------

def test_stdin_cut_inside_a_frame_warns_and_restores_the_whole_frames(tmp_path, stdin, capfd):
    data = stream(4)
    stdin(data[: header_len(data) + 2 * FRAME + 700])
    out = tmp_path / "o.mkv"
    assert main(["upscale", "-", str(out), *FAST]) == 0
    line = one_line(capfd.readouterr().err, "warning")
    assert line == (f"'standard input': the input ended inside frame 3 (700 of its {FRAME} bytes); "
                    "keeping the 2 whole frames before it")
    assert frames_in(out) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mkv"]


def test_a_y4m_file_cut_inside_a_frame_warns_the_same(tmp_path, capfd):
    data = stream(4)
    src = tmp_path / "cut.y4m"
    src.write_bytes(data[: header_len(data) + 2 * FRAME + 700])
    before = snapshot(tmp_path)
    out = tmp_path / "o.mkv"
    assert main(["upscale", str(src), str(out), *FAST]) == 0
    line = one_line(capfd.readouterr().err, "warning")
    assert line == (f"'cut.y4m': the input ended inside frame 3 (700 of its {FRAME} bytes); "
                    "keeping the 2 whole frames before it; the file may be truncated")
    assert frames_in(out) == 2
    after = snapshot(tmp_path)
    assert after.pop("o.mkv") and after == before


@pytest.mark.parametrize("cut", [0, 3, 700])  # at a frame's start, inside 'FRAME\n', inside its pixels
def test_stdin_cut_in_its_first_frame_is_one_error(tmp_path, stdin, capfd, cut):
    data = stream(2)
    stdin(data[: header_len(data) + cut])
    rc = main(["upscale", "-", str(tmp_path / "o.mkv"), *FAST])
    line = one_line(capfd.readouterr().err)
    assert rc != 0
    if cut:
        assert line.startswith(f"standard input ended inside its first frame ({cut} of its ")
        assert line.endswith("bytes): no whole frame to restore")
    else:
        assert line == "standard input has no decodable video frame"
    assert list(tmp_path.iterdir()) == []


def test_a_whole_stdin_stream_gives_no_warning(tmp_path, stdin, capfd):
    stdin(stream(3))
    assert main(["upscale", "-", str(tmp_path / "o.mkv"), *FAST]) == 0
    assert capfd.readouterr().err == ""
    assert frames_in(tmp_path / "o.mkv") == 3


def test_stdin_through_a_real_process_pipe_warns_once(tmp_path):
    """fd 0 of a fresh process (no fixture): the bytes counted are the ones FFmpeg read."""
    data = stream(4)
    out = tmp_path / "o.mkv"
    done = subprocess.run([sys.executable, "-m", "edvr_cli", "upscale", "-", str(out), *FAST],
                          input=data[: header_len(data) + 3 * FRAME + 6 + 100], capture_output=True, timeout=300)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert one_line(err, "warning") == (f"'standard input': the input ended inside frame 4 (106 of its {FRAME} "
                                        "bytes); keeping the 3 whole frames before it")
    assert frames_in(out) == 3 and sorted(p.name for p in tmp_path.iterdir()) == ["o.mkv"]


def test_ctrl_c_while_ffmpeg_reads_the_pipe_is_not_swallowed():
    """A signal's exception raised inside the read FFmpeg asked for comes out as it was (PyAV passes on only
    ``Exception``s: without care it would print it and read on)."""
    from edvr_cli.video.pipes import PipeSource

    data = stream(3)

    class Interrupting(io.RawIOBase):
        def __init__(self) -> None:
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[override]
            if self.data.tell() > header_len(data) + FRAME:
                raise KeyboardInterrupt
            chunk = self.data.read(min(len(buffer), 500))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    source = PipeSource(Interrupting())
    try:
        with pytest.raises(KeyboardInterrupt):
            list(source.frames())
    finally:
        source.close()


def test_frame_counter_follows_frames_fed_in_any_pieces():
    body = (b"FRAME\n" + bytes(10)) + (b"FRAME Ixyz\n" + bytes(10)) + b"FRAME\n" + bytes(4)
    for step in (1, 3, 7, len(body)):
        counter = y4m.FrameCounter(10)
        for i in range(0, len(body), step):
            counter.feed(body[i : i + step])
        assert counter.whole == 2 and counter.cut() == (3, 10, 16)
    whole = y4m.FrameCounter(10)
    whole.feed(body[:-10])
    assert whole.whole == 2 and whole.cut() is None
    in_line = y4m.FrameCounter(10)
    in_line.feed(b"FRAME\n" + bytes(10) + b"FRA")
    assert in_line.cut() == (2, 3, 16)
    lost = y4m.FrameCounter(10)
    lost.feed(b"GARBAGE\n" + bytes(30))  # not a frame: FFmpeg's own error speaks, no cut is claimed
    assert lost.lost and lost.cut() is None
    long_line = y4m.FrameCounter(10)
    long_line.feed(b"FRAME" + b"x" * 200)
    assert long_line.lost and long_line.cut() is None


def test_file_cut_measures_frames_with_parameters(tmp_path):
    data = stream(3)
    h = header_len(data)
    with_params = data[:h] + data[h:].replace(b"FRAME\n", b"FRAME Ip\n")
    f = tmp_path / "p.y4m"
    f.write_bytes(with_params)
    assert y4m.file_cut(f) is None
    f.write_bytes(with_params[:-5])
    assert y4m.file_cut(f) == (3, FRAME + 3 - 5, FRAME + 3)
    f.write_bytes(data[: h + FRAME])
    assert y4m.file_cut(f) is None
    f.write_bytes(b"not y4m")
    assert y4m.file_cut(f) is None


# -- 17: the output's folder moved and replaced by a symlink mid-run ------------------------------------------------

def _move_folder_at_frame(monkeypatch, folder: Path, moved: Path, replacement: Path | None, at: int = 2) -> None:
    """Once ``at`` frames are done, ``mv folder moved`` and (when given) ``ln -s replacement folder``."""
    from edvr_cli.jobs.context import RunContext

    real = RunContext.progress

    def progress(self, frames: int = 1) -> None:
        real(self, frames)
        if self.done >= at and not moved.exists():
            folder.rename(moved)
            if replacement is not None:
                folder.symlink_to(replacement, target_is_directory=True)

    monkeypatch.setattr(RunContext, "progress", progress)


@pytest.mark.parametrize("name", ["o.mkv", "frames"])  # a video file, a folder of PNG frames
@pytest.mark.parametrize("replaced", [True, False])
def test_output_folder_moved_mid_run_is_said_and_leaves_nothing(tmp_path, monkeypatch, capfd, name, replaced):
    src = make_clip(tmp_path / "in.mp4", width=W, height=H, frames=6)
    d, d2, elsewhere = tmp_path / "d", tmp_path / "d2", tmp_path / "elsewhere"
    d.mkdir()
    (d / "keep.txt").write_text("mine")
    elsewhere.mkdir()
    (elsewhere / "theirs.txt").write_text("not yours")
    _move_folder_at_frame(monkeypatch, d, d2, elsewhere if replaced else None)
    rc = main(["upscale", str(src), str(d / name), "--no-resume", *FAST])
    line = one_line(capfd.readouterr().err)
    assert rc != 0
    assert line == (f"cannot put '{name}' in place: its folder '{d}' was moved or replaced during the run "
                    f"(the folder edvr was writing in is now '{d2}'); nothing was written at '{d}', and edvr's "
                    "temporary output was removed; run again to write it")
    assert snapshot(d2) == {"keep.txt": hashlib.sha256(b"mine").hexdigest()}  # the moved folder: as it was
    assert snapshot(elsewhere) == {"theirs.txt": hashlib.sha256(b"not yours").hexdigest()}  # nothing through the link
    assert d.is_symlink() if replaced else not d.exists()
    assert edvr_leftovers(tmp_path) == []


def test_guard_removes_its_temporary_from_the_moved_folder(tmp_path):
    d, d2 = tmp_path / "d", tmp_path / "d2"
    d.mkdir()
    (tmp_path / "other").mkdir()
    with pytest.raises(FolderMovedError, match="was moved or replaced during the run"):
        with guarded_output(d / "o.bin") as temp:
            temp.write_bytes(b"finished work")
            d.rename(d2)
            d.symlink_to(tmp_path / "other")
    assert list(d2.iterdir()) == [] and list((tmp_path / "other").iterdir()) == []


def test_guard_writes_through_a_folder_that_was_a_symlink_from_the_start(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with guarded_output(tmp_path / "link" / "o.bin") as temp:
        temp.write_bytes(b"x")
    assert (real / "o.bin").read_bytes() == b"x" and sorted(p.name for p in real.iterdir()) == ["o.bin"]


def test_guard_follows_a_folder_moved_back_under_its_name(tmp_path):
    """The path leads to the same folder again (moved away and a link to it put back): no refusal."""
    d, d2 = tmp_path / "d", tmp_path / "d2"
    d.mkdir()
    with guarded_output(d / "o.bin") as temp:
        temp.write_bytes(b"x")
        d.rename(d2)
        d.symlink_to(d2)
    assert (d2 / "o.bin").read_bytes() == b"x" and sorted(p.name for p in d2.iterdir()) == ["o.bin"]


# -- 18 (a): options a stream cannot use are said to be unused ----------------------------------------------------

@pytest.mark.parametrize("args, said", [
    (["--resume"], "--resume is not used: standard output is written in one pass"),
    (["--workers", "2"], "--workers is not used: standard output is written in one pass"),
])
def test_resume_or_workers_into_stdout_are_said_unused(tmp_path, capfdbinary, args, said):
    src = make_clip(tmp_path / "in.mp4", width=W, height=H, frames=3)
    before = snapshot(tmp_path)
    assert main(["upscale", str(src), "-", *args, *FAST]) == 0
    captured = capfdbinary.readouterr()
    assert one_line(captured.err.decode(), "warning") == said
    with av.open(io.BytesIO(captured.out), format="yuv4mpegpipe") as c:
        assert sum(1 for _ in c.decode(video=0)) == 3
    assert snapshot(tmp_path) == before


def test_workers_with_stdin_are_said_unused(tmp_path, stdin, capfd):
    stdin(stream(3))
    out = tmp_path / "o.mkv"
    assert main(["upscale", "-", str(out), "--workers", "2", *FAST]) == 0
    assert one_line(capfd.readouterr().err, "warning") == "--workers is not used: standard input can be read only once"
    assert frames_in(out) == 3 and sorted(p.name for p in tmp_path.iterdir()) == ["o.mkv"]


# -- 18 (b): a bad YUV4MPEG2 header, an MP4 without its index -----------------------------------------------------

EXAMPLE = "it should read like 'YUV4MPEG2 W640 H480 F25:1 Ip A1:1 C420jpeg'"


@pytest.mark.parametrize("old, new, reason", [
    (b"W32", b"W-32", "width -32"),
    (b" Ip ", b" Im ", "interlace tag Im (mixed progressive and interlaced frames) is one FFmpeg cannot read"),
    (b"C420jpeg", b"C999", "unknown colour space C999 (FFmpeg reads C420jpeg, C422, C444, C420p10, Cmono ...)"),
])
def test_bad_y4m_header_in_a_file_is_named(tmp_path, capfd, old, new, reason):
    src = tmp_path / "x.y4m"
    src.write_bytes(stream(2).replace(old, new, 1))
    before = snapshot(tmp_path)
    rc = main(["upscale", str(src), str(tmp_path / "o.mkv"), *FAST])
    assert one_line(capfd.readouterr().err) == f"'{src}': the YUV4MPEG2 header is not valid: {reason}; {EXAMPLE}"
    assert rc == 1 and snapshot(tmp_path) == before


@pytest.mark.parametrize("old, new, reason", [
    (b"W32", b"W-32", "width -32"),
    (b" Ip ", b" Im ", "interlace tag Im (mixed progressive and interlaced frames) is one FFmpeg cannot read"),
])
def test_bad_y4m_header_on_stdin_is_named(tmp_path, stdin, capfd, old, new, reason):
    stdin(stream(2).replace(old, new, 1))
    rc = main(["upscale", "-", str(tmp_path / "o.mkv"), *FAST])
    assert one_line(capfd.readouterr().err) == f"standard input: the YUV4MPEG2 header is not valid: {reason}; {EXAMPLE}"
    assert rc == 1 and list(tmp_path.iterdir()) == []


def test_empty_or_foreign_stdin_is_one_line(tmp_path, stdin, capfd):
    for data, said in ((b"", "standard input is empty: it holds no YUV4MPEG2 stream"),
                       (b"hello\n", "standard input is not a YUV4MPEG2 stream (it does not begin with 'YUV4MPEG2')")):
        stdin(data)
        rc = main(["upscale", "-", str(tmp_path / "o.mkv"), *FAST])
        assert rc == 1 and one_line(capfd.readouterr().err).startswith(said)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("line, reason", [
    (b"YUV4MPEG2 W32 H24 F25:1 Ip\n", None),
    (b"YUV4MPEG2 W32 H24 I? C444p10\n", None),
    (b"YUV4MPEG2 W32 H24 XYSCSS=422\n", None),
    (b"YUV4MPEG2 W-32 H24\n", "width -32"),
    (b"YUV4MPEG2 W0 H24\n", "width 0"),
    (b"YUV4MPEG2 Wabc H24\n", "width 'abc' is not a number"),
    (b"YUV4MPEG2 H24\n", "no width (W)"),
    (b"YUV4MPEG2 F25:1\n", "no width (W) and no height (H)"),
    (b"YUV4MPEG2 W32 H24 Iz\n", "unknown interlace tag Iz (FFmpeg reads Ip, It, Ib or I?)"),
    (b"YUV4MPEG2 W32 H24 I\n", "unknown interlace tag I (FFmpeg reads Ip, It, Ib or I?)"),
    (b"YUV4MPEG2 W99999 H99999\n", "frame size 99999x99999 is larger than FFmpeg can read"),
    (b"YUV4MPEG2 W32 H24", "it ends before the end of its first line"),
    (b"YUV4MPEG2 W32 H24 X" + b"a" * 200 + b"\n", "its first line is longer than 128 bytes"),
    (b"YUV4MPEG W32 H24\n", "it does not begin with 'YUV4MPEG2'"),
])
def test_y4m_header_parser(line, reason):
    if reason is None:
        assert y4m.parse_header(line).header_bytes == len(line)
    else:
        with pytest.raises(y4m.Y4MHeaderError) as caught:
            y4m.parse_header(line)
        assert str(caught.value) == reason


@pytest.mark.parametrize("tag, fmt, size", [
    ("C420jpeg", "yuv420p", 33 * 17 + 2 * 17 * 9), ("C422", "yuv422p", 33 * 17 + 2 * 17 * 17),
    ("C444alpha", "yuva444p", 4 * 33 * 17), ("C411", "yuv411p", 33 * 17 + 2 * 9 * 17),
    ("C420p10", "yuv420p10", 2 * (33 * 17 + 2 * 17 * 9)), ("Cmono", "gray", 33 * 17),
    ("Cmono16", "gray16", 2 * 33 * 17),
])
def test_y4m_frame_size_is_ffmpegs(tag, fmt, size):
    header = y4m.parse_header(f"YUV4MPEG2 W33 H17 {tag}\n".encode())
    assert (header.pix_fmt, header.frame_bytes) == (fmt, size)
    data = f"YUV4MPEG2 W33 H17 {tag}\n".encode() + (b"FRAME\n" + bytes(size)) * 2
    with av.open(io.BytesIO(data), format="yuv4mpegpipe") as c:
        assert [p.size for p in c.demux(video=0) if p.size] == [size, size]


def _mp4(tmp_path: Path, faststart: bool) -> bytes:
    src = make_clip(tmp_path / "whole.mp4", width=W, height=H, frames=4,
                    container_options={"movflags": "faststart"} if faststart else None)
    data = src.read_bytes()
    src.unlink()
    return data


def _box(data: bytes, kind: bytes) -> tuple[int, int]:
    boxes = isobmff.top_level_boxes(lambda o, n: data[o : o + n], len(data))
    assert boxes is not None
    box = next(b for b in boxes if b.kind == kind.decode())
    return box.offset, box.size


@pytest.mark.parametrize("case", ["ends-in-mdat", "moov-cut", "moov-gone", "faststart-moov-cut"])
def test_mp4_without_its_index_is_named(tmp_path, capfd, case):
    data = _mp4(tmp_path, faststart=case.startswith("faststart"))
    moov, moov_size = _box(data, b"moov")
    mdat, mdat_size = _box(data, b"mdat")
    cut = {"ends-in-mdat": mdat + 100, "moov-cut": moov + 20, "moov-gone": moov,
           "faststart-moov-cut": moov + 200}[case]
    src = tmp_path / "x.mp4"
    src.write_bytes(data[:cut])
    before = snapshot(tmp_path)
    rc = main(["upscale", str(src), str(tmp_path / "o.mp4"), *FAST])
    line = one_line(capfd.readouterr().err)
    advice = "; copy or download it again, or rebuild its index with a repair tool (such as untrunc)"
    expected = {
        "ends-in-mdat": f"the MP4 index (moov box) is missing: the file is incomplete (it ends inside its 'mdat' box, "
                        f"100 of {mdat_size} bytes)",
        "moov-cut": f"the MP4 index (moov box) is cut off (20 of its {moov_size} bytes): the file is incomplete",
        "moov-gone": "the MP4 index (moov box) is missing: the file is incomplete",
        "faststart-moov-cut": f"the MP4 index (moov box) is cut off (200 of its {moov_size} bytes): "
                              "the file is incomplete",
    }[case]
    assert line == f"'{src}': {expected}{advice}"
    assert rc == 1 and snapshot(tmp_path) == before


@pytest.mark.parametrize("data", [b"not an mp4 at all\n" * 10,
                                  b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00" + b"\xff" * 64])
def test_a_file_that_is_not_mp4_boxes_keeps_ffmpegs_words(tmp_path, capfd, data):
    src = tmp_path / "x.mp4"
    src.write_bytes(data)
    rc = main(["upscale", str(src), str(tmp_path / "o.mp4"), *FAST])
    line = one_line(capfd.readouterr().err)
    assert rc == 1 and "moov" not in line and line.startswith(f"cannot read '{src}' as a video")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mp4"]


def test_top_level_boxes_walk():
    def walk(data: bytes) -> list[tuple[str, int, int, int]] | None:
        boxes = isobmff.top_level_boxes(lambda o, n: data[o : o + n], len(data))
        return None if boxes is None else [(b.kind, b.offset, b.size, b.present) for b in boxes]

    ftyp = struct.pack(">I4s", 16, b"ftyp") + b"isom\x00\x00\x00\x00"
    big = struct.pack(">I4sQ", 1, b"mdat", 40) + bytes(24)  # a 64-bit size
    rest = struct.pack(">I4s", 0, b"moov") + bytes(12)  # size 0: to the end of the file
    assert walk(ftyp + big + rest) == [("ftyp", 0, 16, 16), ("mdat", 16, 40, 40), ("moov", 56, 20, 20)]
    assert walk(ftyp + big[:30]) == [("ftyp", 0, 16, 16), ("mdat", 16, 40, 30)]
    assert walk(b"hello world, not boxes") is None
    assert walk(struct.pack(">I4s", 8, b"zzzz")) is None  # not a type an MP4 starts with
    assert walk(ftyp + struct.pack(">I4s", 4, b"free")) is None  # a size smaller than its header
    reads = []
    many = ftyp + struct.pack(">I4s", 8, b"free") * (isobmff.MAX_BOXES + 10)

    def counted(o: int, n: int) -> bytes:
        reads.append(o)
        return many[o : o + n]

    boxes = isobmff.top_level_boxes(counted, len(many))
    assert boxes is not None and len(boxes) == isobmff.MAX_BOXES and len(reads) == isobmff.MAX_BOXES  # bounded


def test_probe_names_the_cut_index_too(tmp_path):
    from edvr_cli.video import probe

    data = _mp4(tmp_path, faststart=False)
    src = tmp_path / "x.mp4"
    src.write_bytes(data[: _box(data, b"moov")[0]])
    with pytest.raises(InputError, match=r"the MP4 index \(moov box\) is missing"):
        probe(src)


def test_output_folder_moved_mid_resumable_run_says_where_the_segments_are(tmp_path, monkeypatch, capfd):
    """A resumable run's work folder moves with its folder: nothing is touched by the old name, and the
    one line says where the finished segments are and how to continue."""
    src = make_clip(tmp_path / "in.mp4", width=W, height=H, frames=6)
    d, d2, elsewhere = tmp_path / "d", tmp_path / "d2", tmp_path / "elsewhere"
    d.mkdir()
    elsewhere.mkdir()
    (elsewhere / "theirs.txt").write_text("not yours")
    _move_folder_at_frame(monkeypatch, d, d2, elsewhere)
    rc = main(["upscale", str(src), str(d / "o.mkv"), "--resume", "--segment-frames", "2", *FAST])
    line = one_line(capfd.readouterr().err)
    assert rc != 0
    assert line == (f"cannot put 'o.mkv' in place: its folder '{d}' was moved or replaced during the run (the "
                    f"folder edvr was writing in is now '{d2}'); nothing was written at '{d}', its finished segments "
                    f"are kept in '{d2}/.o.mkv.edvr-work': move the folder back and run the same command again to "
                    "continue")
    assert snapshot(elsewhere) == {"theirs.txt": hashlib.sha256(b"not yours").hexdigest()}
    assert (d2 / ".o.mkv.edvr-work").is_dir()


def test_guard_never_removes_folders_by_their_old_names_after_a_move(tmp_path):
    """The folders edvr made for an output are not removed once the output's folder moved: by their old
    names they may now be the user's."""
    out = tmp_path / "a" / "b" / "o.bin"
    with pytest.raises(FolderMovedError):
        with guarded_output(out) as temp:
            temp.write_bytes(b"work")
            (tmp_path / "a").rename(tmp_path / "a2")
            (tmp_path / "a" / "b").mkdir(parents=True)  # the user's new, empty folders
    assert (tmp_path / "a" / "b").is_dir()
    assert list((tmp_path / "a2" / "b").iterdir()) == []  # edvr's temporary removed where it went
