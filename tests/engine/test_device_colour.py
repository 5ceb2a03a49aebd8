"""Colour conversion on the model's device equals the numpy reference; the pipeline moves planes, not RGB."""

from __future__ import annotations

import itertools

import av
import numpy as np
import pytest
import torch

from edvr_cli import load_model
from edvr_cli.engine import colour as device_colour
from edvr_cli.engine.restorer import StreamRestorer
from edvr_cli.video import FrameReader, open_writer, probe
from edvr_cli.video.colour import rgb_to_yuv
from edvr_cli.video.convert import frame_to_rgb, plane_layout
from edvr_cli.video.planes import PlaneLayout, YUVFrame

from clips import make_clip
from conftest import GOLDEN

LAYOUTS = [(2, 2), (2, 1), (1, 1), (1, 2), (4, 1), (4, 4)]


def _oracle(rgb: np.ndarray, layout: PlaneLayout) -> tuple[np.ndarray, ...]:
    """The numpy reference on the frame the device path quantises first."""
    peak = 255 if layout.bits <= 8 else 65535
    q = (np.clip(rgb, 0, 1) * peak).round().astype(np.uint8 if layout.bits <= 8 else np.uint16)
    return rgb_to_yuv(q, bits=layout.bits, matrix=layout.matrix, full_range=layout.full_range,
                      sub_x=layout.sub_x, sub_y=layout.sub_y)


@pytest.mark.parametrize("bits,matrix,full", [(8, 1, False), (8, 5, True), (10, 9, False), (16, 6, True)])
@pytest.mark.parametrize("sub", LAYOUTS)
@pytest.mark.parametrize("size", [(36, 52), (37, 53)])  # odd sizes pad chroma by edge replication
def test_rgb_to_planes_equals_the_numpy_reference(bits, matrix, full, sub, size):
    rng = np.random.default_rng(bits + matrix)
    h, w = size
    rgb = rng.random((2, h, w, 3), dtype=np.float32) * 1.2 - 0.1  # out of range too: clamped
    batch = torch.from_numpy(rgb).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    layout = PlaneLayout(bits, *sub, matrix, full)
    for rows in (None, 4, 8):  # whole batch, and frame by frame in chunks of rows
        packed = device_colour.rgb_to_planes(batch, layout, rows).numpy()
        assert packed.shape == (2, device_colour.packed_size(layout, h, w))
        for i in range(2):
            got = device_colour.unpack(packed[i], layout, h, w)
            assert got.y.dtype == (np.uint8 if bits == 8 else np.uint16)
            for plane, ref in zip((got.y, got.u, got.v), _oracle(rgb[i], layout), strict=True):
                assert plane is not None and plane.shape == ref.shape
                assert np.array_equal(plane, ref), (rows, i)


@pytest.mark.parametrize("bits,matrix,full", [(8, 1, False), (8, 6, True), (10, 1, False), (12, 9, True)])
@pytest.mark.parametrize("sub", LAYOUTS)
def test_planes_to_rgb_equals_the_numpy_reference(bits, matrix, full, sub):
    rng = np.random.default_rng(bits * 7 + sub[0])
    layout = PlaneLayout(bits, *sub, matrix, full)
    dtype = np.uint8 if bits <= 8 else np.uint16
    for h, w in ((24, 40), (25, 39)):
        ch, cw = layout.chroma_size(h, w)
        y, u, v = (rng.integers(0, 1 << bits, shape).astype(dtype) for shape in ((h, w), (ch, cw), (ch, cw)))
        for frame in (YUVFrame(y, u, v, bits, matrix, full), YUVFrame(y, None, None, bits, matrix, full)):
            got = device_colour.frame_to_device(frame, torch.device("cpu")).permute(1, 2, 0).numpy()
            assert np.array_equal(got, frame.to_rgb())


def test_planes_halve_the_host_traffic():
    """8-bit 4:2:0: 1.5 bytes a pixel each way, against 12 (float RGB) in and 3 (uint8 RGB) out."""
    layout = PlaneLayout(8, 2, 2, 1, False)
    h, w = 2160, 3840
    assert device_colour.packed_size(layout, h, w) * layout.dtype.itemsize == h * w * 3 // 2
    ten_bit = PlaneLayout(10, 2, 2, 1, False)
    assert device_colour.packed_size(ten_bit, h, w) * ten_bit.dtype.itemsize == h * w * 3


