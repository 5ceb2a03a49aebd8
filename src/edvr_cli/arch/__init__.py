"""The EDVR network: one module per block (DCNv2, PCD alignment, TSA fusion, pre-deblur) and the full model."""

from .dcn import DCNv2Pack, deform_conv2d_pure, get_dcn_backend, set_dcn_backend, torchvision_ops_available
from .edvr import EDVR, EDVRConfig
from .pcd import PCDAlignment
from .predeblur import PredeblurModule
from .tsa import TSAFusion

__all__ = [
    "EDVR", "EDVRConfig", "PCDAlignment", "TSAFusion", "PredeblurModule", "DCNv2Pack",
    "deform_conv2d_pure", "set_dcn_backend", "get_dcn_backend", "torchvision_ops_available",
]
