"""What every number of the report means, in words: one text for the JSON, the page and the README."""

from __future__ import annotations

from edvr_cli.report.degradation import Degradation
from edvr_cli.report.metrics import ENERGY_FLOOR, PSNR_CAP


def definitions(degradation: Degradation) -> dict[str, str]:
    """``{field: meaning}`` for the report's numbers, worded for this degradation."""
    x1 = degradation.kind == "identity"
    s = degradation.scale
    if x1:
        consistency = (
            "\"Change PSNR\" (dB): PSNR of the output against the input itself, all RGB channels, peak 255, mean over "
            f"frames ({PSNR_CAP:g} dB for identical frames). High = the output stayed close to the input; a "
            "deblurring model is meant to change the input, so this says how much it did, not how right it is.")
        baseline = "Not measured for x1 models: the baseline (the input itself) would score as identical."
        gain = "Not measured for x1 models (see bicubic_consistency_psnr)."
        detail_ref = "the input"
        flicker_ref = "the input"
    else:
        consistency = (
            f"Data-consistency PSNR (dB): the output brought back to the input's size ({degradation.description}) "
            "against the input, all RGB channels, peak 255, mean over frames "
            f"({PSNR_CAP:g} dB for identical frames). A restoration that fits its input re-degrades to it: high is "
            "good. It cannot see invented detail that re-degrades to the same input, and it is only as right as the "
            "degradation is the input's real one.")
        baseline = (
            f"The same measure for the MATLAB-bicubic x{s} upscale of the input (the usual baseline of SR tables), "
            "so the two numbers compare like for like.")
        gain = ("consistency_psnr - bicubic_consistency_psnr in dB: how much closer the output re-degrades to the "
                "input than bicubic does (positive: the model fits the input better than bicubic). On smooth content "
                "the bicubic round trip is almost the identity and scores near the input's own 8-bit rounding, so the "
                "gain says most on detailed shots.")
        detail_ref = f"the bicubic x{s} upscale of the input"
        flicker_ref = f"the bicubic x{s} upscale of the input"
    return {
        "consistency_psnr": consistency,
        "bicubic_consistency_psnr": baseline,
        "gain_db": gain,
        "detail_ratio": (
            "Mean absolute luma gradient (BT.709 luma, horizontal plus vertical neighbour differences) of the output "
            f"divided by that of {detail_ref}, summed over the frames: above 1 = more fine detail (or noise, or "
            "ringing) than the reference; it does not say whether the detail is true."),
        "flicker_ratio": (
            "Frame-difference energy (mean squared difference of consecutive frames, RGB, no motion compensation) of "
            f"the output divided by that of {flicker_ref}, pairs within a shot only, with {ENERGY_FLOOR:.3g} "
            "(half an 8-bit step, squared) added per pair to both so still frames compare as 1. 1.0 = the output "
            "changes from frame to frame as much as the input does; above 1 = temporal change added (flicker, "
            "shimmering detail); below 1 = smoother than the input. Unwarped: moving sharp detail raises it a "
            "little even without flicker, so compare shots and look for spikes."),
        "frame_pairs": "Consecutive frame pairs the flicker ratio is measured on (pairs across a cut are left out).",
        "worst_crops": (
            "Per shot, the blocks with the lowest local consistency_psnr (a square of the input's grid, shown at the "
            "output's size): one per place, at its worst frame; before = bicubic upscale of the input (the input "
            "for x1 models), after = the output. x, y, width, height are output pixels; psnr is the block's "
            "consistency PSNR, bicubic_psnr the baseline's on the same block."),
        "per_frame": ("Each frame's time (seconds from the input's first frame), consistency PSNR, bicubic baseline, "
                      "detail ratio and flicker ratio (null for the first frame of a shot)."),
    }
