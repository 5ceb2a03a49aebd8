"""The EDVR network: one module per block (DCNv2, PCD alignment, TSA fusion, pre-deblur) and the full model."""

from edvr_cli.model.arch.dcn import (
    DCNv2Pack,
    deform_conv2d_pure,
    get_dcn_backend,
    set_dcn_backend,
    torchvision_ops_available,
)
from edvr_cli.model.arch.edvr import EDVR, EDVRConfig
from edvr_cli.model.arch.pcd import PCDAlignment
from edvr_cli.model.arch.predeblur import PredeblurModule
from edvr_cli.model.arch.tsa import TSAFusion

__all__ = [
    "EDVR",
    "DCNv2Pack",
    "EDVRConfig",
    "PCDAlignment",
    "PredeblurModule",
    "TSAFusion",
    "deform_conv2d_pure",
    "get_dcn_backend",
    "set_dcn_backend",
    "torchvision_ops_available",
]