def test_decoded_frames_are_planes_and_rgb_on_demand_is_the_reference(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=3)
    info = probe(src)
    with FrameReader(src, info) as reader:
        frames = list(reader)
    with av.open(str(src)) as container:
        decoded = list(container.decode(video=0))
    assert len(frames) == len(decoded) == 3
    for frame, vf in zip(frames, decoded, strict=True):
        assert isinstance(frame.image, YUVFrame) and frame.image.shape == (48, 64, 3)
        assert frame.image.u is not None and frame.image.u.shape == (24, 32)
        assert np.array_equal(frame.rgb, frame_to_rgb(vf, info.color))


def test_rgb_sources_stay_rgb(tmp_path):
    folder = tmp_path / "pngs"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        img = rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)
        av.VideoFrame.from_ndarray(img, format="rgb24").to_image().save(folder / f"{i}.png")
    with FrameReader(folder) as reader:
        frames = list(reader)
    assert all(isinstance(f.image, np.ndarray) and f.image.dtype == np.float32 for f in frames)


def test_writers_say_which_planes_they_take(tmp_path):
    src = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=2)
    info = probe(src)
    with open_writer(tmp_path / "out.mp4", info, 128, 96, copy_streams=False) as writer:
        layout = writer.plane_layout
        assert layout == PlaneLayout(8, 2, 2, info.color.matrix, info.color.full_range)
        wrong = YUVFrame(np.zeros((96, 128), np.uint16), np.zeros((48, 64), np.uint16),
                         np.zeros((48, 64), np.uint16), 10, layout.matrix, layout.full_range)
        with pytest.raises(ValueError, match="planes of 10 bits"):
            writer.write(wrong, 0)
    gif = open_writer(tmp_path / "out.gif", info, 128, 96, copy_streams=False)
    assert gif.plane_layout is None  # the palette is made from RGB
    with pytest.raises(ValueError, match="takes RGB"):
        gif.write(wrong, 0)
    gif.abort()
    assert plane_layout("nv12", info.color) is None  # swscale repacks it from RGB
    assert plane_layout("rgb24", info.color) is None
    assert plane_layout("yuv422p10le", info.color) == PlaneLayout(10, 2, 1, info.color.matrix, info.color.full_range)


@pytest.mark.parametrize("out_bits,bits,sub", [(8, 8, (2, 2)), (16, 16, (2, 1)), (8, 10, (2, 2)), (16, 10, (1, 1))])
def test_the_restorer_hands_out_the_reference_planes(out_bits, bits, sub):
    """Planes out of the restorer == the numpy reference applied to its RGB output (8-bit RGB for 8-bit
    sources, whatever the output depth, as before); thread count kept."""
    model = load_model(GOLDEN / "basicsr_sr_tsa.pth")
    rng = np.random.default_rng(3)
    y = rng.integers(16, 236, (5, 24, 32), dtype=np.uint8)
    c = rng.integers(16, 241, (5, 2, 12, 16), dtype=np.uint8)
    frames = [YUVFrame(y[i], c[i, 0], c[i, 1], 8, 1, False) for i in range(5)]
    layout = PlaneLayout(bits, *sub, 6, False)
    threads = torch.get_num_threads()
    rgb = list(StreamRestorer(model, batch=2, out_bits=out_bits).run(frames))
    planes = list(StreamRestorer(model, batch=2, out_bits=out_bits, out_layout=layout).run(frames))
    assert torch.get_num_threads() == threads
    assert len(planes) == len(rgb) == 5
    for got, ref_rgb in zip(planes, rgb, strict=True):
        assert isinstance(got, YUVFrame)
        ref = rgb_to_yuv(ref_rgb, bits=bits, matrix=6, full_range=False, sub_x=sub[0], sub_y=sub[1])
        for plane, want in zip((got.y, got.u, got.v), ref, strict=True):
            assert np.array_equal(plane, want)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_conversion_within_one_code_value_of_the_reference():
    rng = np.random.default_rng(5)
    rgb = rng.random((2, 64, 96, 3), dtype=np.float32)
    batch = torch.from_numpy(rgb).permute(0, 3, 1, 2).cuda()
    for bits, sub in itertools.product((8, 10), ((2, 2), (1, 1))):
        layout = PlaneLayout(bits, *sub, 1, False)
        packed = device_colour.rgb_to_planes(batch, layout).cpu().numpy()
        for i in range(2):
            got = device_colour.unpack(packed[i], layout, 64, 96)
            for plane, ref in zip((got.y, got.u, got.v), _oracle(rgb[i], layout), strict=True):
                assert np.abs(plane.astype(int) - ref.astype(int)).max() <= 1
        y = rng.integers(0, 1 << bits, (64, 96)).astype(np.uint8 if bits == 8 else np.uint16)
        ch, cw = layout.chroma_size(64, 96)
        u = rng.integers(0, 1 << bits, (ch, cw)).astype(y.dtype)
        frame = YUVFrame(y, u, u.copy(), bits, 1, False)
        got_rgb = device_colour.frame_to_device(frame, torch.device("cuda")).permute(1, 2, 0).cpu().numpy()
        assert np.abs(got_rgb - frame.to_rgb()).max() < 1e-5


