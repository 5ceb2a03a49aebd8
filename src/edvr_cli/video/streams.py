"""The source's other streams in the output: a plan (copy / convert / drop), and the copier that carries it out.

:func:`plan_streams` decides, before any work, what becomes of every stream besides the restored
video: copied packet for packet when the output container can hold it, else converted to that
container's usual codec (audio: Opus for WebM, AAC for MP4/MOV, the best fit the muxer takes
elsewhere; text subtitles: mov_text for MP4/MOV, WebVTT for WebM, SubRip/ASS for Matroska) with
its timing kept, and dropped only when nothing fits (bitmap subtitles into MP4, audio into GIF).
:class:`StreamCopier` does it while the video is written, interleaved with it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any, cast

import av
import av.error
from av.subtitles.stream import SubtitleStream

from edvr_cli.errors import StreamError, WarningCallback, first_line
from edvr_cli.video.encoder import MuxerCodecs, output_format

# Stream metadata worth carrying over (muxers regenerate the rest, e.g. handler_name, encoder).
KEPT_METADATA = ("language", "title")

_MP4_FAMILY = frozenset({"mp4", "mov", "ipod", "3gp", "3g2", "psp", "ismv", "f4v"})

#: Audio encoders tried, best first, when a container cannot hold the source's audio.
_AUDIO_TARGETS: dict[str, tuple[str, ...]] = {
    "webm": ("libopus", "vorbis"),
    **{name: ("aac",) for name in _MP4_FAMILY},
    "matroska": ("libopus", "aac", "flac"),
    "ogg": ("libopus", "flac", "vorbis"),
    "ogv": ("libopus", "flac", "vorbis"),
    "mpeg": ("mp2", "ac3"),
    "svcd": ("mp2", "ac3"),
    "vob": ("ac3", "mp2"),
    "dvd": ("ac3", "mp2"),
    "mpegts": ("aac", "mp2", "ac3"),
    "mxf": ("pcm_s16le",),
}
_AUDIO_FALLBACK = ("aac", "libopus", "libmp3lame", "mp2", "ac3", "flac", "pcm_s16le")
#: For lossless sources (PCM, FLAC, ALAC ...) where the container takes a lossless codec.
_LOSSLESS_AUDIO_TARGETS: dict[str, tuple[str, ...]] = {"matroska": ("flac",), "ogg": ("flac",), "ogv": ("flac",)}
#: Containers that only take some sample rates (MXF: 48 kHz).
_FORCED_RATE = {"mxf": 48000}

#: Text subtitle encoders tried, best first.
_SUBTITLE_TARGETS: dict[str, tuple[str, ...]] = {
    **{name: ("mov_text",) for name in _MP4_FAMILY},
    "webm": ("webvtt",),
    "matroska": ("srt", "ass", "webvtt"),
}
_SUBTITLE_FALLBACK = ("srt", "ass", "webvtt", "mov_text", "text")

#: Header given to subtitle encoders when the source's decoder gives none (FFmpeg's default style).
DEFAULT_ASS_HEADER = (
    b"[Script Info]\r\nScriptType: v4.00+\r\nPlayResX: 384\r\nPlayResY: 288\r\nScaledBorderAndShadow: yes\r\n\r\n"
    b"[V4+ Styles]\r\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
    b"Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
    b"MarginL, MarginR, MarginV, Encoding\r\n"
    b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,1\r\n\r\n"
    b"[Events]\r\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\r\n"
)


@dataclass(frozen=True)
class StreamAction:
    """What happens to one input stream.

    Args:
        index: the stream's index in the input.
        kind: ``audio | subtitle | attachment | data | video``.
        codec: the input codec (``aac``, ``subrip`` ...).
        action: ``copy | convert | drop``.
        target: codec in the output (``opus``); ``None`` for drops.
        encoder: FFmpeg encoder for conversions (``libopus``).
        reason: why it is converted or dropped (empty for copies).
        language: the stream's language tag, if any.
    """

    index: int
    kind: str
    codec: str
    action: str
    target: str | None = None
    encoder: str | None = None
    reason: str = ""
    language: str | None = None

    def describe(self) -> str:
        """One line: ``audio #1 aac → opus (webm cannot hold aac)``."""
        what = f"{self.kind} #{self.index} {self.codec}"
        if self.language and self.language != "und":
            what += f" [{self.language}]"
        if self.action == "copy":
            return f"{what} copied"
        if self.action == "convert":
            return f"{what} → {self.target} ({self.reason})"
        return f"{what} dropped ({self.reason})"


