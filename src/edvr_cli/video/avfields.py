"""Two fields of FFmpeg's structs that ``ffmpeg`` sets and PyAV has no setter for, set through ctypes.

* ``AVStream.sample_aspect_ratio``: what Matroska/WebM (DisplayWidth/DisplayHeight) and QuickTime
  (``pasp``) write as the pixel aspect ratio. ``ffmpeg`` copies the encoder's ratio there; PyAV sets
  only the encoder's (``AVCodecContext.sample_aspect_ratio``), which reaches the file only through
  codecs that store it in their own bitstream (H.264, HEVC, MPEG-4 Part 2). Without this, FFV1, VP9,
  AV1, ProRes ... in Matroska lose a non-square (or an explicit square) pixel aspect ratio.
* ``AVCodecParameters.initial_padding``: an audio stream's priming samples (AAC's 1024). ``ffmpeg -c
  copy`` from MP4 into Matroska carries the MP4 edit list's priming as Matroska's CodecDelay, which
  lets the first packet stay at its negative time (-21 ms), the video at 0, and players skip the
  priming. PyAV copies the field from a template stream, so it is set on the input stream (the
  template) before the output stream is made from it.

Nothing is read at all unless PyAV, libavformat and libavcodec are of the major versions whose
layouts are written down here, on a Python with the GIL (a free-threaded build has a larger object
header). Then every access is checked against values PyAV reports for the same struct (the stream's
index, time base, disposition and the struct's class name; the audio parameters' codec, rate,
channels and frame size) before anything is written; where a check fails (another PyAV object layout,
another FFmpeg ABI) nothing is written and the caller is told (``False``), so it can say what is lost.
"""

from __future__ import annotations

import ctypes
import sysconfig
from fractions import Fraction
from functools import cache
from typing import Any

import av

#: PyAV majors whose ``Stream`` starts with ``AVStream *ptr`` after its vtable (av/stream.pxd, 12.0 to 18.x).
_KNOWN_PYAV = range(12, 19)
#: libavformat majors (FFmpeg 7, 8) with ``AVStream.av_class`` first and the offsets below; libavcodec
#: majors of the same FFmpeg (AVCodecParameters).
_KNOWN_LIBAVFORMAT = (61, 62)
_KNOWN_LIBAVCODEC = (61, 62)

_PTR = ctypes.sizeof(ctypes.c_void_p)
#: PyAV's ``Stream`` object: PyObject header (refcount, type), the Cython vtable, then ``AVStream *ptr``.
_STREAM_PTR_OFFSET = 3 * _PTR
#: AVStream (libavformat >= 60): av_class, index, id, codecpar, priv_data, time_base, start_time,
#: duration, nb_frames, disposition, discard, sample_aspect_ratio.
_ST_INDEX, _ST_CODECPAR, _ST_TIME_BASE, _ST_DISPOSITION, _ST_SAR = 8, 16, 32, 64, 72
#: AVCodecParameters: codec_type, codec_id ... sample_rate, block_align, frame_size, initial_padding.
_PAR_CODEC_TYPE, _PAR_SAMPLE_RATE = 0, 152
_AVMEDIA_TYPE_AUDIO = 1


def _int(address: int) -> int:
    return ctypes.c_int.from_address(address).value


def _pointer(address: int) -> int | None:
    return ctypes.c_void_p.from_address(address).value


def _major(version: object) -> int | None:
    try:
        return int(version[0]) if isinstance(version, tuple) else int(str(version).split(".")[0])
    except (ValueError, IndexError):
        return None


def _known_build() -> bool:
    """Whether this PyAV, FFmpeg and Python are ones whose layouts this module knows; else no memory is read."""
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return False
    libraries = getattr(av, "library_versions", {})
    return _major(getattr(av, "__version__", "")) in _KNOWN_PYAV \
        and _major(libraries.get("libavformat", ())) in _KNOWN_LIBAVFORMAT \
        and _major(libraries.get("libavcodec", ())) in _KNOWN_LIBAVCODEC


