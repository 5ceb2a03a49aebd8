"""What a restoration run can be told, and what it reports back (no torch needed to import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edvr_cli.jobs.segplan import SEGMENT_FRAMES

DEFAULT_MODELS = {"upscale": "EDVR_L_x4_SR_REDS", "deblur": "EDVR_L_deblur_REDS"}
TASK_SCALE = {"upscale": 4, "deblur": 1}


@dataclass
class RestoreSettings:
    """Everything a restoration run can be told; every field has a sensible default.

    Args:
        task: 'upscale' (x4 models) or 'deblur' (x1 models).
        model: registry name, imported name, or checkpoint path; None = the task's default.
        stage2: optional stage-2 model (name or path) run over windows of stage-1 outputs.
        padding: temporal edge padding; None = the model's published mode.
        tile: tile edge in input pixels; 0 = whole frame; None = automatic.
        tile_overlap: pixels shared by neighbouring tiles (input scale).
        device: 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'.
        precision: 'fp32', 'fp16' or 'bf16'; None = fp16 on CUDA, fp32 elsewhere.
        batch: centre frames per forward.
        codec, crf, preset, pix_fmt: encoder control (None = derived from the input).
        overwrite: replace existing outputs.
        hf_repo: Hugging Face mirror to download published weights from.
        quiet: no progress output.
        resume: make the output resumable (segments in a work folder beside it); None = when the
            input has more than :data:`~edvr_cli.jobs.workfolder.RESUME_MIN_FRAMES` frames (or an unknown
            count), or an unfinished run of this output is waiting.
        segment_frames: frames per segment of a resumable run.
        size: (width, height) to resample the output to (one side may be -1: kept in proportion).
        scale: output size as a multiple of the input size, 0 < scale <= the model's scale.
        dry_run: plan the run (streams, colour, encoder, tiles, segments) and write nothing.
        workers: segments made at once: local worker processes (None or 1: in this process), or Ray
            actors with ``cluster`` (None: one per GPU of the cluster, else one per CPU).
        devices: one device per worker (default: every visible GPU on CUDA, else the CPU).
        cluster: run the segments on Ray: ``ray://host:10001``, ``auto`` (this machine's cluster) or
            ``local`` (start one here).
        deinterlace: ``auto`` (bwdif when the input is flagged interlaced), ``on``, ``off``, or ``field``
            (one frame per field, the rate doubled).
        start, end: restore only this span (seconds or ``HH:MM:SS.mmm``); audio and subtitles are trimmed.
        strict_streams: refuse, before any work, to convert or drop any audio/subtitle stream.
        threads: CPU threads per worker (default: the cores divided among the workers). Results are
            identical for any number of workers when every worker has the same number of threads.
        shots: ``auto`` (find scene cuts and pad each window at a cut as if the shot were the whole
            clip), ``off`` (windows cross cuts), or the path of a file of cut times (one a line, seconds
            or ``HH:MM:SS.mmm``).
        strength: 0..1, the restored frame blended in linear light with the same-size bicubic upscale
            (the input itself for x1 models): 0 gives that baseline, 1 the model's output.
        provenance: record the edvr version, the models and the settings that change pixels in the output.
        report: write a fidelity report (JSON and HTML) of the run here.
    """

    task: str = "upscale"
    model: str | None = None
    stage2: str | None = None
    padding: str | None = None
    tile: int | None = None
    tile_overlap: int = 16
    device: str = "auto"
    precision: str | None = None
    batch: int | None = None
    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    overwrite: bool = False
    hf_repo: str | None = None
    quiet: bool = False
    resume: bool | None = None
    compile: bool = False
    channels_last: bool | None = None
    segment_frames: int = SEGMENT_FRAMES
    size: tuple[int, int] | None = None
    scale: float | None = None
    dry_run: bool = False
    workers: int | None = None
    devices: tuple[str, ...] | None = None
    cluster: str | None = None
    deinterlace: str = "auto"
    start: str | None = None
    end: str | None = None
    strict_streams: bool = False
    threads: int | None = None
    shots: str = "auto"
    strength: float = 1.0
    provenance: bool = True
    report: str | None = None


@dataclass
class RestoreResult:
    """What one restoration produced."""

    input: Path
    output: Path
    frames: int
    seconds: float
    warnings: list[str] = field(default_factory=list)
    encoder: str = ""
    streams: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0



@dataclass
class BatchItem:
    """The fate of one file of a batch."""

    input: Path
    output: Path
    status: str  # 'done', 'skipped', 'failed'
    message: str = ""
    frames: int = 0
    seconds: float = 0.0


