"""The source's other streams in the output: a plan (copy / convert / drop), and the copier that carries it out.

:func:`plan_streams` decides, before any work, what becomes of every stream besides the restored
video: copied packet for packet when the output container can hold it, else converted to that
container's usual codec (audio: Opus for WebM, AAC for MP4/MOV, the best fit the muxer takes
elsewhere; text subtitles: mov_text for MP4/MOV, WebVTT for WebM, SubRip/ASS for Matroska) with
its timing kept, and dropped only when nothing fits (bitmap subtitles into MP4, audio into GIF).
:class:`StreamCopier` does it while the video is written, interleaved with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import struct
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
from edvr_cli.video.avfields import set_initial_padding
from edvr_cli.video.encoder import MuxerCodecs, output_format
from edvr_cli.video.timecode import (
    advance_timecode,
    frames_before,
    is_timecode_track,
    source_timecode,
    timecode_problem,
)
from edvr_cli.video.timing import rescale, ticks

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

#: Muxers that make a ``tmcd`` track of the video stream's ``timecode`` tag (the rest of the MP4 family
#: (ipod, 3gp, ismv, f4v ...) writes none unless asked to).
_TMCD_FORMATS = frozenset({"mov", "mp4"})
#: Muxers that keep a start timecode (MOV/MP4 as a new ``tmcd`` track, the others as a tag), as read back.
_TIMECODE_FORMATS = _TMCD_FORMATS | {"matroska", "webm", "mxf", "mxf_d10", "mxf_opatom", "gxf"}
#: Muxers that keep chapters.
_CHAPTER_FORMATS = frozenset({"mp4", "mov", "ipod", "matroska", "webm"})
#: Matroska writes an audio stream's priming (``initial_padding``) as CodecDelay and trimmed ends as DiscardPadding.
_CODEC_DELAY_FORMATS = frozenset({"matroska", "webm"})
#: How far before ``--start`` subtitle cues are looked for (a cue still on screen at the start is kept, cut).
CUE_LOOKBACK = Fraction(10)
#: Audio decoded before ``--start`` when audio is cut there (the codec's overlap with the packet before).
AUDIO_PREROLL = Fraction(1, 5)
#: A span edge this close to a packet edge counts as on it (half of Matroska's millisecond).
_EDGE_TOLERANCE = Fraction(1, 2000)

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
        action: ``copy | convert | drop``, or ``keep`` for a timecode track (carried as the output's
            ``timecode`` tag, from which MOV/MP4 muxers make a new track).
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
        if self.action == "keep":  # a timecode track, kept as the output's timecode
            return f"{what} {self.reason}"
        if self.action == "copy":
            return f"{what} copied" + (f" ({self.reason})" if self.reason else "")
        if self.action == "convert":
            return f"{what} → {self.target} ({self.reason})"
        return f"{what} dropped ({self.reason})"


@dataclass(frozen=True)
class StreamPlan:
    """The fate of every input stream besides the restored video, for one output container; with the
    start timecode the output gets and the chapters it keeps (times in seconds on the output's timeline:
    ``(start, end, id, tags)``), and a line each on them (``notes``); ``lost``: those of the notes that say
    the output loses the source's timecode or chapters."""

    container: str
    actions: tuple[StreamAction, ...] = ()
    timecode: str | None = None
    chapters: tuple[tuple[Fraction, Fraction, int, tuple[tuple[str, str], ...]], ...] = ()
    notes: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()

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
        """One line per stream (copies included), then the timecode and chapters, for a dry run."""
        return [a.describe() for a in self.actions] + list(self.notes)

    def summary(self) -> list[str]:
        """One line per stream that is not copied as it is (conversions, then drops), then the timecode and
        chapters the output loses."""
        return [a.describe() for a in (*self.converted, *self.dropped)] + list(self.lost)

    def check_strict(self, label: str) -> None:
        """Raise :class:`StreamError` when any stream would be converted or dropped, or the timecode or
        chapters lost."""
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
    span: tuple[Fraction, Fraction | None] | None = None,
    origin: Fraction | None = None,
) -> StreamPlan:
    """What becomes of each non-video stream of ``source`` in ``container``; writes nothing.

    Args:
        source: a :class:`~edvr_cli.video.probe.VideoInfo`, a path, or an open ``av`` input container.
        container: a muxer name (``webm``, ``mp4``, ``matroska``) or an output path (its extension decides).
        video_index: the restored video stream (``info.stream_index`` when ``source`` is a VideoInfo;
            else the first video stream that is not cover art).
        span: ``--start``/``--end`` on the container's timeline (``info.source_span`` when ``source`` is a
            VideoInfo): audio whose packets do not end at the span's edges is re-encoded with its own
            codec to be cut there exactly, chapters are cut to the span and the timecode advanced to it.
        origin: the video's first frame on the container's timeline (``info.origin`` when ``source`` is a
            VideoInfo; else 0): the timecode names that frame.

    Raises:
        EDVRError: the output extension names no container FFmpeg can write.
    """
    fmt = _format_name(container)
    if getattr(source, "is_image_sequence", False):
        return StreamPlan(fmt)
    if hasattr(source, "stream_index") and video_index is None:
        video_index = source.stream_index
    if span is None:
        span = getattr(source, "source_span", None)
    if origin is None:
        origin = getattr(source, "origin", None) or Fraction(0)
    if isinstance(source, av.container.InputContainer):  # read to its end (the frame index): free to seek
        return _plan(source, fmt, video_index, span, origin)
    path = getattr(source, "path", source)
    with av.open(str(path), "r") as opened:
        return _plan(opened, fmt, video_index, span, origin)


