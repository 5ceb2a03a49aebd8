"""Encoder choice: codec, quality (CRF), preset and pixel format for an output container."""

from __future__ import annotations

import io
from collections.abc import Container
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import av
import av.error

from edvr_cli.errors import EDVRError
from edvr_cli.video.formats import Y4M_PIX_FMTS, choose_pix_fmt, describe_pix_fmt, encoder_pix_fmts

#: User-facing codec names (and input codec families) -> encoders, best first.
ENCODER_ALIASES: dict[str, tuple[str, ...]] = {
    "h264": ("libx264",),
    "avc": ("libx264",),
    "x264": ("libx264",),
    "hevc": ("libx265",),
    "h265": ("libx265",),
    "x265": ("libx265",),
    "vp9": ("libvpx-vp9",),
    "av1": ("libsvtav1", "libaom-av1", "librav1e"),
    "ffv1": ("ffv1",),
    "prores": ("prores_ks",),
    "prores_ks": ("prores_ks",),
    # MJPEG sources (capture cards, cameras) are intra-only footage meant for editing: MJPEG at
    # q 2 keeps that (every frame a key frame, same players, MOV/AVI/MKV) at visually lossless
    # quality, where FFV1 would be lossless but about 3x larger and unplayable in MOV/AVI tools.
    "mjpeg": ("mjpeg",),
    "vp8": ("libvpx",),
    "gif": ("gif",),
    # no "rawvideo": uncompressed sources (YUV4MPEG2, rawvideo in AVI/NUT/MKV) are not a family to keep;
    # they get the container's usual encoder, as an image folder does and as ffmpeg encodes a .y4m into
    # .mkv with libx264 (``--codec rawvideo`` still names the encoder)
}

#: Containers whose own video codec comes before the source's family (they hold little else).
CONTAINER_ENCODERS: dict[str, tuple[str, ...]] = {
    "gif": ("gif",),
    "yuv4mpegpipe": ("rawvideo",),
    "ogg": ("libvpx",),
    "ogv": ("libvpx",),
}

#: Tried in order when the preferred encoder is missing or the container cannot hold it.
FALLBACK_ENCODERS: tuple[str, ...] = ("libx264", "libvpx-vp9", "libsvtav1", "libaom-av1", "ffv1", "mpeg4")

#: "Visually lossless" defaults.
DEFAULT_CRF: dict[str, int] = {
    "libx264": 17, "libx265": 17, "libvpx-vp9": 18, "libvpx": 10, "libsvtav1": 20, "libaom-av1": 20,
}  # fmt: skip

#: MJPEG quantiser scale (``ffmpeg -q:v``; 2 is the finest commonly used).
MJPEG_QSCALE = 2
_FF_QP2LAMBDA = 118

#: FFmpeg's ProRes profile names (decoder side) -> prores_ks ``profile`` values.
PRORES_PROFILES: dict[str, str] = {
    "proxy": "proxy", "lt": "lt", "standard": "standard", "hq": "hq", "4444": "4444", "xq": "4444xq",
    "4444xq": "4444xq",
}  # fmt: skip

_PRESET_OPTION: dict[str, str] = {
    "libx264": "preset",
    "libx265": "preset",
    "libsvtav1": "preset",
    "libvpx-vp9": "cpu-used",
    "libaom-av1": "cpu-used",
}
_BASE_OPTIONS: dict[str, dict[str, str]] = {
    "libx265": {"x265-params": "log-level=error"},
    "libvpx-vp9": {"row-mt": "1", "cpu-used": "4", "b": "0"},
    "libaom-av1": {"row-mt": "1", "cpu-used": "6", "b": "0"},
    "libvpx": {"cpu-used": "4", "b": "10M", "auto-alt-ref": "0"},
    "mjpeg": {"flags": "+qscale", "global_quality": str(MJPEG_QSCALE * _FF_QP2LAMBDA)},
}

#: Muxers that store HEVC as ``hvc1`` (parameter sets in the sample description, what Apple players need).
HVC1_FORMATS = frozenset({"mp4", "mov", "ipod", "3gp", "3g2", "ismv", "psp"})


