"""Tiny synthetic clips for tests, written with PyAV (no files checked in).

Every function writes into the path it is given and returns it. Clips are small (64x48 by
default, a dozen frames) so a whole test module runs in seconds. Import from tests as
``from clips import make_clip`` (``tests/`` is on ``sys.path``: ``pythonpath`` in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

#: Irregular presentation times (ms) used for variable-frame-rate clips.
VFR_PTS_MS: tuple[int, ...] = (0, 40, 80, 200, 240, 250, 400, 440, 480, 700, 733, 766)

AUDIO_RATE = 48000
AUDIO_FRAME = 1024


def has_encoder(name: str) -> bool:
    """Whether this FFmpeg build can encode with ``name``."""
    try:
        return av.codec.Codec(name, "w").is_encoder
    except Exception:
        return False


def pattern_rgb(index: int, width: int, height: int) -> np.ndarray:
    """Deterministic moving gradient, uint8 ``(height, width, 3)``, different for every frame."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(1, width - 1) + 9 * index) % 256
    g = (y * 255 // max(1, height - 1) + 5 * index) % 256
    b = ((x + y) * 4 + 17 * index) % 256
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def make_clip(
    path: str | Path,
    *,
    codec: str = "libx264",
    width: int = 64,
    height: int = 48,
    frames: int = 12,
    fps: int = 25,
    pix_fmt: str = "yuv420p",
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    audio: bool = False,
    audio_seconds: float | None = None,
    subtitles: Sequence[tuple[int, int, str]] = (),
    colorspace: int | None = None,
    color_range: int | None = None,
    color_primaries: int | None = None,
    color_trc: int | None = None,
    rotation: int = 0,
    sample_aspect_ratio: Fraction | None = None,
    yuv_frames: Sequence[av.VideoFrame] | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    attachments: dict[str, bytes] | None = None,
) -> Path:
    """Write a clip; the container follows the extension.

    Args:
        codec, pix_fmt, width, height, frames, fps: the video stream.
        pts: explicit presentation times in ``time_base`` units (variable frame rate); default
            ``0, 1, 2 ...`` in ``1 / fps``.
        audio: add an AAC mono track (48 kHz) covering the video's duration (or ``audio_seconds``).
        subtitles: ``(start_ms, duration_ms, text)`` cues, muxed as SubRip packets (Matroska only).
        colorspace, color_range, color_primaries, color_trc: FFmpeg codes tagged on the stream.
        rotation: display rotation, counter-clockwise degrees.
        sample_aspect_ratio: pixel aspect ratio.
        yuv_frames: ready-made frames in ``pix_fmt`` (used instead of the RGB pattern).
        options: encoder options (``crf``, ``preset`` ...); default lossless-ish ``crf=12``.
        container_options: muxer options (``{"movflags": "faststart"}`` puts the mp4 index first).
        attachments: ``{file name: bytes}`` attached files (fonts), Matroska only.
    """
    path = Path(path)
    if yuv_frames is not None:
        frames = len(yuv_frames)
    time_base = time_base or (Fraction(1, 1000) if pts is not None else Fraction(1, fps))
    pts = list(pts) if pts is not None else list(range(frames))
    if len(pts) < frames:
        raise ValueError("need one pts per frame")
    opts = {"crf": "12"} if codec in ("libx264", "libx265") else {}
    if codec == "libx265":
        opts["x265-params"] = "log-level=error"
    opts.update(options or {})
    with av.open(str(path), "w", options=container_options or {}) as out:
        video = out.add_stream(codec, rate=fps, options=opts, time_base=time_base, width=width, height=height)
        video.pix_fmt = pix_fmt
        ctx = video.codec_context
        for attr, value in (
            ("colorspace", colorspace),
            ("color_range", color_range),
            ("color_primaries", color_primaries),
            ("color_trc", color_trc),
        ):
            if value is not None:
                setattr(ctx, attr, value)
        if sample_aspect_ratio is not None:
            ctx.sample_aspect_ratio = sample_aspect_ratio
        if rotation:
            video.set_display_rotation(rotation)
        for name, data in (attachments or {}).items():
            out.add_attachment(name, "application/octet-stream", data)
        audio_stream = out.add_stream("aac", rate=AUDIO_RATE, layout="mono") if audio else None
        sub_stream = None
        if subtitles:
            sub_stream = out.add_mux_stream("subrip")
            sub_stream.time_base = Fraction(1, 1000)
            sub_stream.metadata["language"] = "eng"
        for i in range(frames):
            if yuv_frames is not None:
                frame = yuv_frames[i]
            else:
                frame = av.VideoFrame.from_ndarray(pattern_rgb(i, width, height), format="rgb24")
                frame = frame.reformat(format=pix_fmt)
            if colorspace is not None:
                frame.colorspace = colorspace
            if color_range is not None:
                frame.color_range = color_range
            frame.pts = pts[i]
            frame.time_base = time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio_stream is not None:
            seconds = audio_seconds if audio_seconds is not None else float((pts[frames - 1] + 1) * time_base)
            _write_tone(out, audio_stream, seconds)
        for start, duration, text in subtitles:
            packet = av.Packet(text.encode())
            packet.stream = sub_stream
            packet.pts = packet.dts = start
            packet.duration = duration
            packet.time_base = Fraction(1, 1000)
            out.mux(packet)
    return path


def _write_tone(out: av.container.OutputContainer, stream: av.AudioStream, seconds: float) -> None:
    samples = int(seconds * AUDIO_RATE)
    t = np.arange(samples, dtype=np.float32) / AUDIO_RATE
    tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for start in range(0, samples, AUDIO_FRAME):
        chunk = tone[start : start + AUDIO_FRAME]
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = Fraction(1, AUDIO_RATE)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def flat_yuv_frame(width: int, height: int, yuv: tuple[int, int, int], pix_fmt: str = "yuv420p") -> av.VideoFrame:
    """A frame of one colour given as code values (8-bit or the format's depth)."""
    frame = av.VideoFrame(width, height, pix_fmt)
    dtype = np.uint8 if frame.format.components[0].bits <= 8 else np.dtype("<u2")
    for plane, value in zip(frame.planes, yuv):
        np.frombuffer(plane, dtype=dtype)[:] = value
    return frame


def bt709_limited(rgb: tuple[int, int, int], bits: int = 8) -> tuple[int, int, int]:
    """Reference BT.709 limited-range code values of an 8-bit RGB colour (textbook formulas)."""
    r, g, b = (c / 255 for c in rgb)
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    u = (b - y) / 1.8556
    v = (r - y) / 1.5748
    s = 1 << (bits - 8)
    return round((16 + 219 * y) * s), round((128 + 224 * u) * s), round((128 + 224 * v) * s)


def write_image_folder(
    folder: str | Path, names: Sequence[str], width: int = 32, height: int = 24, bits: int = 8
) -> Path:
    """PNG images named ``names``; image ``k`` of the *natural* order shows ``pattern_rgb(k)``.

    Names must sort naturally into the intended order; the pixel content identifies the frame:
    ``rgb[0, 0, 2] == (17 * k) % 256`` for 8-bit images.
    """
    from edvr_cli.video.paths import natural_sort_key

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(sorted(names, key=natural_sort_key)):
        rgb = pattern_rgb(k, width, height)
        if bits > 8:
            frame = av.VideoFrame.from_ndarray(rgb.astype(np.uint16) * 257, format="rgb48le").reformat(format="rgb48be")
            pix_fmt = "rgb48be"
        else:
            frame, pix_fmt = av.VideoFrame.from_ndarray(rgb, format="rgb24"), "rgb24"
        codec = av.CodecContext.create("png", "w")
        codec.width, codec.height, codec.pix_fmt = width, height, pix_fmt
        (folder / name).write_bytes(b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)]))
    return folder