@cache
def _layout_supported() -> bool:
    """PyAV objects and FFmpeg structs as this module reads them: a known build (see :func:`_known_build`),
    checked once on a stream of a memory output, whose values are known."""
    if not _known_build():
        return False
    try:
        with av.open(_Sink(), "w", format="matroska") as out:
            stream = out.add_stream("ffv1", rate=25, width=16, height=16)
            stream.time_base = Fraction(1, 977)
            stream.disposition = av.stream.Disposition.forced
            stream.discard = av.stream.Discard.nonkey
            ptr = _checked_pointer(stream)
            # the fields either side of sample_aspect_ratio: discard, and avg_frame_rate after the metadata
            if ptr is None or _int(ptr + _ST_SAR - 4) != int(av.stream.Discard.nonkey) \
                    or (_int(ptr + _ST_SAR + 16), _int(ptr + _ST_SAR + 20)) != (25, 1):
                return False
            audio = out.add_stream("pcm_s16le", rate=44100)
            audio_ptr = _checked_pointer(audio)
            par = _pointer(audio_ptr + _ST_CODECPAR) if audio_ptr else None
            if not par:
                return False
            return _int(par + _PAR_CODEC_TYPE) == _AVMEDIA_TYPE_AUDIO and _int(par + _PAR_SAMPLE_RATE) == 44100 \
                and _int(par + _PAR_SAMPLE_RATE - 20) == 2  # ch_layout.nb_channels
    except Exception:  # noqa: BLE001 - any surprise means: not supported here
        return False


class _Sink:
    def write(self, data: bytes) -> int:
        return len(data)


def _checked_pointer(stream: Any) -> int | None:
    """The ``AVStream *`` of a PyAV stream, or ``None`` when the layout is not the one checked here (nothing is
    read on a build this module does not know)."""
    if not _known_build() or type(stream).__basicsize__ < _STREAM_PTR_OFFSET + _PTR:
        return None
    ptr = _pointer(id(stream) + _STREAM_PTR_OFFSET)
    known = {id(getattr(stream, name, None)) for name in ("container", "metadata", "codec_context", "index_entries")}
    if not ptr or ptr in known or ptr % _PTR:
        return None
    if _int(ptr + _ST_INDEX) != stream.index:
        return None
    klass = _pointer(ptr)
    if not klass or klass % _PTR or ctypes.c_char_p.from_address(klass).value != b"AVStream":
        return None
    time_base = stream.time_base
    if time_base is not None and (_int(ptr + _ST_TIME_BASE), _int(ptr + _ST_TIME_BASE + 4)) != (
            time_base.numerator, time_base.denominator):
        return None
    if _int(ptr + _ST_DISPOSITION) != int(stream.disposition):
        return None
    return ptr


def stream_sample_aspect_ratio_settable() -> bool:
    """Whether :func:`set_stream_sample_aspect_ratio` works with this PyAV and FFmpeg."""
    return _layout_supported()


def set_stream_sample_aspect_ratio(stream: Any, sar: Fraction) -> bool:
    """Set ``AVStream.sample_aspect_ratio`` of an output stream (before its header is written), as
    ``ffmpeg`` does; ``False`` when it cannot be done here (nothing is written then)."""
    if not _layout_supported():
        return False
    ptr = _checked_pointer(stream)
    if ptr is None:
        return False
    sar = Fraction(sar)
    ctypes.c_int.from_address(ptr + _ST_SAR).value = sar.numerator
    ctypes.c_int.from_address(ptr + _ST_SAR + 4).value = sar.denominator
    return True


def _audio_parameters(stream: Any) -> int | None:
    """The ``AVCodecParameters *`` of an audio stream, checked against PyAV's view of it."""
    if not _layout_supported():
        return None
    ptr = _checked_pointer(stream)
    ctx = stream.codec_context
    if ptr is None or ctx is None:
        return None
    par = _pointer(ptr + _ST_CODECPAR)
    if not par or par % _PTR or _int(par + _PAR_CODEC_TYPE) != _AVMEDIA_TYPE_AUDIO:
        return None
    if _int(par + _PAR_SAMPLE_RATE) != (ctx.sample_rate or 0):
        return None
    if ctx.frame_size and _int(par + _PAR_SAMPLE_RATE + 8) != ctx.frame_size:
        return None
    return par


def set_initial_padding(stream: Any, samples: int) -> bool:
    """Set an audio stream's ``initial_padding`` (the priming samples players skip); ``False`` when it
    cannot be done here. Set on a template stream before ``add_stream_from_template``."""
    par = _audio_parameters(stream)
    if par is None or samples < 0:
        return False
    ctypes.c_int.from_address(par + _PAR_SAMPLE_RATE + 12).value = int(samples)
    return True