@dataclass(frozen=True)
class EncoderSettings:
    """What the video stream is encoded with.

    Args:
        codec: FFmpeg encoder name (``libx264``).
        pix_fmt: encoder input pixel format (``yuv420p10le``).
        crf: constant-quality value in use, ``None`` for encoders without one (ffv1 is lossless).
        preset: speed preset passed on, ``None`` for the encoder's default.
        options: the encoder's private options, as strings.
    """

    codec: str
    pix_fmt: str
    crf: int | None
    preset: str | None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def bit_depth(self) -> int:
        return describe_pix_fmt(self.pix_fmt).bit_depth

    @property
    def description(self) -> str:
        """One line: ``encoder: libx264 crf 17 preset slow, yuv420p``."""
        parts = [self.codec]
        if self.crf is not None:
            parts.append(f"crf {self.crf}")
        if self.codec == "prores_ks" and "profile" in self.options:
            parts.append(f"profile {self.options['profile']}")
        if self.codec == "mjpeg" and "global_quality" in self.options:
            parts.append(f"q {int(self.options['global_quality']) // _FF_QP2LAMBDA}")
        if self.codec in ("ffv1", "rawvideo"):
            parts.append("lossless")
        if self.codec == "gif":
            parts.append("palette per clip")
        if self.preset:
            parts.append(f"preset {self.preset}")
        return f"encoder: {' '.join(parts)}, {self.pix_fmt}"

    def __str__(self) -> str:
        return self.description


@cache
def encoder_exists(name: str) -> bool:
    try:
        return av.codec.Codec(name, "w").type == "video"
    except (av.codec.codec.UnknownCodecError, ValueError):
        return False


class MuxerCodecs(Container[str]):
    """The codecs a muxer can hold, for ``choose_encoder(container_codecs=...)`` and stream copy.

    FFmpeg's answer where the muxer keeps a codec table (MP4, Matroska, WebM, AVI ...). Muxers
    without one (MPEG-TS, MPEG-PS, NUT) answer "unknown"; for them only the codecs in
    :attr:`UNTABLED_SAFE` are assumed (H.264/HEVC video, the usual broadcast audio).
    """

    UNTABLED_SAFE = frozenset({"libx264", "libx265", "h264", "hevc", "aac", "mp3", "mp2", "ac3", "eac3", "opus"})

    def __init__(self, format_name: str) -> None:
        self.format_name = format_name
        with av.open(io.BytesIO(), "w", format=format_name) as out:
            self._listed = out.supported_codecs

    def listed(self, codec: str) -> bool | None:
        """True/False where FFmpeg's table decides, ``None`` where the muxer has no table."""
        if codec in self._listed:
            return True
        try:  # add_stream refuses only codecs the muxer's table rules out
            with av.open(io.BytesIO(), "w", format=self.format_name) as out:
                out.add_mux_stream(codec)
        except ValueError:
            return False
        return None

    def __contains__(self, codec: object) -> bool:
        if not isinstance(codec, str):
            return False
        verdict = self.listed(codec)
        return verdict if verdict is not None else codec in self.UNTABLED_SAFE


def output_format(path: str | Path) -> str:
    """The muxer FFmpeg picks for an output path's extension (``'a.mkv' -> 'matroska'``); ``-`` is YUV4MPEG2.

    Raises:
        EDVRError: no muxer writes this extension.
    """
    if str(path) == "-":
        return "yuv4mpegpipe"
    named = io.BytesIO()
    named.name = Path(path).name  # av.open guesses the muxer from the name, as for files
    try:
        with av.open(named, "w") as out:
            return out.format.name
    except (ValueError, av.error.FFmpegError) as e:
        raise EDVRError(f"cannot write '{Path(path).name}': no container for its extension ({e})") from None


def resolve_codec_name(name: str) -> tuple[str, ...]:
    """Encoders a user-facing name may mean (``'hevc' -> ('libx265',)``); raw encoder names pass through."""
    return ENCODER_ALIASES.get(name.lower(), (name,))