def _format_name(container: str | Path) -> str:
    if isinstance(container, Path) or "." in container or "/" in container or container == "-":
        return output_format(container)
    return container


def _plan(inp: av.container.InputContainer, fmt: str, video_index: int | None,
          span: tuple[Fraction, Fraction | None] | None, origin: Fraction) -> StreamPlan:
    """The plan (see :func:`plan_streams`); seeks ``inp`` (to look at the chapter tracks' samples and at the
    audio packets at the span's edges)."""
    if video_index is None:
        main = [s for s in inp.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        video_index = main[0].index if main else -1
    video = inp.streams[video_index] if 0 <= video_index < len(inp.streams) else None
    timecode, unusable = _span_timecode(inp, video, span, origin)
    actions = [_chapter_titles(stream, fmt) if _is_chapter_track(inp, stream)
               else _plan_one(stream, fmt, timecode, unusable) for stream in inp.streams if stream.index != video_index]
    if span is not None:
        actions = [_cut_exactly(inp, a, span) for a in actions]
    notes: list[str] = []
    lost: list[str] = []
    said = any(a.codec == "tmcd" for a in actions)  # a timecode track's line says it already
    if unusable is not None and not said:
        lost.append(f"timecode {source_timecode(inp, video)} dropped ({unusable})")
    if timecode is not None:
        if fmt in _TIMECODE_FORMATS:
            at = " at --start" if span is not None and span[0] > origin else ""
            notes += [] if said else [f"timecode {timecode}{at} kept"]
        else:
            lost += [] if said else [f"timecode {timecode} dropped ({fmt} holds no timecode)"]
            timecode = None
    chapters, chapter_lines, chapters_lost = _span_chapters(inp, fmt, span)
    lost += chapters_lost
    notes += lost + chapter_lines
    return StreamPlan(fmt, tuple(actions), timecode, chapters, tuple(notes), tuple(lost))


def _is_chapter_track(inp: av.container.InputContainer, stream: av.stream.Stream) -> bool:
    """A QuickTime chapter track (the chapters' titles as text samples), which the chapters carry: FFmpeg marks
    the one its 'chap' reference names as discarded data; a text track of a MOV/MP4 with chapters whose samples
    are the chapters' titles at their starts is taken for one too (FFmpeg 8 reads its own so). Any other text
    track is a subtitle, even with as many cues as there are chapters."""
    if stream.type not in ("subtitle", "data") or "mov" not in (inp.format.name or ""):
        return False
    if stream.discard == av.stream.Discard.all:
        return True
    if stream.type != "subtitle" or codec_name(stream) != "mov_text":
        return False
    try:
        chapters = inp.chapters()
    except (AttributeError, av.error.FFmpegError):
        return False
    return bool(chapters) and stream.frames == len(chapters) and _holds_chapter_titles(inp, stream, chapters)


#: Packets read after a seek, at most, to find a chapter track's sample there.
_CHAPTER_PEEK_PACKETS = 500


def _holds_chapter_titles(inp: av.container.InputContainer, stream: av.stream.Stream,
                          chapters: list[Any]) -> bool:
    """Whether ``stream``'s samples are the chapters' titles, each at its chapter's start (one seek and a
    few packets read per chapter)."""
    tb = stream.time_base
    if tb is None:
        return False
    try:
        for chapter in chapters:
            start = rescale(chapter["start"], Fraction(chapter["time_base"] or Fraction(1, 1000)), tb)
            inp.seek(start, stream=stream, backward=True, any_frame=True)
            packet = next((p for p in itertools.islice(inp.demux(), _CHAPTER_PEEK_PACKETS)
                           if p.stream_index == stream.index and p.size), None)
            if packet is None or packet.pts is None or abs(packet.pts - start) > 1:
                return False
            if _mov_text(bytes(packet)) != (chapter["metadata"].get("title") or "").strip():
                return False
    except (av.error.FFmpegError, ValueError, OSError):
        return False
    return True


def _mov_text(sample: bytes) -> str:
    """The text of a QuickTime / 3GPP text sample (a 16-bit length, then UTF-8 or BOM-marked UTF-16)."""
    text = sample[2:2 + int.from_bytes(sample[:2], "big")]
    if text.startswith((b"\xfe\xff", b"\xff\xfe")):
        return text.decode("utf-16", "replace").strip()
    return text.decode("utf-8", "replace").strip()


def _chapter_titles(stream: av.stream.Stream, fmt: str) -> StreamAction:
    carried = "carried as the chapters" if fmt in _CHAPTER_FORMATS else "dropped with the chapters"
    return StreamAction(stream.index, "subtitle" if stream.type == "subtitle" else "data", codec_name(stream), "keep",
                        reason=f"chapter titles ({carried})", language=stream.metadata.get("language"))


def _span_timecode(inp: av.container.InputContainer, video: av.stream.Stream | None,
                   span: tuple[Fraction, Fraction | None] | None, origin: Fraction) -> tuple[str | None, str | None]:
    """The source's start timecode, advanced by the frames before ``--start`` (see :mod:`~edvr_cli.video.timecode`);
    ``(None, why)`` for one that names no frame at the video's rate (``why``: how)."""
    if video is None:
        return None, None
    timecode = source_timecode(inp, video)
    if timecode is None:
        return None, None
    rate = video.average_rate or video.guessed_rate
    problem = timecode_problem(timecode, rate)
    if problem is not None:
        return None, problem
    return advance_timecode(timecode, frames_before(span[0] - origin, rate) if span else 0, rate), None


def _span_chapters(inp: av.container.InputContainer, fmt: str, span: tuple[Fraction, Fraction | None] | None
                   ) -> tuple[tuple[tuple[Fraction, Fraction, int, tuple[tuple[str, str], ...]], ...], list[str],
                              list[str]]:
    """The input's chapters on the output's timeline (cut to the span; those outside it left out), a line
    saying so, and one saying they are lost (when the container holds none)."""
    try:
        found = inp.chapters()
    except (AttributeError, av.error.FFmpegError):  # a PyAV without chapters
        return (), [], []
    if not found:
        return (), [], []
    if fmt not in _CHAPTER_FORMATS:
        return (), [], [f"{len(found)} chapter(s) dropped ({fmt} holds no chapters)"]
    start, end = span if span is not None else (Fraction(0), None)
    kept = []
    for ch in found:
        tb = Fraction(ch["time_base"] or Fraction(1, 1000))
        a: Fraction = ch["start"] * tb - start
        b: Fraction = ch["end"] * tb - start
        if end is not None and b > end - start:
            b = end - start
        if b <= 0 or b <= max(a, Fraction(0)):
            continue  # wholly outside the span (ffmpeg keeps such chapters with no length; they name no frame)
        kept.append((max(a, Fraction(0)), b, int(ch["id"]), tuple(sorted(ch["metadata"].items()))))
    if len(kept) == len(found):
        return tuple(kept), [f"{len(kept)} chapter(s) kept"], []
    return tuple(kept), [f"{len(kept)} of {len(found)} chapter(s) kept (the others lie outside --start/--end)"], []


def _cut_exactly(inp: av.container.InputContainer, action: StreamAction,
                 span: tuple[Fraction, Fraction | None]) -> StreamAction:
    """A copied audio stream whose packets do not end at ``--start`` / ``--end``: re-encoded with its own codec
    (when this build has an encoder for it) so that it starts and ends there within a sample, as ``ffmpeg``
    does when it re-encodes; else whole packets are copied, and the line says how far off they may be."""
    if action.kind != "audio" or action.action != "copy":
        return action
    inside = _edges_inside_packets(inp, action.index, span)
    if not inside:
        return action
    where = f"{inside[0]} falls" if len(inside) == 1 else f"{' and '.join(inside)} fall"
    encoder = _same_codec_encoder(action.codec)
    if encoder is None:
        return dataclasses.replace(action, reason=f"whole packets: {where} inside a packet, and this build "
                                                  f"has no {action.codec} encoder to cut it there")
    return dataclasses.replace(action, action="convert", target=_display(encoder), encoder=encoder,
                               reason=f"re-encoded to cut it exactly: {where} inside a packet")


def _same_codec_encoder(codec: str) -> str | None:
    found = _codec(codec, "w")
    if found is None or found.type != "audio" or found.experimental:
        return None
    return found.name


def _edges_inside_packets(inp: av.container.InputContainer, index: int,
                          span: tuple[Fraction, Fraction | None]) -> list[str]:
    """Which of ``--start`` and ``--end`` fall strictly inside one of the stream's packets (each found with
    one seek of ``inp``)."""
    inside = []
    try:
        stream = inp.streams[index]
        for name, edge in (("--start", span[0]), ("--end", span[1])):
            if edge is not None and _inside_a_packet(inp, stream, edge):
                inside.append(name)
    except (av.error.FFmpegError, ValueError, OSError, IndexError):
        return []
    return inside


def _inside_a_packet(inp: av.container.InputContainer, stream: av.stream.Stream, edge: Fraction) -> bool:
    tb = stream.time_base or Fraction(1, 1000)
    inp.seek(max(0, int(edge / tb)), stream=stream, backward=True, any_frame=True)
    for packet in inp.demux(stream):
        ts = packet.pts if packet.pts is not None else packet.dts
        if packet.size == 0 or ts is None:
            continue
        begin = ts * tb
        finish = begin + (packet.duration or 0) * tb
        if finish <= edge + _EDGE_TOLERANCE:
            continue
        return begin < edge - _EDGE_TOLERANCE
    return False


def _plan_one(stream: av.stream.Stream, fmt: str, timecode: str | None = None,
              timecode_unusable: str | None = None) -> StreamAction:
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
    if kind == "data" and is_timecode_track(stream):
        if fmt in _TIMECODE_FORMATS and timecode is not None:
            made = "a new tmcd track" if fmt in _TMCD_FORMATS else "a tag"
            return dataclasses.replace(act("keep", f"timecode kept ({timecode}, as {made})"), codec="tmcd")
        why = timecode_unusable or f"{fmt} holds no timecode"
        return dataclasses.replace(act("drop", why), codec="tmcd")
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
    """Decode → cut to the span → resample (when the encoder needs another format, rate or layout) → encode.

    ``length``: the span's length in seconds when the stream is cut to a span (packets arrive on the span's
    timeline: 0 at ``--start``, negative before it); samples before 0 and from ``length`` on are left out,
    so the output starts and ends within a sample of the span. ``None``: every sample is kept.
    """

    def __init__(self, src: av.AudioStream, out: av.container.OutputContainer, encoder: str,
                 length: Fraction | None = None, cut: bool = False) -> None:
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
        self.cut = cut
        self.length = length
        self._fed = Fraction(0)  # seconds of audio given to the resampler
        self._emitted = 0  # samples given to the encoder

    def convert(self, packet: av.Packet | None) -> list[av.Packet]:
        frames = self.src.decode(packet)
        out: list[av.Packet] = []
        for frame in frames:
            trimmed = self._trim(frame) if self.cut else frame
            if trimmed is not None:
                out += self._encode(trimmed)
        return out

    def _trim(self, frame: av.AudioFrame) -> av.AudioFrame | None:
        """The part of ``frame`` inside the span (``None`` when none is), timed in 1 / its rate."""
        if frame.pts is None or frame.time_base is None or not frame.sample_rate:
            return frame
        rate = frame.sample_rate
        first = rescale(frame.pts, frame.time_base, Fraction(1, rate))  # its first sample on the span's timeline
        keep_from = max(0, -first)
        last = frame.samples if self.length is None else ticks(self.length, Fraction(1, rate)) - first
        keep_to = min(frame.samples, last)
        if keep_to <= keep_from:
            return None
        if (keep_from, keep_to) != (0, frame.samples):
            frame = _samples(frame, keep_from, keep_to)
        frame.pts = first + keep_from
        frame.time_base = Fraction(1, rate)
        return frame

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
            frame.pts = rescale(frame.pts, frame.time_base, Fraction(1, self.rate))
            frame.time_base = Fraction(1, self.rate)
        if frame is not None and frame.sample_rate:
            self._fed += Fraction(frame.samples, frame.sample_rate)
        packets: list[av.Packet] = []
        for resampled in self._resampler.resample(frame):
            if frame is None:  # the resampler pads its last frame to the encoder's frame size: not played
                left = round(self._fed * self.rate) - self._emitted
                if left <= 0:
                    continue
                if resampled.samples > left:
                    resampled = _samples(resampled, 0, left)
            self._emitted += resampled.samples
            packets += self.stream.encode(resampled)
        return packets


def _samples(frame: av.AudioFrame, begin: int, end: int) -> av.AudioFrame:
    """Samples ``begin`` to ``end`` (excluded) of ``frame``: its format, layout and rate, and its pts and time
    base (the caller moves them when ``begin`` is not 0)."""
    data = frame.to_ndarray()
    per = 1 if frame.format.is_planar else len(frame.layout.channels)
    cut = av.AudioFrame.from_ndarray(data[:, begin * per:end * per].copy(), format=frame.format.name,
                                     layout=frame.layout.name)
    cut.sample_rate, cut.pts, cut.time_base = frame.sample_rate, frame.pts, frame.time_base
    return cut


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
        warn: receives one warning per dropped stream, lost timecode or chapters, and muxing failure.
        plan: the plan to follow (the run's, made by :func:`plan_streams` for ``info`` and this container).
        strict: raise :class:`StreamError` (before opening the source) when a stream would be
            converted or dropped, or the timecode or chapters lost.
        label: the output's name in messages.
    """

    def __init__(
        self,
        info: Any,
        out: av.container.OutputContainer,
        warn: WarningCallback,
        *,
        plan: StreamPlan,
        strict: bool = False,
        label: str | None = None,
    ) -> None:
        self._warn = warn
        self._out = out
        self.plan = plan
        if strict:
            plan.check_strict(label or Path(str(out.name)).name)
        self._in = av.open(str(info.path), "r")
        self._map: dict[int, av.stream.Stream] = {}
        self._converters: dict[int, _AudioConverter | _SubtitleConverter] = {}
        self._pending: av.Packet | None = None
        self._failed = False
        self._dropping: set[int] = set()
        self._kinds: dict[int, str] = {}
        # copied audio whose short last packet becomes DiscardPadding: each stream's latest packet is held
        # back until the next one comes (then it was not the last) or the stream ends (then it is marked)
        self._end_trimmed: set[int] = set()
        self._held: dict[int, av.Packet] = {}
        # --start/--end: packets inside the span only, moved back so the span starts at 0
        span = getattr(info, "source_span", None)
        self._span_start: Fraction = span[0] if span else Fraction(0)
        self._span_end: Fraction | None = span[1] if span else None
        self._spanned = span is not None
        try:
            carried = [a for a in plan.actions if a.action in ("copy", "convert") and a.kind != "attachment"]
            for stream in self._in.streams:
                if stream.index not in {a.index for a in carried}:
                    stream.discard = av.stream.Discard.all
            sources = [self._in.streams[a.index] for a in carried]
            if sources and self._span_start > 0:
                # from a little earlier: audio cut at --start decodes the packets before it, and a subtitle
                # cue that is still on screen at --start began before it
                back = max((CUE_LOOKBACK if a.kind == "subtitle" else
                            AUDIO_PREROLL if a.action == "convert" else Fraction(0)) for a in carried)
                self._in.seek(int(max(Fraction(0), self._span_start - back) * 1_000_000), backward=True)
            packets: Iterator[av.Packet] = iter(self._in.demux(*sources)) if sources else iter(())
            primed = [a.index for a in carried if a.kind == "audio" and a.action == "copy"]
            if out.format.name not in _CODEC_DELAY_FORMATS or self._span_start > 0:
                primed = []
            self._packets, skips = _first_skips(packets, primed)
            for action in plan.actions:
                self._add(action, skips.get(action.index, 0))
            self._add_timecode_and_chapters()
        except BaseException:
            self._in.close()
            raise

    def _add(self, action: StreamAction, priming: int = 0) -> None:
        stream = self._in.streams[action.index]
        if action.action == "drop":
            self._warn(f"skipped {action.kind} stream #{action.index} ({action.codec}): {action.reason}")
            return
        if action.action == "keep":  # a timecode track: the output's timecode tag (see _add_timecode_and_chapters)
            return
        if action.kind == "attachment":
            carry_tags(stream, self._out.add_stream_from_template(stream))
            return  # written with the header, no packets
        self._kinds[action.index] = action.kind
        if action.action == "copy":
            if action.kind == "audio" and self._out.format.name in _CODEC_DELAY_FORMATS:
                self._keep_priming(stream, priming)
            target = self._out.add_stream_from_template(stream)
        else:
            assert action.encoder is not None
            converter: _AudioConverter | _SubtitleConverter
            if action.kind == "audio":
                assert isinstance(stream, av.AudioStream)
                length = None if self._span_end is None else self._span_end - self._span_start
                converter = _AudioConverter(stream, self._out, action.encoder, length, cut=self._spanned)
            else:
                converter = _SubtitleConverter(cast(SubtitleStream, stream), self._out, action.encoder)
            self._converters[action.index] = converter
            target = converter.stream
        carry_tags(stream, target)
        self._map[action.index] = target

    def _keep_priming(self, stream: av.stream.Stream, skip: int) -> None:
        """Audio copied into Matroska keeps its priming as ``ffmpeg -c copy`` does: the samples the source
        marks to skip at its start (MP4's edit list: AAC's 1024) become the stream's CodecDelay, so its first
        packet keeps its negative time, the video stays at 0 and players skip the priming; a short last
        packet (MP4's trimmed end) becomes DiscardPadding, where the source's time base counts single
        samples (Matroska's millisecond does not: its packets keep the padding they have)."""
        if _counts_samples(stream.time_base, stream.codec_context):
            self._end_trimmed.add(stream.index)
        if skip and not set_initial_padding(stream, skip):
            self._warn(f"audio stream #{stream.index}: its {skip} priming samples are played (this PyAV "
                       "cannot set the codec delay); every stream is shifted by the same amount")

    def _add_timecode_and_chapters(self) -> None:
        """The planned start timecode on the output's video stream (MOV/MP4 make a tmcd track of it) and the
        planned chapters, before the header is written; a warning each for a timecode or chapters lost."""
        for line in self.plan.lost:
            self._warn(line)
        video = next(iter(self._out.streams.video), None)
        if self.plan.timecode is not None and video is not None:
            video.metadata["timecode"] = self.plan.timecode
        if self.plan.chapters and hasattr(self._out, "set_chapters"):
            micro = Fraction(1, 1_000_000)
            self._out.set_chapters([
                {"id": ident or k + 1, "start": ticks(a, micro), "end": ticks(b, micro), "time_base": micro,
                 "metadata": dict(tags)}
                for k, (a, b, ident, tags) in enumerate(self.plan.chapters)])

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
                    self._release_held(mark=False)  # not the streams' ends: left as they are
                    return
                if packet is None:
                    if limit is None:
                        self._release_held(mark=True)
                        self._flush()
                    return
            if packet.size == 0:  # demuxer flush marker
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            if fresh and ts is not None and self._spanned:
                ts = self._to_span(packet, ts)
                if ts is None:
                    continue  # outside the span (read on, so the other streams' packets are still seen)
            if limit is not None and ts is not None and ts * packet.time_base > limit:
                self._pending = packet
                return
            index = packet.stream_index
            converter = self._converters.get(index)
            if converter is not None:
                try:
                    self._out.mux(self._ends_marked(converter, converter.convert(packet)))
                except (av.error.FFmpegError, ValueError) as e:  # e.g. timestamps going backwards
                    self._note_refusal(converter.stream, ts, packet.time_base, e)
                continue
            if index in self._end_trimmed:  # the one before it was not the stream's last
                before = self._held.get(index)
                self._held[index] = packet
                if before is not None:
                    self._mux_copied(index, before)
                continue
            self._mux_copied(index, packet)

    def _mux_copied(self, index: int, packet: av.Packet) -> None:
        target = self._map[index]
        packet.stream = target
        try:
            self._out.mux(packet)
        except (av.error.FFmpegError, ValueError) as e:  # e.g. timestamps going backwards
            self._note_refusal(target, packet.pts if packet.pts is not None else packet.dts, packet.time_base, e)

    def _release_held(self, mark: bool) -> None:
        """Mux the packets held back; ``mark``: they are their streams' last (see :func:`_mark_short_end`)."""
        held, self._held = self._held, {}
        for index, packet in held.items():
            if mark:
                _mark_short_end(packet, self._in.streams[index].codec_context)
            self._mux_copied(index, packet)

    def _to_span(self, packet: av.Packet, ts: int) -> int | None:
        """Place a packet on the span's timeline (0 at ``--start``); ``None`` for one that is left out. A
        subtitle cue on screen at ``--start`` or ``--end`` is kept, cut there (its text is unchanged);
        audio cut exactly is decoded from a little before ``--start`` (its converter drops those samples)."""
        tb = packet.time_base
        start, end = self._span_start, self._span_end
        t = ts * tb
        kind = self._kinds.get(packet.stream_index)
        if kind == "subtitle" and packet.duration:
            finish = t + packet.duration * tb
            if finish <= start or (end is not None and t >= end):
                return None
            begin = max(t, start)
            if end is not None:
                finish = min(finish, end)
            ts = ticks(begin, tb)
            packet.pts = packet.dts = ts
            packet.duration = max(1, ticks(finish, tb) - ts)
        elif kind == "audio" and packet.stream_index in self._converters:
            if t + (packet.duration or 0) * tb <= start - AUDIO_PREROLL or (end is not None and t >= end):
                return None
        elif t < start or (end is not None and t >= end):
            return None
        shift = ticks(start, tb)
        packet.pts = None if packet.pts is None else packet.pts - shift
        packet.dts = None if packet.dts is None else packet.dts - shift
        return ts - shift

    def _ends_marked(self, converter: _AudioConverter | _SubtitleConverter, packets: list[av.Packet]
                     ) -> list[av.Packet]:
        """Re-encoded audio into Matroska: a short last packet's padding as DiscardPadding (see _mark_short_end;
        the encoder's packets are timed in single samples, and only its last is short)."""
        if isinstance(converter, _AudioConverter) and self._out.format.name in _CODEC_DELAY_FORMATS:
            ctx = converter.stream.codec_context
            for packet in packets:
                if _counts_samples(packet.time_base, ctx):
                    _mark_short_end(packet, ctx)
        return packets

    def _flush(self) -> None:
        for converter in self._converters.values():
            try:
                self._out.mux(self._ends_marked(converter, converter.flush()))
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


#: Packets read ahead at most to find the first packet of each stream whose priming is looked for.
_PEEK_PACKETS = 2000


def _first_skips(packets: Iterator[av.Packet], indices: list[int]) -> tuple[Iterator[av.Packet], dict[int, int]]:
    """The samples the first packet of each stream in ``indices`` says to skip (``skip_samples`` side data:
    an MP4 edit list's priming), read ahead from ``packets``; returns the packets again (those read ahead
    first; a read that failed fails again there, after them, so the copier says where it stopped)."""
    read: list[av.Packet] = []
    skips: dict[int, int] = {}
    waiting = set(indices)
    try:
        while waiting and len(read) < _PEEK_PACKETS:
            packet = next(packets, None)
            if packet is None:
                break
            read.append(packet)
            if packet.stream_index in waiting and packet.size:
                waiting.discard(packet.stream_index)
                if packet.has_sidedata("skip_samples"):
                    side = bytes(packet.get_sidedata("skip_samples"))
                    with contextlib.suppress(struct.error):  # too short to say: nothing to skip
                        skips[packet.stream_index] = int(struct.unpack_from("<I", side)[0])
    except (av.error.FFmpegError, ValueError) as e:  # a damaged start: the copier meets it after these
        return itertools.chain(read, _raising(e)), skips
    return itertools.chain(read, packets), skips


def _raising(error: Exception) -> Iterator[av.Packet]:
    raise error
    yield  # a generator


def _counts_samples(time_base: Fraction | None, ctx: Any) -> bool:
    """Whether ``time_base`` resolves single samples of the audio codec ``ctx`` (at most 1 / its rate): only
    then does a packet's duration say how many samples it holds."""
    rate = getattr(ctx, "sample_rate", 0) if ctx is not None else 0
    return bool(rate) and time_base is not None and time_base <= Fraction(1, rate)


def _mark_short_end(packet: av.Packet, ctx: Any) -> None:
    """An audio stream's last packet, when shorter than the codec's frame (MP4's trimmed last packet, an
    encoder's last), gets the samples to discard at its end as side data, which Matroska writes as
    DiscardPadding (as ``ffmpeg`` does). Only for a packet timed in single samples (see :func:`_counts_samples`)."""
    frame_size = getattr(ctx, "frame_size", 0) if ctx is not None else 0
    if not frame_size or not packet.duration or not _counts_samples(packet.time_base, ctx) \
            or packet.has_sidedata("skip_samples"):
        return
    samples = rescale(packet.duration, packet.time_base, Fraction(1, ctx.sample_rate))
    if 0 < samples < frame_size:
        from av.packet import PacketSideData, packet_sidedata_type_from_literal

        side = PacketSideData(packet_sidedata_type_from_literal("skip_samples"), 10)  # type: ignore[call-arg]
        memoryview(side)[:] = struct.pack("<IIBB", 0, frame_size - samples, 0, 0)
        packet.set_sidedata(side)


def carry_tags(source: av.stream.Stream, target: av.stream.Stream) -> None:
    """Language/title metadata and disposition flags (default, forced ...) of ``source`` onto ``target``."""
    for key in KEPT_METADATA:
        if key in source.metadata:
            target.metadata[key] = source.metadata[key]
    target.disposition = source.disposition
