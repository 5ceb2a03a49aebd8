"""Spans: ``--start`` / ``--end`` times (FFmpeg's ``-ss`` / ``-to`` syntax) and their checks.

Times are exact :class:`~fractions.Fraction` seconds counted from the first frame of the video
stream (what FFmpeg's ``-ss`` means for an input), so ``00:01:02.5`` is ``Fraction(125, 2)``.
"""

from __future__ import annotations

import re
from fractions import Fraction

from edvr_cli.errors import SpanError

#: ``[HH:]MM:SS[.frac]`` (FFmpeg's sexagesimal form).
_CLOCK = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d*)?)")
#: ``S+[.frac][s|ms|us]`` (FFmpeg's seconds form, with its unit suffixes).
_SECONDS = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(s|ms|us)?")
_UNITS = {None: Fraction(1), "s": Fraction(1), "ms": Fraction(1, 1000), "us": Fraction(1, 1_000_000)}

#: What :func:`to_seconds` accepts: a parsed or parsable time.
TimeLike = Fraction | float | int | str


def parse_time(text: str) -> Fraction:
    """Seconds from FFmpeg's time syntax: ``HH:MM:SS.mmm``, ``MM:SS``, ``SS.sss`` (``s``/``ms``/``us`` suffix allowed).

    Minutes and seconds of the clock form must be below 60. Exact: ``parse_time("0.1") == Fraction(1, 10)``.

    Raises:
        ValueError: an empty, negative or malformed time (the message says which forms work).
    """
    if not isinstance(text, str):
        raise ValueError(f"a time must be text such as '1:30' or '90.5', not {type(text).__name__}")
    t = text.strip()
    if not t:
        raise ValueError("the time is empty; give seconds (90.5) or a clock time (1:30, 00:01:30.5)")
    if t.startswith("-"):
        raise ValueError(f"time '{text}' is negative; times count from the start of the video")
    t = t.lstrip("+")
    clock = _CLOCK.fullmatch(t)
    if clock:
        hours, minutes, seconds = clock.group(1), int(clock.group(2)), Fraction(clock.group(3).rstrip(".") or "0")
        if minutes >= 60 or seconds >= 60:
            raise ValueError(f"time '{text}' has minutes or seconds of 60 or more; write it as HH:MM:SS.mmm")
        return int(hours or 0) * 3600 + minutes * 60 + seconds
    plain = _SECONDS.fullmatch(t)
    if plain:
        return Fraction(plain.group(1).rstrip(".")) * _UNITS[plain.group(2)]
    raise ValueError(
        f"cannot read time '{text}'; give seconds (90.5, 1500ms) or a clock time (1:30, 00:01:30.5)"
    )


def to_seconds(value: TimeLike | None, what: str = "time") -> Fraction | None:
    """An exact time in seconds from a Fraction, int, float (by its decimal text: 0.1 is 1/10) or text.

    Raises:
        SpanError: a malformed, negative or non-finite time (one line, naming ``what``).
    """
    if value is None:
        return None
    try:
        if isinstance(value, str):
            seconds = parse_time(value)
        elif isinstance(value, float):
            seconds = Fraction(repr(value))  # ValueError for nan / inf
        else:
            seconds = Fraction(value)
    except (ValueError, TypeError, OverflowError) as e:
        raise SpanError(f"{what}: {e}") from None
    if seconds < 0:
        raise SpanError(f"{what} {float(seconds):g} s is negative; times count from the start of the video")
    return seconds


def check_span(
    start: TimeLike | None, end: TimeLike | None, duration: Fraction | None = None
) -> tuple[Fraction, Fraction | None] | None:
    """``(start, end)`` in seconds (``end`` ``None``: to the end), or ``None`` when neither is given.

    Raises:
        SpanError: a malformed time, ``end`` not after ``start``, or ``start`` at or after the
            end of a video of known ``duration``.
    """
    s, e = to_seconds(start, "--start"), to_seconds(end, "--end")
    if s is None and e is None:
        return None
    s = s or Fraction(0)
    if e is not None and e <= s:
        raise SpanError(f"--end {format_time(e)} is not after --start {format_time(s)}; the span would be empty")
    if duration is not None and s >= duration:
        raise SpanError(f"--start {format_time(s)} is at or after the end of the video ({format_time(duration)})")
    return s, e


def format_time(seconds: Fraction) -> str:
    """``HH:MM:SS.mmm`` (hours only when needed), for messages."""
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}" if h else f"{m:02d}:{s:02d}.{ms:03d}"
