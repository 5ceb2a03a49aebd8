"""SMPTE timecodes (``HH:MM:SS:FF``, drop-frame ``HH:MM:SS;FF``) and chapters, carried to the output.

The start timecode of a source (a QuickTime ``tmcd`` track, which FFmpeg's demuxer also puts on the
video stream as the ``timecode`` tag; Matroska's ``TIMECODE`` tag; MXF's container tag) is written as
the output video stream's ``timecode`` tag: the MOV/MP4 muxers make a new ``tmcd`` track of it, as
``ffmpeg`` does, and Matroska keeps it as a tag.

With ``--start``, the timecode is advanced by the frames before the span's first frame, so it still
names the frame it labels. ``ffmpeg -ss`` keeps the source's start timecode unchanged (its first
frame is then labelled with the timecode of the source's first frame, which is not what that frame
had); restoring a span of a clip should keep every frame's timecode as in the source.

Drop-frame counting (``;``) exists only at 30000/1001 and 60000/1001 fps, as in FFmpeg: elsewhere a ``;``
timecode counts every frame (and is written with ``:``). A timecode whose frames field is not below the
rate names no frame; it is not carried (see :func:`timecode_problem`).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

_TIMECODE = re.compile(r"(\d+):(\d{2}):(\d{2})([:;.,])(\d{2,3})")


#: The rates of drop-frame timecode, and the frame numbers it drops per minute (except every tenth).
_DROP_RATES = {Fraction(30000, 1001): 2, Fraction(60000, 1001): 4}
#: How far a stream's measured rate may be from one of those and still be it (29.97 for 30000/1001).
_DROP_RATE_TOLERANCE = Fraction(1, 100)


def _nominal(fps: Fraction) -> int:
    return max(1, round(fps))


def _drop_frames(fps: Fraction) -> int:
    """Frame numbers dropped per minute (except every tenth) by drop-frame timecode at this rate; 0 at a rate
    that has no drop-frame timecode."""
    return next((d for rate, d in _DROP_RATES.items() if abs(Fraction(fps) - rate) <= _DROP_RATE_TOLERANCE), 0)


def _fields(timecode: str) -> tuple[int, int, int, str, int] | None:
    found = _TIMECODE.fullmatch(timecode.strip())
    if found is None:
        return None
    hours, minutes, seconds, sep, frames = found.groups()
    return int(hours), int(minutes), int(seconds), sep, int(frames)


def _is_drop(sep: str, fps: Fraction) -> bool:
    return sep in ";.," and _drop_frames(fps) > 0


def timecode_problem(timecode: str, fps: Fraction | None) -> str | None:
    """Why ``timecode`` names no frame at ``fps`` (a frames field not below the rate, minutes or seconds
    past 59); ``None`` when it does, or when the rate is unknown or the text is no timecode (kept as it is)."""
    fields = _fields(timecode)
    if fields is None or fps is None or fps <= 0:
        return None
    _h, m, s, _sep, f = fields
    if m > 59 or s > 59:
        return "its minutes or seconds are past 59"
    if f >= _nominal(fps):
        return f"its frames field {f} is not below the frame rate {float(fps):g}"
    return None


def timecode_to_frames(timecode: str, fps: Fraction) -> int | None:
    """The frame count a timecode names at ``fps`` (``None`` for text that is no timecode, or one that names
    no frame at that rate: see :func:`timecode_problem`)."""
    fields = _fields(timecode)
    if fields is None or timecode_problem(timecode, fps) is not None:
        return None
    h, m, s, sep, f = fields
    rate = _nominal(fps)
    total = ((h * 60 + m) * 60 + s) * rate + f
    if _is_drop(sep, fps):  # drop frame: frame numbers 0..n-1 are skipped at each minute but every tenth
        minutes_total = h * 60 + m
        total -= _drop_frames(fps) * (minutes_total - minutes_total // 10)
    return total


def frames_to_timecode(frames: int, fps: Fraction, drop: bool) -> str:
    """``HH:MM:SS:FF`` (``;`` before the frames for drop-frame, which only 30000/1001 and 60000/1001 fps
    have: ``drop`` is ignored at other rates) of a frame count at ``fps``."""
    rate = _nominal(fps)
    drop = drop and _drop_frames(fps) > 0
    if drop:
        d = _drop_frames(fps)
        per_ten = rate * 600 - d * 9
        per_minute = rate * 60 - d
        tens, rest = divmod(frames, per_ten)
        frames += d * 9 * tens + (d * ((rest - d) // per_minute) if rest > d else 0)
    f = frames % rate
    s = frames // rate % 60
    m = frames // (rate * 60) % 60
    h = frames // (rate * 3600) % 24
    return f"{h:02d}:{m:02d}:{s:02d}{';' if drop else ':'}{f:02d}"


def advance_timecode(timecode: str, frames: int, fps: Fraction | None) -> str:
    """``timecode`` moved on by ``frames`` frames (unchanged when it cannot be read or the rate is unknown; a
    ``;`` at a rate without drop-frame timecode becomes ``:``, as it counts every frame)."""
    if fps is None or fps <= 0:
        return timecode
    fields = _fields(timecode)
    start = timecode_to_frames(timecode, fps)
    if fields is None or start is None:
        return timecode
    drop = _is_drop(fields[3], fps)
    if not frames and (drop or fields[3] == ":"):
        return timecode
    return frames_to_timecode(start + frames, fps, drop)


def frames_before(start: Fraction, fps: Fraction | None) -> int:
    """Frames of a constant-rate stream before the first one at or after ``start`` seconds."""
    if fps is None or fps <= 0 or start <= 0:
        return 0
    return math.ceil(start * fps - Fraction(1, 1000))


def source_timecode(container: Any, video: Any) -> str | None:
    """The start timecode of a source: the video stream's ``timecode`` tag (any case), a timecode track's,
    or the container's; ``None`` when there is none."""
    candidates = [video.metadata] + [s.metadata for s in container.streams if s.type == "data"] + [container.metadata]
    for tags in candidates:
        for key, value in tags.items():
            if key.lower() == "timecode" and value.strip():
                return value.strip()
    return None


def is_timecode_track(stream: Any) -> bool:
    """A data stream that holds a timecode (QuickTime ``tmcd``): its timecode is carried as a tag."""
    if stream.type != "data":
        return False
    tag = (stream.codec_context.codec_tag if stream.codec_context is not None else "") or ""
    return tag.strip("\x00") == "tmcd" or any(k.lower() == "timecode" for k in stream.metadata)
