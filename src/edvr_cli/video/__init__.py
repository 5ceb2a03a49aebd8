"""Video input/output: stream frames in as RGB float, write them out with timing, colour and audio kept.

Public API::

    probe(path) -> VideoInfo                      # file or image folder; InputError if unusable
    FrameReader(path, info=None, on_warning=None) # context manager, iterates Frame; .warnings
    read_frames(path) -> Iterator[Frame]
    Frame(index, rgb: float32 (H, W, 3) in [0, 1], pts: int, time_base: Fraction)

    open_writer(path, info, width, height, *, codec=None, crf=None, preset=None, pix_fmt=None,
                copy_streams=True, on_warning=None) -> VideoWriter | ImageSequenceWriter
    writer.write(rgb: uint8 | uint16 (H, W, 3), pts=None, time_base=None); writer.warnings

    natural_sort_key(name), is_video_file(path), list_videos(folder, recursive=False),
    is_frame_folder_output(path)

Typical use (the output guard is :func:`edvr_cli.guard.output.guarded_output`)::

    info = probe(src)
    with guarded_output(dst, overwrite=overwrite, inputs=[src]) as tmp, FrameReader(src, info) as reader, \\
            open_writer(tmp, info, 4 * info.width, 4 * info.height) as writer:
        for frame in reader:
            writer.write(quantise(restore(frame.rgb)), frame.pts, frame.time_base)

Guarantees and rules:

* Streaming: one frame at a time on both sides; audio/subtitle packets are copied by a second
  demuxer interleaved with the video (up to the last written frame's time).
* Timing: the output video stream uses the source's time base and every frame's pts, so frame
  count and variable frame rate survive (containers with a fixed time base, e.g. Matroska's
  1 ms, round to it).
* Colour: see :mod:`edvr_cli.video.colour` for the matrix/range rule of untagged streams
  (BT.709 from 720 lines up, BT.601 below and for still images). The output is encoded with
  the same matrix and range and tagged as the source was (untagged stays untagged, as ffmpeg
  writes it, unless a reader of the output would assume other colours). >8-bit sources decode at
  full precision and stay >8-bit when the encoder allows.
* Rotation (display matrix) and sample aspect ratio (an explicit 1:1 too) are carried to the output
  stream; the start timecode (advanced to ``--start``) and the chapters (cut to the span) too.
* Image folders: natural order (``2.png`` before ``10.png``), 25 fps timing. Folder outputs get
  ``00000000.png ...``; 16-bit PNGs for uint16 frames.
* Broken input: damaged or truncated data ends the frames early with a warning; only inputs that
  cannot be opened at all (missing, not a video, no video stream) raise ``InputError``.

Known limits (FFmpeg/PyAV 18, reported as warnings where they apply):

* AAC priming copied from MP4 into Matroska becomes its CodecDelay (as ``ffmpeg -c copy`` does: the
  video stays at 0). That, and the pixel aspect ratio of codecs without one in their bitstream in
  Matroska, are fields PyAV has no setter for: :mod:`edvr_cli.video.avfields` sets them, after
  checking the structs; where it cannot, the loss is said before any work.
* Constant-rate containers (AVI, MPEG-PS) get ``1/fps`` timing; AVI input is timed by frame index.
* Containers without a display matrix (AVI, MPEG-TS) lose rotation. Horizontal/vertical flips in a
  display matrix are not carried (only the rotation).
* With ``--start`` / ``--end``, audio whose packets do not end there is re-encoded with its own codec
  (said in the plan), so it starts and ends within a sample of the span, as ``ffmpeg`` cuts it when
  it re-encodes.
"""

from __future__ import annotations

from edvr_cli.video.colour import ColorInfo
from edvr_cli.video.encoder import EncoderSettings, choose_encoder
from edvr_cli.video.paths import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    is_frame_folder_output,
    is_image_file,
    is_video_file,
    list_images,
    list_videos,
    natural_sort_key,
)
from edvr_cli.video.probe import DEFAULT_SEQUENCE_FPS, VideoInfo, probe
from edvr_cli.video.reader import Frame, FrameReader, read_frames
from edvr_cli.video.writer import ImageSequenceWriter, VideoWriter, open_writer

__all__ = [
    "DEFAULT_SEQUENCE_FPS",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "ColorInfo",
    "EncoderSettings",
    "Frame",
    "FrameReader",
    "ImageSequenceWriter",
    "VideoInfo",
    "VideoWriter",
    "choose_encoder",
    "is_frame_folder_output",
    "is_image_file",
    "is_video_file",
    "list_images",
    "list_videos",
    "natural_sort_key",
    "open_writer",
    "probe",
    "read_frames",
]