def choose_encoder(
    *,
    source_codec: str,
    bit_depth: int,
    chroma: str,
    width: int,
    height: int,
    container_codecs: Container[str],
    container_name: str,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    pix_fmt: str | None = None,
    source_profile: str | None = None,
) -> tuple[EncoderSettings, list[str]]:
    """Pick the encoder settings, returning them with warnings about substitutions.

    Default codec: the container's own where it has one (GIF -> gif, YUV4MPEG2 -> rawvideo, Ogg
    -> VP8), else the source's family where we have an encoder (h264 -> libx264, hevc -> libx265,
    vp9 -> libvpx-vp9, av1 -> SVT-AV1/libaom; intra and lossless families stay so: ffv1 -> ffv1,
    prores -> prores_ks of the same profile (``source_profile``), mjpeg -> mjpeg at q 2), else
    libx264 (uncompressed sources too: rawvideo is no family to keep); if the container cannot hold
    it, the first of :data:`FALLBACK_ENCODERS` that fits.
    Default pixel format: the source's bit depth and chroma layout, adjusted to what the encoder
    accepts (:func:`~edvr_cli.video.formats.choose_pix_fmt`).

    Raises:
        EDVRError: an explicit ``codec`` that does not exist here or does not fit the container,
            or an explicit ``pix_fmt`` the encoder refuses.
    """
    warnings: list[str] = []
    if codec:
        candidates = [c for c in resolve_codec_name(codec) if encoder_exists(c)]
        if not candidates:
            raise EDVRError(f"no encoder for codec {codec!r} in this FFmpeg build; try h264, hevc, vp9, av1 or ffv1")
        fitting = [c for c in candidates if c in container_codecs]
        if not fitting:
            raise EDVRError(
                f"the {container_name} container cannot hold {codec!r} video; pick another extension or codec"
            )
        name = fitting[0]
    else:
        own = [c for c in CONTAINER_ENCODERS.get(container_name, ()) if encoder_exists(c)]
        preferred = [c for c in ENCODER_ALIASES.get(source_codec, ()) if encoder_exists(c)]
        fitting = [c for c in [*own, *preferred, *FALLBACK_ENCODERS]
                   if encoder_exists(c) and (c in own or c in container_codecs)]
        if not fitting:
            raise EDVRError(f"no available video encoder fits the {container_name} container")
        name = fitting[0]
        if preferred and name not in preferred and name not in own:
            warnings.append(f"{container_name} cannot hold {preferred[0]} video; encoding with {name} instead")

    supported = encoder_pix_fmts(name)
    if name == "gif":
        supported = ["pal8"]  # frames reach it through the palette filters
    elif name == "rawvideo":
        supported = [f for f in Y4M_PIX_FMTS]
    elif name == "mjpeg" and supported is not None:
        supported = [f for f in supported if not f.startswith("yuvj")]  # range is a tag, not a format
    if pix_fmt:
        if supported is not None and pix_fmt not in supported:
            raise EDVRError(f"encoder {name} does not accept pixel format {pix_fmt!r}; it takes {', '.join(supported)}")
        chosen_fmt = pix_fmt
    else:
        odd = width % 2 == 1 or height % 2 == 1
        chosen_fmt = "pal8" if name == "gif" else choose_pix_fmt(supported, bit_depth, chroma, odd_size=odd)
        got = describe_pix_fmt(chosen_fmt) if name != "gif" else describe_pix_fmt("rgb24")
        if got.bit_depth < min(bit_depth, 10):  # 16-bit PNGs becoming 10-bit video is expected
            warnings.append(f"{name} cannot encode {bit_depth}-bit video; writing {got.bit_depth}-bit {chosen_fmt}")
        if odd and chroma != "444" and got.chroma == "444":
            warnings.append(f"odd frame size {width}x{height}: writing {chosen_fmt} (4:2:0 needs even sizes)")

    options = dict(_BASE_OPTIONS.get(name, {}))
    if name == "prores_ks":
        profile = PRORES_PROFILES.get((source_profile or "").lower().replace(" ", ""))
        if profile is None:  # not a ProRes source, or an unknown profile: HQ, or 4444 for 4:4:4
            profile = "4444" if describe_pix_fmt(chosen_fmt).chroma == "444" else "hq"
        if profile.startswith("4444") and describe_pix_fmt(chosen_fmt).chroma != "444":
            profile = "hq"
        options["profile"] = profile
    used_crf = crf if crf is not None else DEFAULT_CRF.get(name)
    if used_crf is not None and name in DEFAULT_CRF:
        options["crf"] = str(used_crf)
    elif crf is not None:
        warnings.append(f"crf is not used by {name}; ignoring crf={crf}")
        used_crf = None
    if preset is not None:
        if name in _PRESET_OPTION:
            options[_PRESET_OPTION[name]] = str(preset)
        else:
            warnings.append(f"{name} has no preset; ignoring preset={preset!r}")
            preset = None
    return EncoderSettings(name, chosen_fmt, used_crf, preset, options), warnings
