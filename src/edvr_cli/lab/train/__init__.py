"""Training EDVR networks: data from videos, image sequences or stills; the loop; model presets."""

from edvr_cli.lab.train.data import ClipSampler, Source, scan_sources, split_sources
from edvr_cli.lab.train.loop import PRESETS, TrainOptions, TrainResult, charbonnier_loss, learning_rate, train

__all__ = [
    "PRESETS", "TrainOptions", "TrainResult", "ClipSampler", "Source", "scan_sources", "split_sources",
    "charbonnier_loss", "learning_rate", "train",
]