def truncate(path: str | Path, keep: float = 0.6) -> Path:
    """Cut a file to ``keep`` of its size, in place."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_not_video(path: str | Path) -> Path:
    """A file with a video extension that holds text."""
    path = Path(path)
    path.write_text("this is not a video\n" * 50)
    return path


def packets(path: str | Path, kind: str) -> list[tuple[int | None, bytes]]:
    """``(pts in seconds * 1e6 rounded, payload)`` of every ``kind`` packet, in file order."""
    out = []
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == kind]
        if not streams:
            return out
        for packet in container.demux(streams):
            if packet.size == 0:
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            out.append((None if ts is None else round(ts * packet.time_base * 1_000_000), bytes(packet)))
    return out


def frame_times(path: str | Path) -> list[Fraction]:
    """Presentation time in seconds of every decoded video frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [f.pts * f.time_base for f in container.decode(stream)]


# -- clips for the input features (interlacing, spans, pipes, timestamp resets) -----------------------


def interlace_scene(t: float, width: int, height: int) -> np.ndarray:
    """A picture at time ``t`` (frames): a bright bar moving right 6 px per frame over a vertical gradient.

    Every column is smooth from line to line, so a progressive frame has tiny differences between
    adjacent lines while a weave of two moments (combing) has large ones at the bar's edges.
    """
    y, x = np.mgrid[0:height, 0:width]
    bar = np.abs(x - (8 + 6 * t)) < 6
    base = 40 + (y * 60) // max(1, height - 1)
    r = np.where(bar, 230, base)
    g = np.where(bar, 200, base + 20)
    b = np.full_like(x, 110)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def woven_rgb(index: int, width: int, height: int, tff: bool = True) -> np.ndarray:
    """Frame ``index`` of an interlaced camera: the field shown first holds moment ``index``, the other ``index + 0.5``.

    Top field first: even lines (0, 2, ...) from ``index``, odd lines from ``index + 0.5``.
    """
    first, second = interlace_scene(index, width, height), interlace_scene(index + 0.5, width, height)
    woven = first.copy()
    if tff:
        woven[1::2] = second[1::2]
    else:
        woven = second.copy()
        woven[1::2] = first[1::2]
    return woven


