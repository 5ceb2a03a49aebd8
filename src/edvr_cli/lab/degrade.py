"""Synthetic degradations: x4 bicubic down, blur, compression, and stills turned into moving clips.

Frames are torch tensors ``(t, 3, h, w)`` (or ``(3, h, w)``), RGB float in [0, 1], as the network takes
them. Randomness comes from an explicit ``torch.Generator`` so that data are reproducible from a seed.

A still photograph becomes a clip by a smooth random camera path (translation, a little rotation and
zoom) applied to the high-resolution photo with affine warps, before downsampling: the low-res frames
then carry genuinely different sub-pixel samples of the scene, which is what EDVR's alignment exploits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F

from edvr_cli.lab.imresize import imresize


def quantize(frames: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to 8-bit levels, as saving frames to PNG does."""
    return torch.round(frames.clamp(0, 1) * 255) / 255


def bicubic_down(frames: torch.Tensor, scale: int = 4, quantized: bool = True) -> torch.Tensor:
    """MATLAB-style bicubic downsampling by ``scale`` (the standard SR degradation); 8-bit by default."""
    low = imresize(frames, 1.0 / scale)
    return quantize(low) if quantized else low


def bicubic_up(frames: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """MATLAB-style bicubic upsampling (the usual 'bicubic' baseline of SR tables), clamped to [0, 1]."""
    return imresize(frames, float(scale)).clamp(0, 1)


def bilinear_up(frames: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """Bilinear upsampling as EDVR's skip connection does (``align_corners=False``), clamped to [0, 1]."""
    squeeze = frames.dim() == 3
    x = frames[None] if squeeze else frames
    shape = x.shape
    x = F.interpolate(x.reshape(-1, *shape[-3:]), scale_factor=scale, mode="bilinear", align_corners=False)
    x = x.reshape(*shape[:-2], *x.shape[-2:]).clamp(0, 1)
    return x[0] if squeeze else x


# ----------------------------------------------------------------------------------------------- blur


def gaussian_kernel(sigma: float, size: int | None = None) -> torch.Tensor:
    """Normalised isotropic gaussian ``(size, size)`` kernel; size defaults to ``2 * ceil(3 sigma) + 1``."""
    size = size or 2 * math.ceil(3 * sigma) + 1
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    k = g[:, None] * g[None, :]
    return k / k.sum()


def motion_kernel(length: float, angle: float, size: int | None = None) -> torch.Tensor:
    """Normalised linear motion-blur kernel: a line of ``length`` pixels at ``angle`` degrees."""
    size = size or 2 * math.ceil(length / 2) + 1
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    theta = math.radians(angle)
    along = xx * math.cos(theta) - yy * math.sin(theta)
    across = xx * math.sin(theta) + yy * math.cos(theta)
    # anti-aliased line: triangle profile across, box along
    k = (1 - across.abs()).clamp(min=0) * ((length / 2 + 0.5 - along.abs()).clamp(0, 1))
    return k / k.sum()


def blur(frames: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve every channel of ``(..., 3, h, w)`` frames with ``kernel`` (reflect padding)."""
    shape = frames.shape
    x = frames.reshape(-1, 1, *shape[-2:])
    kh, kw = kernel.shape
    x = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2), mode="reflect")
    x = F.conv2d(x, kernel.to(x)[None, None])
    return x.reshape(shape)


# ----------------------------------------------------------------------------------------- compression


def _to_uint8_hwc(frames: torch.Tensor) -> np.ndarray:
    return (frames.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).contiguous().numpy()


def _from_uint8_hwc(arrays) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255


def _codec_round_trip_colour(full_range: bool):
    """The colour the video stack uses for such small untagged streams: BT.601, JPEG or TV levels."""
    from edvr_cli.video.colour import RANGE_FULL, RANGE_LIMITED, SPC_BT470BG, SPC_SMPTE170M, ColorInfo

    return ColorInfo(SPC_BT470BG, RANGE_FULL) if full_range else ColorInfo(SPC_SMPTE170M, RANGE_LIMITED)


def jpeg_compress(frames: torch.Tensor, qscale: int = 8) -> torch.Tensor:
    """JPEG-compress each ``(t, 3, h, w)`` frame (4:2:0) with quantiser ``qscale`` (2 = best, 31 = worst).

    RGB <-> YUV go through the video stack's exact conversions (:mod:`edvr_cli.video.convert`), as
    ``edvr upscale`` decodes JPEG sequences; results are rounded to 8 bits like the pipeline's.
    """
    import av

    from edvr_cli.video.convert import frame_to_rgb, rgb_to_frame
    from edvr_cli.video.images import quantize8

    t, _, h, w = frames.shape
    colour = _codec_round_trip_colour(full_range=True)
    out = []
    for img in _to_uint8_hwc(frames):
        enc = av.CodecContext.create("mjpeg", "w")
        enc.width, enc.height, enc.pix_fmt = w, h, "yuvj420p"
        enc.time_base = Fraction(1, 25)
        enc.qmin = enc.qmax = int(qscale)
        packets = list(enc.encode(rgb_to_frame(img, "yuvj420p", colour))) + list(enc.encode(None))
        dec = av.CodecContext.create("mjpeg", "r")
        decoded = [f for p in packets for f in dec.decode(p)]
        out.append(quantize8(frame_to_rgb(decoded[0], colour)))
    return _from_uint8_hwc(out)


def video_compress(frames: torch.Tensor, crf: int = 28, preset: str = "medium") -> torch.Tensor:
    """Compress a ``(t, 3, h, w)`` clip with H.264 (libx264, yuv420p, ``crf``) and decode it again
    (untagged SD: BT.601 TV levels, converted by the video stack as ``edvr upscale`` converts them)."""
    import av

    from edvr_cli.video.convert import frame_to_rgb, rgb_to_frame
    from edvr_cli.video.images import quantize8

    t, _, h, w = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"H.264 4:2:0 needs even frame sizes, got {w}x{h}")
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.options = {"crf": str(crf), "preset": preset, "threads": "1"}
    colour = _codec_round_trip_colour(full_range=False)
    packets = []
    for i, img in enumerate(_to_uint8_hwc(frames)):
        frame = rgb_to_frame(img, "yuv420p", colour)
        frame.pts = i
        packets += list(enc.encode(frame))
    packets += list(enc.encode(None))
    dec = av.CodecContext.create("h264", "r")
    decoded = [f for p in packets for f in dec.decode(p)] + list(dec.decode(None))
    return _from_uint8_hwc([quantize8(frame_to_rgb(f, colour)) for f in decoded[:t]])


# ------------------------------------------------------------------------------------- camera motion


@dataclass(frozen=True)
class CameraPath:
    """Per-frame affine camera poses: translation (HR pixels), rotation (degrees), zoom factor.

    Each field is a ``(t,)`` float64 tensor. Frame ``i`` samples the photo at
    ``centre + zoom[i] * R(angle[i]) @ p + (dx[i], dy[i])`` for output pixel offset ``p``.
    """

    dx: torch.Tensor
    dy: torch.Tensor
    angle: torch.Tensor
    zoom: torch.Tensor

    def __len__(self) -> int:
        return len(self.dx)

    def extent(self, h: int, w: int) -> tuple[float, float]:
        """Largest (vertical, horizontal) distance from the centre that an ``h x w`` frame samples."""
        corners = torch.tensor([[-h / 2, -w / 2], [-h / 2, w / 2], [h / 2, -w / 2], [h / 2, w / 2]],
                               dtype=torch.float64)
        theta = torch.deg2rad(self.angle)
        cos, sin = torch.cos(theta), torch.sin(theta)
        py, px = corners[:, 0][None], corners[:, 1][None]
        y = self.zoom[:, None] * (sin[:, None] * px + cos[:, None] * py) + self.dy[:, None]
        x = self.zoom[:, None] * (cos[:, None] * px - sin[:, None] * py) + self.dx[:, None]
        return float(y.abs().max()), float(x.abs().max())


def random_camera_path(
    num_frames: int,
    generator: torch.Generator | None = None,
    max_speed: float = 6.0,
    max_rotation: float = 0.4,
    max_zoom: float = 0.004,
    jitter: float = 1.5,
) -> CameraPath:
    """A smooth random camera path over ``num_frames`` frames, centred on the middle frame.

    Args:
        num_frames: clip length.
        generator: source of randomness (reproducible paths).
        max_speed: largest drift in HR pixels per frame along each axis.
        max_rotation: largest rotation speed in degrees per frame.
        max_zoom: largest zoom speed (relative scale change per frame).
        jitter: amplitude in HR pixels of a slow random wobble added to the drift (hand-held feel).
    """

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1

    t = torch.arange(num_frames, dtype=torch.float64) - (num_frames - 1) / 2
    velocity = uniform(2) * max_speed
    accel = uniform(2) * max_speed / max(num_frames, 8)
    # wobble: two slow sinusoids per axis, periods of 8-40 frames
    periods = 8 + 32 * torch.rand(2, 2, generator=generator, dtype=torch.float64)
    phases = 2 * math.pi * torch.rand(2, 2, generator=generator, dtype=torch.float64)
    amps = jitter * torch.rand(2, 2, generator=generator, dtype=torch.float64)
    wobble = (amps[..., None] * torch.sin(2 * math.pi * t / periods[..., None] + phases[..., None])).sum(1)
    wobble = wobble - wobble[:, [num_frames // 2]]
    dx = velocity[0] * t + 0.5 * accel[0] * t**2 + wobble[0]
    dy = velocity[1] * t + 0.5 * accel[1] * t**2 + wobble[1]
    angle = uniform(1) * max_rotation * t
    zoom = torch.exp(uniform(1) * max_zoom * t)
    return CameraPath(dx, dy, angle, zoom)


def warp_frames(image: torch.Tensor, centre: tuple[float, float], size: tuple[int, int],
                path: CameraPath) -> torch.Tensor:
    """Render ``(t, 3, h, w)`` frames of a ``(3, H, W)`` photo seen along ``path`` (bicubic, reflect at edges).

    ``centre`` is the (y, x) pixel position of the frames' centre in the photo for the identity pose.
    """
    h, w = size
    _, big_h, big_w = image.shape
    py = torch.arange(h, dtype=torch.float64) - (h - 1) / 2
    px = torch.arange(w, dtype=torch.float64) - (w - 1) / 2
    py, px = torch.meshgrid(py, px, indexing="ij")
    theta = torch.deg2rad(path.angle)[:, None, None]
    zoom = path.zoom[:, None, None]
    x = centre[1] + zoom * (torch.cos(theta) * px - torch.sin(theta) * py) + path.dx[:, None, None]
    y = centre[0] + zoom * (torch.sin(theta) * px + torch.cos(theta) * py) + path.dy[:, None, None]
    # pixel centres at integer coordinates -> grid_sample's normalised coordinates (align_corners=False)
    grid = torch.stack([(2 * x + 1) / big_w - 1, (2 * y + 1) / big_h - 1], dim=-1).to(image.dtype)
    src = image[None].expand(len(path), -1, -1, -1)
    out = F.grid_sample(src, grid, mode="bicubic", padding_mode="reflection", align_corners=False)
    return out.clamp(0, 1)


def still_to_clip(
    image: torch.Tensor,
    num_frames: int,
    size: tuple[int, int],
    generator: torch.Generator | None = None,
    centre: tuple[float, float] | None = None,
    candidates: int = 1,
    **motion,
) -> torch.Tensor:
    """Turn a ``(3, H, W)`` still into ``(t, 3, h, w)`` HR frames of a smooth random camera move.

    Without ``centre`` one is drawn so that the whole path stays inside the photo where it can (it
    falls back to the photo's middle, with reflected edges, when the photo is too small for the path);
    with ``candidates > 1``, the most detailed of that many draws (mean absolute gradient) is kept, so
    that training sees fewer flat patches. ``motion`` is passed to :func:`random_camera_path`.
    """
    path = random_camera_path(num_frames, generator, **motion)
    if centre is None:
        _, big_h, big_w = image.shape
        ext_y, ext_x = path.extent(*size)

        def pick(extent: float, length: int) -> float:
            lo, hi = extent, length - 1 - extent
            if hi <= lo:
                return (length - 1) / 2
            return lo + float(torch.rand(1, generator=generator, dtype=torch.float64)) * (hi - lo)

        draws = [(pick(ext_y, big_h), pick(ext_x, big_w)) for _ in range(max(1, candidates))]
        centre = draws[0] if len(draws) == 1 else max(draws, key=lambda c: detail(image, c, size))
    return warp_frames(image, centre, size, path)


def detail(image: torch.Tensor, centre: tuple[float, float], size: tuple[int, int]) -> float:
    """Mean absolute gradient of the ``size`` window of a ``(3, H, W)`` image around ``centre``."""
    h, w = size
    y0 = min(max(0, round(centre[0] - h / 2)), max(0, image.shape[1] - h))
    x0 = min(max(0, round(centre[1] - w / 2)), max(0, image.shape[2] - w))
    crop = image[:, y0 : y0 + h, x0 : x0 + w].mean(0)
    return float((crop[1:] - crop[:-1]).abs().mean() + (crop[:, 1:] - crop[:, :-1]).abs().mean())


@dataclass(frozen=True)
class Degradation:
    """How ground-truth frames become model inputs.

    Args:
        scale: downsampling factor (4 for SR, 1 for deblurring).
        blur: ``None``, ``"gaussian"`` or ``"motion"``: applied to HR frames before downsampling.
        blur_strength: gaussian sigma, or motion length in pixels (the angle is random per clip).
        jpeg: JPEG quantiser (2-31) applied to the inputs, or ``None``.
        crf: H.264 CRF applied to the inputs as a clip, or ``None``.
    """

    scale: int = 4
    blur: str | None = None
    blur_strength: float = 1.5
    jpeg: int | None = None
    crf: int | None = None

    def apply(self, hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(t, 3, H, W)`` HR frames -> ``(t, 3, H/scale, W/scale)`` 8-bit inputs."""
        x = hr
        if self.blur == "gaussian":
            x = blur(x, gaussian_kernel(self.blur_strength))
        elif self.blur == "motion":
            angle = float(torch.rand(1, generator=generator)) * 180
            x = blur(x, motion_kernel(self.blur_strength, angle))
        elif self.blur is not None:
            raise ValueError(f"unknown blur {self.blur!r}: use 'gaussian' or 'motion'")
        x = bicubic_down(x, self.scale) if self.scale > 1 else quantize(x)
        if self.jpeg is not None:
            x = jpeg_compress(x, self.jpeg)
        if self.crf is not None:
            x = video_compress(x, self.crf)
        return x