@dataclass(frozen=True)
class StreamPlan:
    """The fate of every input stream besides the restored video, for one output container."""

    container: str
    actions: tuple[StreamAction, ...] = ()

    @property
    def copied(self) -> list[StreamAction]:
        return [a for a in self.actions if a.action == "copy"]

    @property
    def converted(self) -> list[StreamAction]:
        return [a for a in self.actions if a.action == "convert"]

    @property
    def dropped(self) -> list[StreamAction]:
        return [a for a in self.actions if a.action == "drop"]

    def lines(self) -> list[str]:
        """One line per stream (copies included), for a dry run."""
        return [a.describe() for a in self.actions]

    def summary(self) -> list[str]:
        """One line per stream that is not copied as it is (conversions, then drops)."""
        return [a.describe() for a in (*self.converted, *self.dropped)]

    def check_strict(self, label: str) -> None:
        """Raise :class:`StreamError` when any stream would be converted or dropped."""
        changed = self.summary()
        if changed:
            raise StreamError(
                f"'{label}' cannot keep every stream as it is (--strict-streams): {'; '.join(changed)}; "
                "pick a container that holds them or drop --strict-streams"
            )


def plan_streams(
    source: Any,
    container: str | Path,
    *,
    video_index: int | None = None,
) -> StreamPlan:
    """What becomes of each non-video stream of ``source`` in ``container``; writes nothing.

    Args:
        source: a :class:`~edvr_cli.video.probe.VideoInfo`, a path, or an open ``av`` input container.
        container: a muxer name (``webm``, ``mp4``, ``matroska``) or an output path (its extension decides).
        video_index: the restored video stream (``info.stream_index`` when ``source`` is a VideoInfo;
            else the first video stream that is not cover art).

    Raises:
        EDVRError: the output extension names no container FFmpeg can write.
    """
    fmt = _format_name(container)
    if getattr(source, "is_image_sequence", False):
        return StreamPlan(fmt)
    if hasattr(source, "stream_index") and video_index is None:
        video_index = source.stream_index
    if isinstance(source, av.container.InputContainer):
        return _plan(source, fmt, video_index)
    path = getattr(source, "path", source)
    with av.open(str(path), "r") as opened:
        return _plan(opened, fmt, video_index)


def _format_name(container: str | Path) -> str:
    if isinstance(container, Path) or "." in container or "/" in container or container == "-":
        return output_format(container)
    return container


