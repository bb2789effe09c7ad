"""Mixture of Visual experts (MoV): frozen stock transformers encoders, one module per kind.

convnext.py   CLIP-ConvNeXt trunk (ConvNextModel): stage-4 map, head LayerNorm, mean token first
dinov2.py     DINOv2 (Dinov2Model): re-normalised input, final LayerNorm of CLS + patches
clip_vit.py   CLIP ViT (CLIPVisionModel): ln_post over all tokens, no projection
qformer.py    BLIP-2 vision tower + Q-Former: the query tokens (`get_qformer_features`)
mixture.py    the experts of a config's list; grid features fused by channel concatenation
"""

from .dinov2 import IMAGENET_MEAN, IMAGENET_STD, clip_to_imagenet_normalisation
from .mixture import KINDS, MixtureOfVisualExperts, VisualFeatures

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KINDS",
    "MixtureOfVisualExperts",
    "VisualFeatures",
    "clip_to_imagenet_normalisation",
]