@pytest.mark.parametrize("resume", [False, True])  # one pass, and segments (what --workers and Ray run)
def test_decoding_restoring_and_encoding_run_on_their_own_threads(tmp_path, monkeypatch, resume):
    import threading

    from edvr_cli.jobs.run import restore_video
    from edvr_cli.jobs.settings import RestoreSettings
    from edvr_cli.video.reader import FrameReader as Reader
    from edvr_cli.video.writer import VideoWriter

    seen: dict[str, set[str]] = {"decode": set(), "write": set(), "restore": set()}

    def spy(cls, name, key):
        original = getattr(cls, name)

        def wrapped(*args, **kwargs):
            seen[key].add(threading.current_thread().name)
            return original(*args, **kwargs)

        monkeypatch.setattr(cls, name, wrapped)

    spy(Reader, "_frame", "decode")
    spy(VideoWriter, "write", "write")
    spy(StreamRestorer, "_run_with_oom_retry", "restore")
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=9)
    settings = RestoreSettings(model=str(GOLDEN / "basicsr_sr_tsa.pth"), device="cpu", precision="fp32", tile=0,
                               quiet=True, resume=resume, segment_frames=4, codec="ffv1")
    assert restore_video(src, tmp_path / "out.mkv", settings).frames == 9
    main_thread = threading.main_thread().name
    assert seen["restore"] == {main_thread}
    assert seen["decode"] == {"edvr-decode"}
    assert seen["write"] == {"edvr-encode"}


def test_an_8_bit_source_into_a_12_bit_output_is_the_reference_of_its_8_bit_rgb(tmp_path):
    """The frames written as planes are those the RGB output (PNG frames) holds, converted by the reference."""
    from edvr_cli.jobs.run import restore_video
    from edvr_cli.jobs.settings import RestoreSettings
    from edvr_cli.video.convert import plane_array

    src = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=3)
    common = dict(model=str(GOLDEN / "basicsr_sr_tsa.pth"), device="cpu", precision="fp32", tile=0, quiet=True,
                  resume=False)
    restore_video(src, tmp_path / "frames", RestoreSettings(**common))
    restore_video(src, tmp_path / "out.mkv", RestoreSettings(codec="ffv1", pix_fmt="yuv444p12le", **common))
    info = probe(src)
    pngs = sorted((tmp_path / "frames").glob("*.png"))
    with av.open(str(tmp_path / "out.mkv")) as container:
        decoded = list(container.decode(video=0))
    assert len(pngs) == len(decoded) == 3
    for png, vf in zip(pngs, decoded, strict=True):
        assert vf.format.name == "yuv444p12le"
        with av.open(str(png)) as image:
            rgb = next(image.decode(video=0)).to_ndarray(format="rgb24")
        ref = rgb_to_yuv(rgb, bits=12, matrix=info.color.matrix, full_range=info.color.full_range, sub_x=1, sub_y=1)
        for plane, want in zip(vf.planes, ref, strict=True):
            assert np.array_equal(plane_array(plane, 12), want)