def _plan(inp: av.container.InputContainer, fmt: str, video_index: int | None) -> StreamPlan:
    if video_index is None:
        main = [s for s in inp.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        video_index = main[0].index if main else -1
    actions = [_plan_one(stream, fmt) for stream in inp.streams if stream.index != video_index]
    return StreamPlan(fmt, tuple(actions))


def _plan_one(stream: av.stream.Stream, fmt: str) -> StreamAction:
    codec = codec_name(stream)
    kind = stream.type if stream.type in ("audio", "subtitle", "attachment", "video") else "data"
    language = stream.metadata.get("language")

    def act(action: str, reason: str = "", encoder: str | None = None) -> StreamAction:
        target = _display(encoder) if encoder else (codec if action == "copy" else None)
        return StreamAction(stream.index, kind, codec, action, target, encoder, reason, language)

    if kind == "video":
        if stream.disposition & av.stream.Disposition.attached_pic:
            return act("drop", "cover art is not carried")
        return act("drop", "only the main video stream is restored")
    if kind == "attachment":
        if fmt == "matroska":
            return act("copy")
        return act("drop", f"{fmt} cannot hold attachments")
    why_not = cannot_mux(fmt, stream)
    if why_not is None:
        return act("copy")
    if kind == "audio":
        if not _has_decoder(codec):
            return act("drop", f"{why_not}, and it cannot be decoded here")
        encoder = _audio_target(fmt, _is_lossless(codec))
        if encoder is None:
            return act("drop", _no_audio_reason(fmt))
        return act("convert", f"{fmt} cannot hold {codec}", encoder)
    if kind == "subtitle":
        if _is_bitmap_subtitle(codec):
            return act("drop", f"bitmap subtitles have no {fmt} format")
        if not _is_text_subtitle(codec):
            return act("drop", f"{why_not}, and it cannot be decoded here")
        encoder = _subtitle_target(fmt)
        if encoder is None:
            return act("drop", f"{fmt} holds no subtitles")
        return act("convert", f"{fmt} cannot hold {codec}", encoder)
    return act("drop", why_not)


def codec_name(stream: av.stream.Stream) -> str:
    """The stream's codec as FFmpeg names the format (``subrip``, not its decoder's name ``srt``)."""
    ctx = stream.codec_context
    if ctx is None:
        return getattr(stream, "name", None) or "unknown"
    try:
        return ctx.codec.canonical_name or ctx.name
    except (AttributeError, ValueError):
        return ctx.name


def cannot_mux(format_name: str, stream: av.stream.Stream) -> str | None:
    """Why ``format_name`` cannot hold a copy of ``stream`` (``None`` when it can).

    Asks :class:`MuxerCodecs` (the muxer's codec table), then makes a dry run that writes a
    header into memory, which catches codecs a muxer lists but still refuses.
    """
    codec = codec_name(stream)
    table = MuxerCodecs(format_name)  # knows coder names (dvdsub), and most descriptor names (dvd_subtitle)
    coder = stream.codec_context.name if stream.codec_context is not None else codec
    if codec not in table and coder not in table:
        return f"{format_name} cannot hold {codec}"
    try:
        with av.open(io.BytesIO(), "w", format=format_name) as probe_out:
            probe_out.add_stream_from_template(stream)
            probe_out.start_encoding()
    except av.error.FFmpegError:
        return f"the {format_name} muxer refuses {codec}"
    except ValueError as e:
        return first_line(e)
    return None


def _codec(name: str, mode: str) -> av.codec.Codec | None:
    try:
        return av.codec.Codec(name, mode)  # type: ignore[arg-type]
    except (av.codec.codec.UnknownCodecError, ValueError):
        return None


def _has_decoder(name: str) -> bool:
    return _codec(name, "r") is not None


def _is_lossless(name: str) -> bool:
    codec = _codec(name, "r")
    return codec is not None and codec.lossless and not codec.lossy


def _is_text_subtitle(name: str) -> bool:
    codec = _codec(name, "r")
    return codec is not None and codec.text_sub


def _is_bitmap_subtitle(name: str) -> bool:
    codec = _codec(name, "r")
    return codec is not None and codec.bitmap_sub


def _display(encoder: str) -> str:
    codec = _codec(encoder, "w")
    return codec.canonical_name if codec is not None else encoder


def _no_audio_reason(fmt: str) -> str:
    listed = MuxerCodecs(fmt)
    if not any(listed.listed(c) for c in ("aac", "opus", "mp3", "mp2", "ac3", "flac", "pcm_s16le", "vorbis")):
        return f"{fmt} holds no audio"
    return f"no audio codec of this build fits {fmt}"


@cache
def _audio_target(fmt: str, lossless: bool) -> str | None:
    order = _LOSSLESS_AUDIO_TARGETS.get(fmt, ()) if lossless else ()
    for encoder in dict.fromkeys((*order, *_AUDIO_TARGETS.get(fmt, ()), *_AUDIO_FALLBACK)):
        if _audio_encoder_fits(fmt, encoder):
            return encoder
    return None


@cache
def _audio_encoder_fits(fmt: str, encoder: str) -> bool:
    codec = _codec(encoder, "w")
    if codec is None or codec.type != "audio" or codec.experimental:
        return False
    if MuxerCodecs(fmt).listed(codec.canonical_name) is False:
        return False
    try:
        with av.open(io.BytesIO(), "w", format=fmt) as out:
            rate = _pick_rate(codec, 48000, fmt)
            out.add_stream(encoder, rate=rate, layout="stereo")
            out.start_encoding()
    except (av.error.FFmpegError, ValueError):
        return False
    return True


@cache
def _subtitle_target(fmt: str) -> str | None:
    for encoder in dict.fromkeys((*_SUBTITLE_TARGETS.get(fmt, ()), *_SUBTITLE_FALLBACK)):
        codec = _codec(encoder, "w")
        if codec is None or MuxerCodecs(fmt).listed(codec.canonical_name) is False:
            continue
        try:
            with av.open(io.BytesIO(), "w", format=fmt) as out:
                stream = out.add_stream(encoder)
                cast(SubtitleStream, stream).codec_context.subtitle_header = DEFAULT_ASS_HEADER
                out.start_encoding()
        except (av.error.FFmpegError, ValueError):
            continue
        return encoder
    return None


def _pick_rate(codec: av.codec.Codec, rate: int, fmt: str) -> int:
    if fmt in _FORCED_RATE:
        return _FORCED_RATE[fmt]
    rates = sorted(codec.audio_rates or [])
    if not rates or rate in rates:
        return rate
    higher = [r for r in rates if r >= rate]
    return higher[0] if higher else rates[-1]


def _pick_format(codec: av.codec.Codec, source: av.AudioFormat) -> str:
    names = [f.name for f in codec.audio_formats or []]
    if not names or source.name in names:
        return source.name
    for name in (source.packed.name, source.planar.name):
        if name in names:
            return name
    deep_enough = [f for f in codec.audio_formats or [] if f.bytes >= source.bytes]
    return deep_enough[0].name if deep_enough else names[-1]


class _AudioConverter:
    """Decode → resample (when the encoder needs another format, rate or layout) → encode."""

    def __init__(self, src: av.AudioStream, out: av.container.OutputContainer, encoder: str) -> None:
        codec = _codec(encoder, "w")
        assert codec is not None
        dec = src.codec_context
        self.src = src
        self.rate = _pick_rate(codec, dec.sample_rate or 48000, out.format.name)
        self.format = _pick_format(codec, dec.format) if dec.format is not None else "fltp"
        layout = dec.layout.name if dec.channels else "stereo"
        self.stream = cast(av.AudioStream, out.add_stream(encoder, rate=self.rate, layout=layout))
        self.stream.codec_context.format = self.format
        self.stream.time_base = Fraction(1, self.rate)
        self.layout = layout
        self._resampler: av.AudioResampler | None = None

    def convert(self, packet: av.Packet | None) -> list[av.Packet]:
        frames = self.src.decode(packet)
        out: list[av.Packet] = []
        for frame in frames:
            out += self._encode(frame)
        return out

    def flush(self) -> list[av.Packet]:
        out = self.convert(None)
        out += self._encode(None)
        out += self.stream.encode(None)
        return out

    def _encode(self, frame: av.AudioFrame | None) -> list[av.Packet]:
        if self._resampler is None:
            ctx = self.stream.codec_context
            variable = bool(ctx.codec.capabilities & (1 << 16))  # AV_CODEC_CAP_VARIABLE_FRAME_SIZE
            self._resampler = av.AudioResampler(
                format=self.format, layout=self.layout, rate=self.rate,
                frame_size=None if variable or not ctx.frame_size else ctx.frame_size,
            )
        if frame is not None and frame.pts is not None and frame.time_base is not None:
            # the resampler counts output samples from the first input pts (in 1 / rate units)
            frame.pts = round(frame.pts * frame.time_base * self.rate)
            frame.time_base = Fraction(1, self.rate)
        packets: list[av.Packet] = []
        for resampled in self._resampler.resample(frame):
            packets += self.stream.encode(resampled)
        return packets


class _SubtitleConverter:
    """Text subtitles: decode each cue and encode it with the container's text codec, same times."""

    def __init__(self, src: SubtitleStream, out: av.container.OutputContainer, encoder: str) -> None:
        self.src = src
        ctx = src.codec_context
        if not ctx.is_open:
            ctx.open()
        header = getattr(ctx, "subtitle_header", None) or DEFAULT_ASS_HEADER
        self.stream = cast(SubtitleStream, out.add_stream(encoder))
        self.stream.codec_context.subtitle_header = header
        self.stream.time_base = src.time_base

    def convert(self, packet: av.Packet | None) -> list[av.Packet]:
        if packet is None:
            return []
        cues = self.src.decode2(packet)
        if cues is None or not len(cues):
            return []
        encoded = self.stream.codec_context.encode_subtitle(cues)
        encoded.stream = self.stream
        encoded.time_base = packet.time_base
        encoded.pts = encoded.dts = packet.pts if packet.pts is not None else packet.dts
        duration = packet.duration or 0
        if not duration and cues.end_display_time and packet.time_base:
            duration = round(Fraction(cues.end_display_time, 1000) / packet.time_base)
        encoded.duration = duration
        return [encoded]

    def flush(self) -> list[av.Packet]:
        return []


class StreamCopier:
    """Carries the source's other streams into the output as planned, interleaved with the video.

    A second demuxer reads the source; :meth:`mux_until` muxes packets (copied, or converted
    on the fly) up to a time, so only the packets between two video frames are in memory.

    Args:
        info: the source (a :class:`~edvr_cli.video.probe.VideoInfo`).
        out: the output container (streams are added to it here; the caller writes the header).
        warn: receives one warning per dropped stream and per muxing failure.
        plan: the plan to follow (``plan_streams(info, out.format.name)`` when ``None``).
        strict: raise :class:`StreamError` (before adding any stream) when a stream would be
            converted or dropped.
        label: the output's name in messages.
    """

    def __init__(
        self,
        info: Any,
        out: av.container.OutputContainer,
        warn: WarningCallback,
        *,
        plan: StreamPlan | None = None,
        strict: bool = False,
        label: str | None = None,
    ) -> None:
        self._warn = warn
        self._out = out
        self._in = av.open(str(info.path), "r")
        self._map: dict[int, av.stream.Stream] = {}
        self._converters: dict[int, _AudioConverter | _SubtitleConverter] = {}
        self._pending: av.Packet | None = None
        self._failed = False
        self._dropping: set[int] = set()
        # --start/--end: packets inside the span only, moved back so the span starts at 0
        span = getattr(info, "source_span", None)
        self._span_start: Fraction = span[0] if span else Fraction(0)
        self._span_end: Fraction | None = span[1] if span else None
        try:
            self.plan = plan if plan is not None else _plan(self._in, out.format.name, info.stream_index)
            if strict:
                self.plan.check_strict(label or Path(str(out.name)).name)
            for action in self.plan.actions:
                self._add(action)
            for stream in self._in.streams:
                if stream.index not in self._map:
                    stream.discard = av.stream.Discard.all
            sources = [self._in.streams[i] for i in self._map]
            if sources and self._span_start > 0:
                self._in.seek(int(self._span_start * 1_000_000), backward=True)  # AV_TIME_BASE units
            self._packets: Iterator[av.Packet] = iter(self._in.demux(*sources)) if sources else iter(())
        except BaseException:
            self._in.close()
            raise

    def _add(self, action: StreamAction) -> None:
        stream = self._in.streams[action.index]
        if action.action == "drop":
            self._warn(f"skipped {action.kind} stream #{action.index} ({action.codec}): {action.reason}")
            return
        if action.kind == "attachment":
            carry_tags(stream, self._out.add_stream_from_template(stream))
            return  # written with the header, no packets
        if action.action == "copy":
            target = self._out.add_stream_from_template(stream)
        else:
            assert action.encoder is not None
            converter: _AudioConverter | _SubtitleConverter
            if action.kind == "audio":
                assert isinstance(stream, av.AudioStream)
                converter = _AudioConverter(stream, self._out, action.encoder)
            else:
                converter = _SubtitleConverter(cast(SubtitleStream, stream), self._out, action.encoder)
            self._converters[action.index] = converter
            target = converter.stream
        carry_tags(stream, target)
        self._map[action.index] = target

    def mux_until(self, limit: Fraction | None) -> None:
        """Mux packets whose source time is at most ``limit`` seconds (all remaining, flushed, if ``None``)."""
        if self._failed:
            return
        while True:
            packet = self._pending
            self._pending = None
            fresh = packet is None  # a held-back packet was already placed on the span's timeline
            if packet is None:
                try:
                    packet = next(self._packets, None)
                except (av.error.FFmpegError, ValueError) as e:
                    self._failed = True
                    self._warn(f"stopped copying audio/subtitles at a damaged packet: {e}")
                    return
                if packet is None:
                    if limit is None:
                        self._flush()
                    return
            if packet.size == 0:  # demuxer flush marker
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            if fresh and ts is not None and (self._span_start or self._span_end is not None):
                t = ts * packet.time_base
                if t < self._span_start:
                    continue  # before the span
                if self._span_end is not None and t >= self._span_end:
                    continue  # after it (read on, so the other streams' packets are still seen)
                shift = round(self._span_start / packet.time_base)
                packet.pts = None if packet.pts is None else packet.pts - shift
                packet.dts = None if packet.dts is None else packet.dts - shift
                ts -= shift
            if limit is not None and ts is not None and ts * packet.time_base > limit:
                self._pending = packet
                return
            target = self._map[packet.stream_index]
            converter = self._converters.get(packet.stream_index)
            try:
                if converter is None:
                    packet.stream = target
                    self._out.mux(packet)
                else:
                    self._out.mux(converter.convert(packet))
            except (av.error.FFmpegError, ValueError) as e:  # e.g. timestamps going backwards
                self._note_refusal(target, ts, packet.time_base, e)

    def _flush(self) -> None:
        for converter in self._converters.values():
            try:
                self._out.mux(converter.flush())
            except (av.error.FFmpegError, ValueError) as e:
                self._note_refusal(converter.stream, None, None, e)
        self._converters.clear()

    def _note_refusal(self, target: av.stream.Stream, ts: int | None, time_base: Fraction | None,
                      e: Exception) -> None:
        if target.index not in self._dropping:
            self._dropping.add(target.index)
            at = f"{float(ts * time_base):.3f} s" if ts is not None and time_base else "an unknown time"
            self._warn(f"dropped {target.type} packets the muxer refuses (first at {at}): {e}")

    def close(self) -> None:
        self._in.close()


def carry_tags(source: av.stream.Stream, target: av.stream.Stream) -> None:
    """Language/title metadata and disposition flags (default, forced ...) of ``source`` onto ``target``."""
    for key in KEPT_METADATA:
        if key in source.metadata:
            target.metadata[key] = source.metadata[key]
    target.disposition = source.disposition