def make_interlaced_clip(
    path: str | Path, *, frames: int = 12, width: int = 64, height: int = 48, fps: int = 25, tff: bool = True
) -> Path:
    """An interlaced H.264 clip: each frame weaves two moments (:func:`woven_rgb`), coded with
    interlaced DCT / motion estimation (``flags=+ildct+ilme``) and ``tff=1`` (or ``bff=1``)."""
    field = "tff=1" if tff else "bff=1"
    yuv = [
        av.VideoFrame.from_ndarray(woven_rgb(i, width, height, tff), format="rgb24").reformat(format="yuv420p")
        for i in range(frames)
    ]
    return make_clip(path, width=width, height=height, fps=fps, yuv_frames=yuv,
                     options={"flags": "+ildct+ilme", "x264-params": field, "crf": "10"})


def make_open_gop_clip(path: str | Path, *, frames: int = 40, codec: str = "libx265", gop: int = 12) -> Path:
    """Open GOPs with B-frames: HEVC (x265 CRA keyframes, open-gop) or H.264 (x264 ``open_gop=1``).

    Leading pictures after each non-first keyframe reference the GOP before it.
    """
    if codec == "libx265":
        options = {"x265-params": f"log-level=error:keyint={gop}:min-keyint={gop}:scenecut=0:bframes=3:open-gop=1"}
    else:
        options = {"x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=3:open_gop=1"}
    return make_clip(path, codec=codec, frames=frames, options=options)


def make_ts_with_reset(path: str | Path, *, frames: tuple[int, int] = (10, 8), fps: int = 25) -> Path:
    """An MPEG-TS whose timestamps jump back: two TS clips concatenated byte for byte (as ``cat a.ts b.ts``).

    The second part's timestamps start again at the first part's (a stream discontinuity);
    its pictures are :func:`pattern_rgb` ``100 + k``.
    """
    path = Path(path)
    first = make_clip(path.with_name(path.stem + ".part1.ts"), frames=frames[0], fps=fps)
    yuv = [
        av.VideoFrame.from_ndarray(pattern_rgb(100 + k, 64, 48), format="rgb24").reformat(format="yuv420p")
        for k in range(frames[1])
    ]
    second = make_clip(path.with_name(path.stem + ".part2.ts"), yuv_frames=yuv, fps=fps)
    path.write_bytes(first.read_bytes() + second.read_bytes())
    first.unlink()
    second.unlink()
    return path


def y4m_bytes(
    frames: Sequence[np.ndarray], *, fps: str = "25:1", interlacing: str = "p", tags: str = "C420jpeg"
) -> bytes:
    """A YUV4MPEG2 stream of 8-bit 4:2:0 frames given as RGB uint8 (BT.601 limited range via swscale).

    ``interlacing``: ``p`` / ``t`` / ``b``; ``tags``: the rest of the header (``C420jpeg XCOLORRANGE=FULL``).
    """
    height, width = frames[0].shape[:2]
    out = [f"YUV4MPEG2 W{width} H{height} F{fps} I{interlacing} A1:1 {tags}\n".encode()]
    for rgb in frames:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p")
        out.append(b"FRAME\n")
        sizes = ((width, height), (width // 2, height // 2), (width // 2, height // 2))
        for plane, (w, h) in zip(frame.planes, sizes, strict=True):
            rows = np.frombuffer(plane, np.uint8).reshape(h, plane.line_size)[:, :w]
            out.append(rows.tobytes())
    return b"".join(out)


def scene_rgb(kind: int, k: int, width: int = 64, height: int = 48) -> np.ndarray:
    """Frame ``k`` of one of three different moving scenes (uint8 RGB)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == 0:  # a bright gradient panning right
        img = np.stack([(x + 2 * k) / width, y / height, 0.5 + 0 * x], -1)
    elif kind == 1:  # a dark ripple drifting down
        v = 0.25 + 0.15 * np.sin((y - k) / 3.0) * np.cos(x / 5.0)
        img = np.stack([v, v * 0.8, v * 1.2], -1)
    else:  # a mid-grey checker moving diagonally
        v = 0.45 + 0.3 * (((x + k) // 6 + (y + k) // 6) % 2)
        img = np.stack([v * 0.9, v, v * 0.7], -1)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
